"""Test state built through the real services (never by writing rows directly)."""

import itertools
from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.models import User

from tenancy.db import tenant_scope
from tenancy.models import Role, Tenant
from tenancy.principal import Principal
from tenancy.services.credentials import api_key_create
from tenancy.services.tenants import membership_grant, tenant_create

_sequence = itertools.count(1)


def make_tenant(slug: str | None = None, *, modules: tuple[str, ...] | None = None) -> Tenant:
    """A tenant with every module licensed (or only `modules`)."""
    n = next(_sequence)
    slug = slug or f"tenant-{n}"
    return tenant_create(slug=slug, name=f"Tenant {slug}", modules=modules)


def make_user(
    tenant: Tenant | None = None,
    *roles: Role,
    password: str = "pw-for-tests-only",
    staff: bool = True,
) -> User:
    """A console user holding `roles` in `tenant`."""
    n = next(_sequence)
    user = User.objects.create_user(username=f"user{n}", password=password, is_staff=staff)
    if tenant is not None:
        with tenant_scope(tenant.id):
            for role in roles:
                membership_grant(actor=None, user=user, role=role)
    return user


@dataclass(frozen=True)
class KeyFixture:
    """An API key's token and id."""

    token: str
    id: UUID
    tenant_id: UUID

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.token}"}


def make_api_key(tenant: Tenant, role: Role = Role.INTEGRATOR) -> KeyFixture:
    """An API key for `tenant` with `role`."""
    with tenant_scope(tenant.id):
        issued = api_key_create(actor=None, name=f"key-{next(_sequence)}", role=role)
    return KeyFixture(token=issued.token, id=issued.api_key.id, tenant_id=tenant.id)


def principal_for(user: User, tenant: Tenant, *roles: Role) -> Principal:
    """The principal a console user acts as."""
    return Principal(tenant_id=tenant.id, roles=frozenset(str(r) for r in roles), user_id=user.pk)
