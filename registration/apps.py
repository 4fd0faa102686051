"""App configuration for `registration`."""

from django.apps import AppConfig


class RegistrationConfig(AppConfig):
    """Registers the `registration` app."""

    name = "registration"
    default_auto_field = "django.db.models.BigAutoField"
