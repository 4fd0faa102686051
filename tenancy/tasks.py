"""Celery wiring for tenant work: every task names its tenant explicitly, and its module.

Every task declares `required_module` as a decorator option
(`@shared_task(base=TenantTask, name=..., required_module="mpi")`, which Celery makes a class
attribute). A TenantTask refuses to start when its tenant has not licensed that module; tasks
that work across tenants (the outbox relay, the inbox) declare `tenancy.modules.CORE`.
"""

import logging
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from django.db import transaction

from tenancy.db import tenant_scope
from tenancy.errors import ModuleNotLicensedError, TenantContextError
from tenancy.models import ApiKey, AuditEvent, Membership, Tenant
from tenancy.modules import CORE, is_declarable
from tenancy.selectors.entitlements import entitlement_cache, module_entitled
from tenancy.services.audit import audit_record
from tenancy.services.audit_chain import audit_seal
from tenancy.services.idempotency import idempotent_requests_prune

logger = logging.getLogger(__name__)


class TenantTask(Task):  # type: ignore[type-arg]  # Celery's generic Task parameters
    """A task that runs inside `tenant_scope(tenant_id)`, taking the tenant as a kwarg.

    The tenant is never ambient state: a worker process serves many tenants, and the scope's
    transaction-local setting ends with each task. Before any work the task's
    `required_module` must be licensed to the tenant; otherwise the task fails with
    ModuleNotLicensedError, having done nothing but log and audit the refusal.
    """

    abstract = True
    required_module: str = ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raw_tenant = kwargs.get("tenant_id")
        if raw_tenant is None:
            raise TenantContextError(f"Task {self.name} needs a tenant_id keyword argument")
        try:
            tenant_id = UUID(str(raw_tenant))
        except ValueError as exc:
            raise TenantContextError(f"Task {self.name} got a malformed tenant_id") from exc
        module = self.required_module
        with tenant_scope(tenant_id), entitlement_cache():
            if is_declarable(module) and module_entitled(module):
                return super().__call__(*args, **kwargs)
        self._refuse(tenant_id, module)
        return None  # pragma: no cover - _refuse always raises

    def _refuse(self, tenant_id: UUID, module: str) -> None:
        """Log and audit (ids only, no arguments: they may name patients), then fail."""
        logger.warning(
            "task refused: module not licensed",
            extra={"task": self.name, "tenant_id": str(tenant_id), "required_module": module},
        )
        with tenant_scope(tenant_id):
            audit_record(
                actor=None,
                action="task.refused",
                object_type="task",
                object_id=str(self.name)[:64],
                details={"module": module or "(none declared)", "reason": "module-not-licensed"},
            )
        raise ModuleNotLicensedError(module or "(none declared)")


class PlatformTask(Task):  # type: ignore[type-arg]  # Celery's generic Task parameters
    """A task that works across tenants (outbox relay, inbox): no tenant scope of its own.

    Such tasks declare `required_module=CORE`; each tenant's work inside them is scoped and
    checked by the services they call.
    """

    abstract = True
    required_module: str = ""


def enqueue_on_commit(task: Task, *, tenant_id: UUID, **kwargs: Any) -> None:  # type: ignore[type-arg]
    """Send `task` for `tenant_id` only once the current transaction commits."""

    def send() -> None:
        task.apply_async(kwargs={"tenant_id": str(tenant_id), **kwargs})

    transaction.on_commit(send)


@shared_task(base=TenantTask, name="tenancy.tenant_usage_report", required_module=CORE)
def tenant_usage_report(*, tenant_id: str) -> dict[str, int]:
    """Counts of the tenant's kernel rows, for usage reporting and operations."""
    return {
        "memberships": Membership.objects.count(),
        "api_keys": ApiKey.objects.filter(revoked_at__isnull=True).count(),
        "audit_events": AuditEvent.objects.count(),
    }


@shared_task(base=PlatformTask, name="tenancy.audit_seal", required_module=CORE)
def audit_seal_task() -> int:
    """Extend every active tenant's audit hash chain (beat, every minute)."""
    sealed = 0
    for tenant_id in Tenant.objects.filter(is_active=True).values_list("id", flat=True):
        with tenant_scope(tenant_id):
            sealed += audit_seal()
    return sealed


@shared_task(base=PlatformTask, name="tenancy.idempotency_prune", required_module=CORE)
def idempotency_prune_task() -> int:
    """Forget every active tenant's expired Idempotency-Keys (beat, hourly)."""
    pruned = 0
    for tenant_id in Tenant.objects.filter(is_active=True).values_list("id", flat=True):
        with tenant_scope(tenant_id):
            pruned += idempotent_requests_prune()
    return pruned
