"""Reads of the inbox (row-level security confines them to the current tenant)."""

from django.db.models import QuerySet

from outbox.models import InboxMessage, InboxStatus


def inbox_message_list(*, status: InboxStatus | None = None) -> QuerySet[InboxMessage]:
    """The tenant's received messages, newest first, optionally by status."""
    messages = InboxMessage.objects.order_by("-id")
    if status is not None:
        messages = messages.filter(status=status)
    return messages
