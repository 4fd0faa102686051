"""The outbox: events written in the same transaction as the change they announce."""

import uuid

from django.db import models
from django.utils import timezone

from tenancy.models import TenantOwnedModel


class OutboxStatus(models.TextChoices):
    """Where an outbox row is in its life: waiting, on the bus, or given up on."""

    PENDING = "pending", "Pending"
    PUBLISHED = "published", "Published"
    DEAD = "dead", "Dead"


class OutboxEvent(TenantOwnedModel):
    """One event to publish, committed atomically with the change it describes.

    The relay publishes pending rows per shard (tenant + `shard_key`) in id order, so the events
    of one aggregate reach the bus in the order they were committed. The app role may only
    insert and read these rows; the relay's role marks, retries and prunes them.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=64)
    shard_key = models.CharField(max_length=160)
    payload = models.JSONField()
    headers = models.JSONField(default=dict, blank=True)
    # W3C trace context of the work that wrote the row; the relay publishes it as the
    # CloudEvent's `traceparent` and consumers continue the trace from it.
    traceparent = models.CharField(max_length=55, blank=True, default="", db_default="")
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "event_id"], name="outbox_event_id_unique"),
        ]
        indexes = [
            # The relay scans pending rows in id order ...
            models.Index(
                fields=["id"],
                condition=models.Q(status="pending"),
                name="outbox_pending_idx",
            ),
            # ... and asks, per row, whether an earlier row of its shard is still pending.
            models.Index(
                fields=["tenant", "shard_key", "id"],
                condition=models.Q(status="pending"),
                name="outbox_pending_shard_idx",
            ),
            models.Index(
                fields=["published_at"],
                condition=models.Q(status="published"),
                name="outbox_published_idx",
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(status="dead"),
                name="outbox_dead_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
