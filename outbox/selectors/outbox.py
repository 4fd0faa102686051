"""Reads of the outbox (row-level security confines them to the current tenant)."""

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
