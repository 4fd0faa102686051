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

    Its work is planned as `BatchChunk` rows when it starts; each chunk is marked done in the
    same transaction as its candidates and the job's counters, so a run that dies resumes
    with exactly the chunks not committed: no pair lost, none scored twice. At most one live
    job per tenant.
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
    # Where planning starts and what it planned: {"rule": index into the blocking rules,
    # "after": key or null, "planned": chunks} (jobs of earlier releases: rule and key done).
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


class BatchChunk(TenantOwnedModel):
    """One planned piece of a job: a blocking rule's key range (after, upto].

    A job's chunks are planned once, when it starts; runners (any number, concurrently) then
    claim pending chunks with `FOR UPDATE SKIP LOCKED` and mark each done in the same
    transaction as its candidates. The row lock is the claim: a runner that dies releases it
    with its transaction, and the chunk is pending again for whichever runner comes next. Key
    ranges of one rule never overlap and a pair belongs to one rule, so no two chunks produce
    the same pair.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="planned_chunks")
    # Order of the plan (rule by rule, key order within a rule).
    position = models.PositiveIntegerField()
    # Index into the blocking rules, and the key range: after (exclusive, null = start) and
    # upto (inclusive), as JSON arrays of the rule's key values.
    rule = models.PositiveSmallIntegerField()
    after = models.JSONField(null=True, blank=True)
    upto = models.JSONField()
    patients = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    pairs_scored = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="mpi_batchchunk_position"),
        ]
        indexes = [
            models.Index(
                fields=["job", "position"],
                condition=models.Q(done=False),
                name="mpi_batchchunk_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"Batch chunk {self.position} of {self.job_id} (rule {self.rule})"
