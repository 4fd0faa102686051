"""Managing a tenant's own placeholder values (extras to the built-in list)."""

from uuid import UUID

from django.db import IntegrityError, transaction

from mpi.models import PlaceholderField, PlaceholderValue
from mpi.selectors.placeholders import forget_placeholder_policy
from tenancy.db import current_tenant_id
from tenancy.errors import ConflictError, FieldError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

MAX_VALUE_LENGTH = 200


def placeholder_value_add(
    *, actor: Principal | None, field: PlaceholderField, value: str
) -> PlaceholderValue:
    """Declare `value` a placeholder of `field` for the current tenant (409 if already there).

    The audit row names the field, never the value (a value may be a real phone number).
    """
    value = value.strip()
    if not value or len(value) > MAX_VALUE_LENGTH:
        raise ValidationFailedError(
            "Invalid placeholder.",
            errors=[FieldError("value", "invalid", f"Give 1 to {MAX_VALUE_LENGTH} characters.")],
        )
    tenant_id = current_tenant_id()
    with transaction.atomic():
        row = PlaceholderValue(
            tenant_id=tenant_id,
            field=field,
            value=value,
            created_by=actor.label if actor else "system",
        )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError as exc:
            raise ConflictError("This placeholder is already declared.") from exc
        audit_record(
            actor=actor,
            action="mpi.placeholder_added",
            object_type="placeholder",
            object_id=str(row.id),
            details={"field": str(field)},
        )
        transaction.on_commit(lambda: forget_placeholder_policy(tenant_id))
    forget_placeholder_policy(tenant_id)
    return row


def placeholder_value_remove(*, actor: Principal | None, placeholder_id: UUID) -> None:
    """Stop treating a value as a placeholder in the current tenant."""
    tenant_id = current_tenant_id()
    with transaction.atomic():
        row = PlaceholderValue.objects.filter(id=placeholder_id).first()
        if row is None:
            raise NotFoundError("No such placeholder.")
        row.delete()
        audit_record(
            actor=actor,
            action="mpi.placeholder_removed",
            object_type="placeholder",
            object_id=str(placeholder_id),
            details={"field": row.field},
        )
        transaction.on_commit(lambda: forget_placeholder_policy(tenant_id))
    forget_placeholder_policy(tenant_id)
