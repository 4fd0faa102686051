"""`licensing.entitlement-changed`: the licensing service states a tenant's module window."""

from datetime import datetime

from outbox.handlers import InboxContext, inbox_handler
from outbox.services.entitlements import entitlement_apply


@inbox_handler("licensing.entitlement-changed", 1)
def entitlement_changed(context: InboxContext) -> None:
    """Upsert the tenant's ModuleEntitlement window the message states (idempotent)."""
    data = context.data
    valid_until = data["valid_until"]
    entitlement_apply(
        module=data["module"],
        valid_from=datetime.fromisoformat(data["valid_from"]),
        valid_until=datetime.fromisoformat(valid_until) if valid_until else None,
        origin=f"inbox:{context.inbox_message_id}",
    )
