"""Reads of the outbox (row-level security confines them to the current tenant)."""

from typing import Any

from django.db.models import QuerySet

from outbox.models import OutboxEvent


def outbox_event_list(
    *, aggregate_type: str | None = None, aggregate_id: str | None = None
) -> QuerySet[OutboxEvent]:
    """The tenant's events in the order they were enqueued, optionally for one aggregate."""
    events = OutboxEvent.objects.order_by("id")
    if aggregate_type is not None:
        events = events.filter(aggregate_type=aggregate_type)
    if aggregate_id is not None:
        events = events.filter(aggregate_id=aggregate_id)
    return events


def outbox_latest_payload(*, event_type: str) -> dict[str, Any] | None:
    """The payload of the tenant's latest `event_type` event still in the outbox (published
    rows are pruned after OUTBOX_RETENTION_HOURS), or None."""
    payload = (
        OutboxEvent.objects.filter(event_type=event_type)
        .order_by("-id")
        .values_list("payload", flat=True)
        .first()
    )
    return dict(payload) if payload is not None else None
