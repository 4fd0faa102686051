"""The review queue: candidate pairs the matcher proposed, and what became of them."""

import uuid

from django.db import models

from tenancy.models import TenantOwnedModel


class CandidateGrade(models.TextChoices):
    """The engine's grade for a pair when it was proposed (see mpi.matching.MatchGrade)."""

    CERTAIN = "certain", "Certain"
    PROBABLE = "probable", "Probable"
    POSSIBLE = "possible", "Possible"


class CandidateStatus(models.TextChoices):
    """Where a proposed pair stands.

    OPEN pairs wait for a steward (or were auto-linked when CERTAIN, see `auto_linked`).
    DUPLICATE / NOT_DUPLICATE are final steward decisions (mirrored in MatchDecision, the
    training labels) until explicitly reopened; MERGED means a merge consumed the pair;
    SUPERSEDED means the pair no longer stands (one side merged away or deactivated).
    """

    OPEN = "open", "Open"
    DUPLICATE = "duplicate", "Duplicate"
    NOT_DUPLICATE = "not_duplicate", "Not a duplicate"
    MERGED = "merged", "Merged"
    SUPERSEDED = "superseded", "Superseded"


class CandidateSource(models.TextChoices):
    """What proposed the pair."""

    ONLINE = "online", "Online match at registration"
    BATCH = "batch", "Batch deduplication"
    STEWARD = "steward", "Raised by a steward"


class MatchCandidate(TenantOwnedModel):
    """A pair of patients that may be one person, with the evidence that proposed it.

    The pair is stored in a canonical order (`patient_low` < `patient_high`), one row per pair
    per tenant: re-scoring an open pair refreshes its score; a decided pair is never proposed
    again (the proposing service skips pairs with a MatchDecision).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient_low = models.ForeignKey(
        "registration.Patient", on_delete=models.PROTECT, related_name="+"
    )
    patient_high = models.ForeignKey(
        "registration.Patient", on_delete=models.PROTECT, related_name="+"
    )
    probability = models.FloatField()
    weight = models.FloatField()
    grade = models.CharField(max_length=16, choices=CandidateGrade.choices)
    # The engine's per-field explanation (mpi.matching ExplanationEntry as dicts).
    explanation = models.JSONField(default=list)
    model_version = models.CharField(max_length=32)
    source = models.CharField(max_length=16, choices=CandidateSource.choices)
    status = models.CharField(
        max_length=16, choices=CandidateStatus.choices, default=CandidateStatus.OPEN
    )
    # A CERTAIN pair is linked to one enterprise identity automatically; stewards may still
    # review it (and unlink) from the queue.
    auto_linked = models.BooleanField(default=False)
    assignee = models.CharField(max_length=64, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient_low", "patient_high"], name="mpi_candidate_pair"
            ),
            models.CheckConstraint(
                condition=models.Q(patient_low__lt=models.F("patient_high")),
                name="mpi_candidate_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "status", "-probability"], name="mpi_candidate_queue_idx"
            ),
            models.Index(fields=["tenant", "patient_high"], name="mpi_candidate_high_idx"),
        ]

    def __str__(self) -> str:
        return f"Candidate {self.pk} ({self.status})"
