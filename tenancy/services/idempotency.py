"""Idempotency keys on creates: a retry after a lost response gets the first response again.

The caller checks for a finished earlier attempt (`idempotent_replay`) before any work, and
claims the key (`idempotent_request_claim`) as the first write of its own transaction. The
claim is an INSERT on a unique (tenant, owner, key) index, so of two concurrent attempts the
second waits for the first to commit and then replays it; if the first rolls back, the second
proceeds. Only successful creates are remembered: a refused request leaves no key behind.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tenancy.db import current_tenant_id, tenant_cursor
from tenancy.errors import IdempotencyKeyReusedError
from tenancy.models import IdempotentRequest
from tenancy.selectors.idempotency import idempotency_horizon, idempotent_request_find


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A caller's key for one operation on one request body."""

    owner: str
    key: str
    operation: str
    fingerprint: str

    @classmethod
    def for_request(cls, *, owner: str, key: str, operation: str, body: Any) -> "IdempotencyKey":
        """The key of `owner` for `operation` with this (JSON) body, canonicalised so that
        member order and whitespace do not make two equal requests differ."""
        canonical = json.dumps(
            [operation, body], sort_keys=True, separators=(",", ":"), default=str
        )
        return cls(
            owner=owner,
            key=key,
            operation=operation,
            fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        )


class IdempotentReplay(Exception):  # noqa: N818 - an outcome, not an error
    """A concurrent attempt with this key finished first: answer with what it created."""

    def __init__(self, resource_id: UUID) -> None:
        super().__init__("replay")
        self.resource_id = resource_id


def _matching(existing: IdempotentRequest, idempotency: IdempotencyKey) -> UUID:
    if (existing.operation, existing.fingerprint) != (
        idempotency.operation,
        idempotency.fingerprint,
    ):
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was first used with a different request; "
            "use a new key for a new request."
        )
    return existing.resource_id


def idempotent_replay(idempotency: IdempotencyKey) -> UUID | None:
    """The resource an earlier, committed attempt with this key created (None: no attempt).

    Raises IdempotencyKeyReusedError when the key first came with a different request.
    """
    existing = idempotent_request_find(owner=idempotency.owner, key=idempotency.key)
    return None if existing is None else _matching(existing, idempotency)


def idempotent_request_claim(idempotency: IdempotencyKey, *, resource_id: UUID) -> None:
    """Claim the key for the resource about to be created, inside the caller's transaction.

    Raises IdempotentReplay when a concurrent attempt with the same key committed first (the
    caller's transaction must roll back), IdempotencyKeyReusedError when that attempt carried a
    different request.
    """
    tenant_id = current_tenant_id()
    IdempotentRequest.objects.filter(
        owner=idempotency.owner, key=idempotency.key, created_at__lt=idempotency_horizon()
    ).delete()
    with tenant_cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tenancy_idempotentrequest
                (tenant_id, owner, key, operation, fingerprint, resource_id, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, now())
            ON CONFLICT (tenant_id, owner, key) DO NOTHING
            RETURNING id
            """,
            [
                tenant_id,
                idempotency.owner,
                idempotency.key,
                idempotency.operation,
                idempotency.fingerprint,
                resource_id,
            ],
        )
        claimed = cursor.fetchone() is not None
    if claimed:
        return
    existing = IdempotentRequest.objects.get(owner=idempotency.owner, key=idempotency.key)
    raise IdempotentReplay(_matching(existing, idempotency))


def idempotent_requests_prune() -> int:
    """Delete the current tenant's expired keys; how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=idempotency_horizon()).delete()
    return deleted
