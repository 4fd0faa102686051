"""Licensing modules to a tenant by hand: tenant administrators in the console and platform
operators through `manage.py module_entitlement` (the licensing service's events and sync go
through outbox.services.entitlements)."""

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from tenancy.db import current_tenant_id
from tenancy.errors import FieldError, NotFoundError, ValidationFailedError
from tenancy.models import ModuleEntitlement
from tenancy.modules import licensable_modules
from tenancy.principal import Principal
from tenancy.selectors.entitlements import entitlement_cache_clear
from tenancy.services.audit import audit_record


def _window_details(entitlement: ModuleEntitlement, origin: str) -> dict[str, object]:
    return {
        "module": entitlement.module,
        "valid_from": entitlement.valid_from.isoformat(),
        "valid_until": entitlement.valid_until.isoformat() if entitlement.valid_until else None,
        "origin": origin,
    }


def module_entitlement_grant(
    *,
    actor: Principal | None,
    module: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    origin: str = "console",
) -> ModuleEntitlement:
    """License `module` to the current tenant from `valid_from` (default now) on, until
    `valid_until` (open-ended when None)."""
    errors = []
    if module not in licensable_modules():
        errors.append(FieldError("module", "invalid_choice", "Unknown module."))
    start = valid_from or timezone.now()
    if valid_until is not None and valid_until <= start:
        errors.append(FieldError("valid_until", "invalid", "The window must end after it starts."))
    if errors:
        raise ValidationFailedError("The entitlement is invalid.", errors=errors)
    with transaction.atomic():
        entitlement = ModuleEntitlement.objects.create(
            tenant_id=current_tenant_id(), module=module, valid_from=start, valid_until=valid_until
        )
        audit_record(
            actor=actor,
            action="entitlement.granted",
            object_type="module_entitlement",
            object_id=str(entitlement.id),
            details=_window_details(entitlement, origin),
        )
        entitlement_cache_clear()
    return entitlement


def module_entitlement_end(
    *,
    actor: Principal | None,
    entitlement_id: UUID,
    at: datetime | None = None,
    origin: str = "console",
) -> ModuleEntitlement:
    """End an entitlement window at `at` (default now); the module stops working then."""
    end = at or timezone.now()
    with transaction.atomic():
        entitlement = (
            ModuleEntitlement.objects.select_for_update().filter(id=entitlement_id).first()
        )
        if entitlement is None:
            raise NotFoundError("No such entitlement.")
        if end <= entitlement.valid_from:
            raise ValidationFailedError(
                "The window must end after it starts.",
                errors=[FieldError("valid_until", "invalid", "Must be after valid_from.")],
            )
        entitlement.valid_until = end
        entitlement.save(update_fields=["valid_until"])
        audit_record(
            actor=actor,
            action="entitlement.changed",
            object_type="module_entitlement",
            object_id=str(entitlement.id),
            details=_window_details(entitlement, origin),
        )
        entitlement_cache_clear()
    return entitlement
