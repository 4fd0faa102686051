"""`civil-registry.death-notified`: a registered death, recorded until vital status exists.

Until the vital-status feature registers its own handler (replace=True) to update the patient,
this one only records the notification: the message has been validated against its schema, is
kept in the tenant's inbox (the identifier it carries is PHI and never leaves that row), and an
audit row names it by id.
"""

from outbox.handlers import InboxContext, inbox_handler
from tenancy.services.audit import audit_record


@inbox_handler("civil-registry.death-notified", 1)
def death_notified(context: InboxContext) -> None:
    """Audit the receipt of the notification (ids only); the inbox row is the record."""
    audit_record(
        actor=None,
        action="civil_registry.death_notified",
        object_type="inbox_message",
        object_id=str(context.inbox_message_id),
        details={
            "notification_id": context.data["notification_id"],
            "message_id": context.message_id,
            "handled": "recorded",
        },
    )
