"""App configuration for `tenancy`."""

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Registers the `tenancy` app."""

    name = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"
