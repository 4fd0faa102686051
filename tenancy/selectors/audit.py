"""Reads of the audit trail (RLS keeps them inside the caller's tenant)."""

from django.db.models import QuerySet

from tenancy.errors import NotFoundError
from tenancy.models import AuditEvent


def audit_event_list(
    *, object_type: str | None = None, object_id: str | None = None, action: str | None = None
) -> QuerySet[AuditEvent]:
    """Audit rows of the current tenant, newest first, optionally narrowed."""
    events = AuditEvent.objects.order_by("-id")
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if action:
        events = events.filter(action=action)
    return events


def audit_event_get(*, event_id: int) -> AuditEvent:
    """One audit row of the current tenant; another tenant's row is simply not found."""
    event = AuditEvent.objects.filter(id=event_id).first()
    if event is None:
        raise NotFoundError("No such audit event.")
    return event
