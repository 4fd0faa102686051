"""Batch deduplication jobs: one row per run over a tenant (or a slice of it)."""

import uuid

from django.db import models

from tenancy.models import TenantOwnedModel


class BatchJobStatus(models.TextChoices):
    """Where a batch job stands; QUEUED and RUNNING are the live states."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


LIVE_BATCH_STATUSES = (BatchJobStatus.QUEUED, BatchJobStatus.RUNNING)


class BatchJob(TenantOwnedModel):
    """A deduplication run: its scope, progress, checkpoint and outcome.

    The checkpoint (blocking rule and last blocking key done) is written in the same
    transaction as the candidates of the chunk it closes, so a run that dies resumes exactly
    after the last committed chunk: no pair lost, none scored twice. At most one live job per
    tenant.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=BatchJobStatus.choices, default=BatchJobStatus.QUEUED
    )
    # The slice: patients born within these years (both open = the whole tenant).
    birth_year_from = models.PositiveSmallIntegerField(null=True, blank=True)
    birth_year_to = models.PositiveSmallIntegerField(null=True, blank=True)
    # Progress in blocked patient rows (each rule counts its eligible patients once).
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    pairs_scored = models.PositiveBigIntegerField(default=0)
    # match_candidates_propose counts summed over the chunks (offered, inserted, ...).
    proposals = models.JSONField(default=dict, blank=True)
    # {"rule": index into the blocking rules, "after": last key done, or null}
    checkpoint = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=32, blank=True)
    # Seconds spent in chunks (over all attempts), for pairs per second.
    busy_seconds = models.FloatField(default=0.0)
    cancel_requested = models.BooleanField(default=False)
    requested_by = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(status__in=["queued", "running"]),
                name="mpi_batchjob_one_live",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="mpi_batchjob_recent_idx")]

    def __str__(self) -> str:
        return f"Batch job {self.pk} ({self.status})"

    @property
    def pairs_per_second(self) -> float:
        """Scoring throughput so far (0 before the first chunk)."""
        return self.pairs_scored / self.busy_seconds if self.busy_seconds > 0 else 0.0

    @property
    def progress(self) -> float:
        """Share of the work done, 0..1."""
        return min(1.0, self.done / self.total) if self.total else 0.0
