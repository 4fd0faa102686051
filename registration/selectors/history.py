"""A patient's history: the audit trail of one record (changes and accesses), for the console's
patient page. Row-level security keeps it inside the caller's tenant."""

from uuid import UUID

from django.db.models import QuerySet

from tenancy.models import AuditEvent
from tenancy.selectors.audit import audit_event_list

HISTORY_LIMIT = 200


def patient_history(*, patient_id: UUID, limit: int = HISTORY_LIMIT) -> QuerySet[AuditEvent]:
    """The newest `limit` audit rows about one patient, newest first, with who acted."""
    events = audit_event_list(object_type="patient", object_id=str(patient_id))
    return events.select_related("actor_user", "actor_api_key")[:limit]
