"""Reads of the audit trail (RLS keeps them inside the caller's tenant)."""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import QuerySet

from tenancy.errors import NotFoundError
from tenancy.models import AuditEvent, AuditSeal

CSV_COLUMNS = (
    "id",
    "occurred_at",
    "action",
    "object_type",
    "object_id",
    "actor_user_id",
    "actor_api_key_id",
    "request_id",
    "details",
)
CSV_CHUNK = 2000


def audit_event_list(
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    actor_user_id: int | None = None,
    occurred_from: datetime | None = None,
    occurred_until: datetime | None = None,
    break_glass: bool | None = None,
) -> QuerySet[AuditEvent]:
    """Audit rows of the current tenant, newest first, optionally narrowed.

    `break_glass=True` keeps rows written under or about a break-glass grant (their details
    carry `"break_glass": true`); `occurred_until` is exclusive.
    """
    events = AuditEvent.objects.order_by("-id")
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if action:
        events = events.filter(action=action)
    if actor_user_id is not None:
        events = events.filter(actor_user_id=actor_user_id)
    if occurred_from is not None:
        events = events.filter(occurred_at__gte=occurred_from)
    if occurred_until is not None:
        events = events.filter(occurred_at__lt=occurred_until)
    if break_glass is True:
        events = events.filter(details__break_glass=True)
    elif break_glass is False:
        events = events.exclude(details__break_glass=True)
    return events


def audit_event_get(*, event_id: int) -> AuditEvent:
    """One audit row of the current tenant; another tenant's row is simply not found."""
    event = AuditEvent.objects.filter(id=event_id).first()
    if event is None:
        raise NotFoundError("No such audit event.")
    return event


def _csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def audit_events_csv(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The rows as CSV lines, header first, read in chunks (a server-side cursor).

    Only what the audit rows hold (ids, action names, field names): no patient data is joined
    in. Iterate inside the tenant's scope.
    """
    yield _csv_line(CSV_COLUMNS)
    for row in events.values_list(*CSV_COLUMNS).iterator(chunk_size=CSV_CHUNK):
        *fields, details = row
        yield _csv_line(
            [
                *(v.isoformat() if isinstance(v, datetime) else v for v in fields),
                json.dumps(details, sort_keys=True),
            ]
        )


def audit_chain_head() -> AuditSeal | None:
    """The current tenant's latest audit seal (the head of its hash chain), if any."""
    return AuditSeal.objects.order_by("-seq").first()
