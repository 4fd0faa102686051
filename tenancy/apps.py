"""App configuration for `tenancy`."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class TenancyConfig(AppConfig):
    """Registers the `tenancy` app."""

    name = "tenancy"
    default = True  # the module also holds the console's admin config
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the OpenAPI extension of API-key authentication; time SQL statements and
        Celery tasks for the metrics; expose the Celery queue lengths."""
        from django.db.backends.signals import connection_created  # noqa: PLC0415

        from tenancy.api import schema  # noqa: F401, PLC0415 - import registers the extension
        from tenancy.db import time_queries  # noqa: PLC0415 - apps not ready at import
        from tenancy.metrics import (  # noqa: PLC0415 - idem
            connect_celery_signals,
            register_collectors,
        )

        connection_created.connect(time_queries, dispatch_uid="regsvc.db.time_queries")
        connect_celery_signals()
        register_collectors()


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the console's site (whose own pages declare the core module)."""

    default = False  # TenancyConfig is the default config of this module
    default_site = "tenancy.admin_base.ConsoleAdminSite"
