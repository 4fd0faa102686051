"""Creating tenants and giving people roles in them (platform and tenant-admin work)."""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenancy.db import current_tenant_id, tenant_scope
from tenancy.errors import FieldError, ValidationFailedError
from tenancy.models import Membership, ModuleEntitlement, Role, Tenant
from tenancy.modules import licensable_modules
from tenancy.principal import Principal
from tenancy.services.audit import audit_record


def tenant_create(*, slug: str, name: str, modules: tuple[str, ...] | None = None) -> Tenant:
    """Create a tenant with its initial module entitlements (a platform operation).

    `modules` defaults to every licensable module (tenancy.modules).
    """
    modules = tuple(licensable_modules()) if modules is None else modules
    tenant = Tenant(slug=slug, name=name)
    try:
        tenant.full_clean()
    except ValidationError as exc:
        raise ValidationFailedError(
            "The tenant is invalid.", errors=field_errors_from(exc)
        ) from exc
    with transaction.atomic():
        tenant.save()
        with tenant_scope(tenant.id):
            now = timezone.now()
            ModuleEntitlement.objects.bulk_create(
                ModuleEntitlement(tenant=tenant, module=module, valid_from=now)
                for module in modules
            )
            audit_record(
                actor=None,
                action="tenant.created",
                object_type="tenant",
                object_id=str(tenant.id),
                details={"modules": list(modules)},
            )
    return tenant


def membership_grant(*, actor: Principal | None, user: User, role: Role | str) -> Membership:
    """Give `user` a role in the current tenant (idempotent)."""
    if str(role) not in Role.values:
        raise ValidationFailedError(
            "Unknown role.", errors=[FieldError("role", "invalid_choice", "Unknown role.")]
        )
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            tenant_id=current_tenant_id(), user=user, role=str(role)
        )
        if created:
            audit_record(
                actor=actor,
                action="membership.granted",
                object_type="membership",
                object_id=str(membership.id),
                details={"role": str(role), "user_id": user.pk},
            )
    return membership


def field_errors_from(exc: ValidationError) -> list[FieldError]:
    """Turn Django's model validation errors into our field errors."""
    return [
        FieldError(field, "invalid", message)
        for field, messages in exc.message_dict.items()
        for message in messages
    ]
