"""App configuration for `outbox`."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """Registers the `outbox` app, its inbox handlers and its Prometheus collector."""

    name = "outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire what must exist in every process: handlers (by import) and the collector."""
        from outbox.handlers import load_default_handlers  # noqa: PLC0415 - apps not ready at import
        from outbox.metrics import register_collector  # noqa: PLC0415 - idem

        load_default_handlers()
        register_collector()
