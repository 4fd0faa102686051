"""The MPI app's inbox handlers: `civil-registry.death-notified` needs the matcher, so the MPI
app (above registration) takes that event over from the outbox's record-only handler."""

from datetime import date

from mpi.services.death_notifications import DeathNotification, death_notification_apply
from outbox.handlers import InboxContext, register_handler
from registration.models import DatePrecision
from registration.services.vital_status import DeathDate
from tenancy.services.audit import audit_record

DEATH_NOTIFIED = "civil-registry.death-notified"


def death_notified(context: InboxContext) -> None:
    """Parse the (schema-validated) notification, apply it, audit the outcome by ids only."""
    data = context.data
    person = data.get("person", {})
    birth_date = person.get("birth_date")
    applied = death_notification_apply(
        DeathNotification(
            inbox_message_id=context.inbox_message_id,
            notification_id=data["notification_id"],
            identifier_system=data["person_identifier"]["system"],
            identifier_value=data["person_identifier"]["value"],
            death=DeathDate(
                date.fromisoformat(data["date_of_death"]),
                data.get("date_of_death_precision", DatePrecision.DAY),
            ),
            certificate_number=data.get("certificate_number", ""),
            family=person.get("family", ""),
            given=tuple(person.get("given", ())),
            birth_date=date.fromisoformat(birth_date) if birth_date else None,
            gender=person.get("gender", "unknown"),
        )
    )
    details: dict[str, object] = {
        "notification_id": data["notification_id"],
        "message_id": context.message_id,
        "handled": str(applied.outcome),
    }
    if applied.patient_id is not None:
        details["patient_id"] = str(applied.patient_id)
    if applied.reason:
        details["review_reason"] = applied.reason
    audit_record(
        actor=None,
        action="civil_registry.death_notified",
        object_type="inbox_message",
        object_id=str(context.inbox_message_id),
        details=details,
    )


def register_inbox_handlers() -> None:
    """Take over the death notification from the outbox's record-only handler."""
    register_handler(DEATH_NOTIFIED, 1, death_notified, replace=True)
