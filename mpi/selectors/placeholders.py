"""The tenant's placeholder policy: the built-in values plus the tenant's own.

Read on every match and batch chunk, so it is cached per tenant in the process for
`CACHE_SECONDS`; a change made in this process clears the cache at once (see
`mpi.services.placeholders`), other processes see it within that time.
"""

import time
from uuid import UUID

from django.db.models import QuerySet

from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.record import DEFAULT_PLACEHOLDER_POLICY
from mpi.models import PlaceholderField, PlaceholderValue
from tenancy.db import current_tenant_id

CACHE_SECONDS = 60.0
_cache: dict[UUID, tuple[float, PlaceholderPolicy]] = {}

_ATTRIBUTES = {
    PlaceholderField.NAME: "names",
    PlaceholderField.IDENTIFIER: "identifiers",
    PlaceholderField.PHONE: "phones",
    PlaceholderField.EMAIL: "emails",
    PlaceholderField.POSTAL_CODE: "postal_codes",
    PlaceholderField.ADDRESS: "addresses",
    PlaceholderField.BIRTH_DATE: "birth_dates",
}


def placeholder_values() -> QuerySet[PlaceholderValue]:
    """The current tenant's own placeholder values."""
    return PlaceholderValue.objects.order_by("field", "value")


def tenant_placeholder_policy() -> PlaceholderPolicy:
    """The built-in placeholders extended by the current tenant's (one query per minute)."""
    tenant_id = current_tenant_id()
    cached = _cache.get(tenant_id)
    now = time.monotonic()
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    extras: dict[str, list[str]] = {attribute: [] for attribute in _ATTRIBUTES.values()}
    for field_name, value in PlaceholderValue.objects.values_list("field", "value"):
        extras[_ATTRIBUTES[PlaceholderField(field_name)]].append(value)
    policy = (
        DEFAULT_PLACEHOLDER_POLICY.with_extras(**extras)
        if any(extras.values())
        else DEFAULT_PLACEHOLDER_POLICY
    )
    _cache[tenant_id] = (now, policy)
    return policy


def forget_placeholder_policy(tenant_id: UUID) -> None:
    """Drop the cached policy of a tenant (after its placeholders changed)."""
    _cache.pop(tenant_id, None)
