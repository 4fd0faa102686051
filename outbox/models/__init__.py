"""Models of this app: the outbox of events to publish and the inbox of events received."""

from outbox.models.inbox import InboxMessage, InboxStatus
from outbox.models.outbox import OutboxEvent, OutboxStatus

__all__ = ["InboxMessage", "InboxStatus", "OutboxEvent", "OutboxStatus"]
