"""Who the members of the current tenant are (RLS keeps memberships inside it)."""

from tenancy.models import Membership


def tenant_member_names() -> dict[int, str]:
    """User id -> username of every member of the current tenant, by username."""
    rows = (
        Membership.objects.select_related("user")
        .order_by("user__username")
        .values_list("user_id", "user__username")
        .distinct()
    )
    return {int(user_id): str(username) for user_id, username in rows}


def tenant_member_exists(*, user_id: int) -> bool:
    """Whether the user holds any role in the current tenant (another tenant's user: False)."""
    return Membership.objects.filter(user_id=user_id).exists()
