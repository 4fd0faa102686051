"""Template context for the console header: the active tenant and the tenants to switch to."""

from django.http import HttpRequest

from tenancy.principal import Principal
from tenancy.selectors.access import tenants_by_id, user_tenant_roles


def active_tenant(request: HttpRequest) -> dict[str, object]:
    """Active tenant and switchable tenants of the signed-in user (empty for others)."""
    principal: Principal | None = getattr(request, "principal", None)
    if principal is None or principal.user_id is None:
        return {}
    tenants = tenants_by_id(tenant_ids=list(user_tenant_roles(user_id=principal.user_id)))
    active = next((t for t in tenants if t.id == principal.tenant_id), None)
    return {
        "active_tenant": active,
        "switchable_tenants": tenants,
        "active_roles": sorted(principal.roles),
    }
