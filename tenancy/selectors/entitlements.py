"""Which modules the current tenant has licensed right now.

`module_entitled` answers from ModuleEntitlement windows, compared with the database clock
(so a window ends the moment its `valid_until` passes, and tests move time by moving the
window). Inside `entitlement_cache()` (opened per request by TenantMiddleware and per task by
TenantTask) the answer is read once per tenant; every service that changes an entitlement
calls `entitlement_cache_clear()` so the rest of the same request sees the change.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import UUID

from django.db.models import Q
from django.db.models.functions import Now

from tenancy.db import current_tenant_id
from tenancy.errors import ModuleNotLicensedError
from tenancy.models import ModuleEntitlement
from tenancy.modules import ALWAYS_ON

_cache: ContextVar[dict[UUID, frozenset[str]] | None] = ContextVar(
    "entitlement_cache", default=None
)


@contextmanager
def entitlement_cache() -> Iterator[None]:
    """Remember the tenant's licensed modules for the block (one request, one task)."""
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def entitlement_cache_clear() -> None:
    """Forget what the running request or task read (after an entitlement changed)."""
    cache = _cache.get()
    if cache is not None:
        cache.clear()


def entitled_modules() -> frozenset[str]:
    """The modules whose window contains the database's current time, for the current tenant."""
    tenant_id = current_tenant_id()
    cache = _cache.get()
    if cache is not None and tenant_id in cache:
        return cache[tenant_id]
    modules = frozenset(
        ModuleEntitlement.objects.filter(tenant_id=tenant_id, valid_from__lte=Now())
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=Now()))
        .values_list("module", flat=True)
    )
    if cache is not None:
        cache[tenant_id] = modules
    return modules


def module_entitled(module: str) -> bool:
    """True when the current tenant may use `module` now (always for the always-on markers)."""
    return module in ALWAYS_ON or module in entitled_modules()


def require_module(module: str) -> None:
    """Raise ModuleNotLicensedError unless the current tenant may use `module` now."""
    if not module_entitled(module):
        raise ModuleNotLicensedError(module)
