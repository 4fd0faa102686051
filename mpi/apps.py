"""App configuration for `mpi`."""

from django.apps import AppConfig


class MpiConfig(AppConfig):
    """Registers the `mpi` app."""

    name = "mpi"
    default_auto_field = "django.db.models.BigAutoField"
