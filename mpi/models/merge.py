"""The merge ledger: every merge of two patient records, with what it changed, so that it can be
shown, audited and undone."""

import uuid

from django.db import models

from tenancy.models import TenantOwnedModel


class MergeStatus(models.TextChoices):
    """Whether a merge stands."""

    MERGED = "merged", "Merged"
    UNMERGED = "unmerged", "Undone"


class PatientMerge(TenantOwnedModel):
    """One merge of `subsumed` into `survivor` (a first-class object: preview, execute, undo).

    `before` and `after` hold every row the merge changed (patients, child rows, links) as JSON,
    taken inside the merge's transaction; `enterprise_before` / `enterprise_after` the
    enterprise ids of both records' groups. Unmerge puts `before` back, keeping later edits of
    the survivor (a field that no longer equals `after` was edited since). Rows are never
    deleted; an undone merge keeps its ledger entry with `status=unmerged`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    survivor = models.ForeignKey("registration.Patient", on_delete=models.PROTECT, related_name="+")
    subsumed = models.ForeignKey("registration.Patient", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=MergeStatus.choices, default=MergeStatus.MERGED
    )
    reason = models.CharField(max_length=500)
    # The steward's choice per record field ("survivor" / "subsumed" / "both") as sent.
    field_choices = models.JSONField(default=dict)
    # Per field: which side won and by which survivorship rule.
    survivorship = models.JSONField(default=dict)
    before = models.JSONField()
    after = models.JSONField()
    enterprise_before = models.JSONField(default=dict)
    enterprise_after = models.JSONField(default=dict)
    copied_identifier_ids = models.JSONField(default=list)
    survivor_version = models.PositiveIntegerField()
    subsumed_version = models.PositiveIntegerField()
    candidate = models.ForeignKey(
        "mpi.MatchCandidate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    merged_by = models.CharField(max_length=64)
    merged_at = models.DateTimeField()
    unmerged_by = models.CharField(max_length=64, blank=True)
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerge_reason = models.CharField(max_length=500, blank=True)
    # Which survivor fields kept a later edit when the merge was undone.
    unmerge_kept = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(survivor=models.F("subsumed")), name="mpi_merge_two_patients"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "survivor", "merged_at"], name="mpi_merge_survivor_idx"),
            models.Index(fields=["tenant", "subsumed", "merged_at"], name="mpi_merge_subsumed_idx"),
        ]

    def __str__(self) -> str:
        return f"Merge {self.pk} ({self.status})"
