"""Reads that happen before a tenant is known: resolving who a caller is and where.

They go through two SECURITY DEFINER functions (see migration 0002) that return only what
authentication needs, because the tables themselves are under row-level security.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connection

from tenancy.models import Tenant


@dataclass(frozen=True, slots=True)
class ApiKeyCredential:
    """What authentication needs to know about one API key."""

    id: UUID
    tenant_id: UUID
    secret_hash: str
    role: str
    revoked: bool
    last_used_at: datetime | None


def api_key_credential_get(*, prefix: str) -> ApiKeyCredential | None:
    """Find a key by its public prefix across tenants (the tenant is not known yet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, tenant_id, secret_hash, role, revoked, last_used_at "
            "FROM tenancy_api_key_credential(%s)",
            [prefix],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return ApiKeyCredential(
        id=row[0],
        tenant_id=row[1],
        secret_hash=row[2],
        role=row[3],
        revoked=row[4],
        last_used_at=row[5],
    )


def user_tenant_roles(*, user_id: int) -> dict[UUID, frozenset[str]]:
    """Every active tenant the user is a member of, with the roles held in each."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tenant_id, array_agg(role ORDER BY role) FROM tenancy_user_memberships(%s) "
            "GROUP BY tenant_id",
            [user_id],
        )
        rows = cursor.fetchall()
    return {tenant_id: frozenset(roles) for tenant_id, roles in rows}


def tenants_by_id(*, tenant_ids: list[UUID]) -> list[Tenant]:
    """Tenant names for the tenant switcher, ordered by name."""
    return list(Tenant.objects.filter(id__in=tenant_ids, is_active=True).order_by("name"))
