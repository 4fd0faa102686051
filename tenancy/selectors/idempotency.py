"""Reads of idempotency keys (a retried create finds what its first attempt made)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from tenancy.models import IdempotentRequest


def idempotency_horizon(now: datetime | None = None) -> datetime:
    """Keys made before this instant have expired."""
    return (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def idempotent_request_find(*, owner: str, key: str) -> IdempotentRequest | None:
    """The unexpired record of `owner`'s key in the current tenant, if any."""
    return IdempotentRequest.objects.filter(
        owner=owner, key=key, created_at__gte=idempotency_horizon()
    ).first()
