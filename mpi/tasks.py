"""Celery tasks of the MPI: thin wrappers that run a service for the task's tenant."""

from typing import Any
from uuid import UUID

from celery import Task, shared_task
from django.conf import settings

from mpi.models import BatchJob
from mpi.selectors.tenants import active_tenant_ids
from mpi.services.batch import batch_job_run
from mpi.services.frequencies import name_frequencies_refresh
from mpi.services.training import match_model_train
from tenancy.db import current_tenant_id, tenant_scope
from tenancy.errors import TenantContextError
from tenancy.modules import CORE, is_declarable
from tenancy.selectors.entitlements import entitlement_cache, module_entitled
from tenancy.tasks import PlatformTask, TenantTask, enqueue_on_commit

MPI_MODULE = "mpi"


class ChunkedTenantTask(TenantTask):
    """A tenant task whose service commits in chunks, each in its own `tenant_scope`.

    Same contract as TenantTask (the tenant is an explicit `tenant_id` kwarg, validated), but
    the task body is not wrapped in one transaction: a long job must commit as it goes.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raw_tenant = kwargs.get("tenant_id")
        try:
            tenant_id = UUID(str(raw_tenant))
        except ValueError as exc:
            raise TenantContextError(f"Task {self.name} needs a valid tenant_id") from exc
        # The module check of TenantTask, in a short scope of its own (the body commits in
        # chunks, so it cannot run inside this one).
        with tenant_scope(tenant_id), entitlement_cache():
            licensed = is_declarable(self.required_module) and module_entitled(self.required_module)
        if not licensed:
            self._refuse(tenant_id, self.required_module)
        return Task.__call__(self, *args, **kwargs)


@shared_task(base=TenantTask, name="mpi.name_frequencies_refresh", required_module="mpi")
def name_frequencies_refresh_task(*, tenant_id: str) -> int:
    """Recount the tenant's name frequencies (term-frequency weights of online matching)."""
    return name_frequencies_refresh(actor=None)


@shared_task(
    base=ChunkedTenantTask,
    name="mpi.batch_dedupe",
    required_module="mpi",
    # A worker killed mid-job leaves the message unacknowledged: it is delivered again and
    # the job continues from its last committed chunk.
    acks_late=True,
    reject_on_worker_lost=True,
)
def batch_dedupe_task(*, tenant_id: str, job_id: str) -> str:
    """Run (or continue) a batch deduplication job; returns its final status."""
    return str(batch_job_run(tenant_id=UUID(tenant_id), job_id=UUID(job_id)).status)


def batch_job_enqueue(job: BatchJob) -> None:
    """Send the job's task MPI_BATCH_RUNNERS times once the current transaction commits.

    Each delivery is one runner: the worker pool runs them side by side, and they share the
    job's chunks (`batch_job_run`), so a job uses as many worker processes as runners.
    """
    for _ in range(max(1, settings.MPI_BATCH_RUNNERS)):
        enqueue_on_commit(batch_dedupe_task, tenant_id=current_tenant_id(), job_id=str(job.id))


@shared_task(base=TenantTask, name="mpi.match_model_train", required_module="mpi")
def match_model_train_task(*, tenant_id: str) -> int:
    """Train the tenant's matching model on its data; returns the new version."""
    return match_model_train(actor=None).version


# Per-tenant tasks the beat schedule may fan out (config/settings.py CELERY_BEAT_SCHEDULE).
FAN_OUT_TASKS = frozenset({"mpi.name_frequencies_refresh", "mpi.match_model_train"})


@shared_task(base=PlatformTask, name="mpi.fan_out", required_module=CORE)
def fan_out_task(*, task_name: str) -> int:
    """Enqueue `task_name` once per active tenant that licenses the MPI; how many were sent.

    Periodic work is scheduled once and fanned out here, so each tenant's run is its own task
    (own scope, own retries) and a new tenant needs no schedule entry. A tenant without the
    `mpi` module is skipped here rather than refused by its task (a refusal is a failure).
    """
    if task_name not in FAN_OUT_TASKS:
        raise ValueError(f"{task_name} is not a task to fan out")
    sent = 0
    for tenant_id in active_tenant_ids():
        with tenant_scope(tenant_id), entitlement_cache():
            licensed = module_entitled(MPI_MODULE)
        if licensed:
            fan_out_task.app.send_task(task_name, kwargs={"tenant_id": str(tenant_id)})
            sent += 1
    return sent
