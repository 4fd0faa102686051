"""App configuration for `tenancy`."""

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Registers the `tenancy` app."""

    name = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the OpenAPI extension of API-key authentication."""
        from tenancy.api import schema  # noqa: F401, PLC0415 - import registers the extension
