"""Module entitlements as the licensing service states them (inbox and reconciliation)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from outbox.clients.licensing import EntitlementWindow
from outbox.errors import PoisonMessageError
from tenancy.db import current_tenant_id
from tenancy.models import ModuleEntitlement
from tenancy.principal import Principal
from tenancy.selectors.entitlements import entitlement_cache_clear
from tenancy.services.audit import audit_record


@dataclass(frozen=True, slots=True)
class EntitlementChange:
    """The entitlement after applying a statement, and whether anything changed."""

    entitlement: ModuleEntitlement
    changed: bool


def entitlement_apply(
    *,
    module: str,
    valid_from: datetime,
    valid_until: datetime | None,
    origin: str,
    actor: Principal | None = None,
) -> EntitlementChange:
    """Set the current tenant's window of `module` starting at `valid_from` (idempotent).

    Creates the window or moves its end; applying the same statement twice changes and audits
    nothing. `origin` says where the statement came from (an inbox message, a sync) for the
    audit trail.
    """
    if valid_from.tzinfo is None or (valid_until is not None and valid_until.tzinfo is None):
        raise PoisonMessageError("Entitlement times must carry a time zone.")
    if valid_until is not None and valid_until <= valid_from:
        raise PoisonMessageError("An entitlement must end after it starts.")
    tenant_id = current_tenant_id()
    with transaction.atomic():
        entitlement = (
            ModuleEntitlement.objects.select_for_update()
            .filter(tenant_id=tenant_id, module=module, valid_from=valid_from)
            .first()
        )
        if entitlement is None:
            entitlement = ModuleEntitlement.objects.create(
                tenant_id=tenant_id, module=module, valid_from=valid_from, valid_until=valid_until
            )
            action = "entitlement.granted"
        elif entitlement.valid_until != valid_until:
            entitlement.valid_until = valid_until
            entitlement.save(update_fields=["valid_until"])
            action = "entitlement.changed"
        else:
            return EntitlementChange(entitlement, changed=False)
        audit_record(
            actor=actor,
            action=action,
            object_type="module_entitlement",
            object_id=str(entitlement.id),
            details={
                "module": module,
                "valid_from": valid_from.isoformat(),
                "valid_until": valid_until.isoformat() if valid_until else None,
                "origin": origin,
            },
        )
        entitlement_cache_clear()
    return EntitlementChange(entitlement, changed=True)


def entitlements_reconcile(*, windows: Iterable[EntitlementWindow], origin: str) -> int:
    """Apply every window the licensing service reports for the current tenant; count changes.

    Windows it no longer reports are left alone: ending one takes an explicit statement (an
    event or a window with `valid_until`), never an absence.
    """
    with transaction.atomic():
        return sum(
            entitlement_apply(
                module=w.module, valid_from=w.valid_from, valid_until=w.valid_until, origin=origin
            ).changed
            for w in windows
        )
