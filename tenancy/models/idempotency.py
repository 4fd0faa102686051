"""Idempotency keys: a client's promise that a retried request is the same request."""

from django.db import models
from django.utils import timezone

from tenancy.models.base import TenantOwnedModel


class IdempotentRequest(TenantOwnedModel):
    """One completed create made under an `Idempotency-Key`, so a retry replays it.

    A key belongs to one caller (an API key or a user) in one tenant, and to the request body
    it first came with (`fingerprint`, a SHA-256 of the operation and the canonical body):
    the same key with another body is refused rather than replayed. No PHI is stored: the row
    holds the hash and the id of the resource the request created. Rows expire after
    `IDEMPOTENCY_KEY_TTL` and are pruned hourly.
    """

    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    resource_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "owner", "key"], name="tenancy_idempotent_request_key_unique"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="tenancy_idem_created_idx")]

    def __str__(self) -> str:
        return f"{self.operation} by {self.owner}"
