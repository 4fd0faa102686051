"""Which tenants periodic MPI work runs for."""

from uuid import UUID

from tenancy.models import Tenant


def active_tenant_ids() -> list[UUID]:
    """Every active tenant (a system-wide read: tenants are not tenant-owned rows)."""
    return list(Tenant.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))
