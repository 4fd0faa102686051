"""Celery wiring for tenant work: every task names its tenant explicitly."""

from typing import Any
from uuid import UUID

from celery import Task, shared_task
from django.db import transaction

from tenancy.db import tenant_scope
from tenancy.errors import TenantContextError
from tenancy.models import ApiKey, AuditEvent, Membership


class TenantTask(Task):  # type: ignore[type-arg]  # Celery's generic Task parameters
    """A task that runs inside `tenant_scope(tenant_id)`, taking the tenant as a kwarg.

    The tenant is never ambient state: a worker process serves many tenants, and the scope's
    transaction-local setting ends with each task.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raw_tenant = kwargs.get("tenant_id")
        if raw_tenant is None:
            raise TenantContextError(f"Task {self.name} needs a tenant_id keyword argument")
        try:
            tenant_id = UUID(str(raw_tenant))
        except ValueError as exc:
            raise TenantContextError(f"Task {self.name} got a malformed tenant_id") from exc
        with tenant_scope(tenant_id):
            return super().__call__(*args, **kwargs)


def enqueue_on_commit(task: Task, *, tenant_id: UUID, **kwargs: Any) -> None:  # type: ignore[type-arg]
    """Send `task` for `tenant_id` only once the current transaction commits."""

    def send() -> None:
        task.apply_async(kwargs={"tenant_id": str(tenant_id), **kwargs})

    transaction.on_commit(send)


@shared_task(base=TenantTask, name="tenancy.tenant_usage_report")
def tenant_usage_report(*, tenant_id: str) -> dict[str, int]:
    """Counts of the tenant's kernel rows, for usage reporting and operations."""
    return {
        "memberships": Membership.objects.count(),
        "api_keys": ApiKey.objects.filter(revoked_at__isnull=True).count(),
        "audit_events": AuditEvent.objects.count(),
    }
