"""Celery tasks of the MPI: thin wrappers that run a service inside the task's tenant scope."""

from celery import shared_task

from mpi.services.frequencies import name_frequencies_refresh
from tenancy.tasks import TenantTask


@shared_task(base=TenantTask, name="mpi.name_frequencies_refresh", required_module="mpi")
def name_frequencies_refresh_task(*, tenant_id: str) -> int:
    """Recount the tenant's name frequencies (term-frequency weights of online matching)."""
    return name_frequencies_refresh(actor=None)
