"""The inbox: every event received from another system, recorded once."""

from django.db import models
from django.utils import timezone

from tenancy.models import TenantOwnedModel


class InboxStatus(models.TextChoices):
    """A received message is either processed or parked as dead for an operator."""

    PROCESSED = "processed", "Processed"
    DEAD = "dead", "Dead"


class InboxMessage(TenantOwnedModel):
    """One received message, keyed by (source, message id) so a redelivery is a no-op.

    The row is inserted in the same transaction as the processing it triggers, so "recorded"
    and "processed" can never disagree; a poison message is kept with its error (no PHI) until
    an operator re-drives it.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=200)
    message_id = models.CharField(max_length=200)
    sender = models.CharField(max_length=64)
    event_type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField(default=dict)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=InboxStatus.choices)
    attempts = models.PositiveIntegerField(default=1)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "message_id"], name="inbox_message_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "id"],
                condition=models.Q(status="dead"),
                name="inbox_dead_idx",
            ),
            models.Index(fields=["received_at"], name="inbox_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sender}:{self.event_type} {self.message_id}"
