"""App configuration for `outbox`."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """Registers the `outbox` app."""

    name = "outbox"
    default_auto_field = "django.db.models.BigAutoField"
