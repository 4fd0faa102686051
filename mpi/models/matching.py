"""What the online matcher keeps per tenant: its model versions, name frequencies and the
steward decisions it must respect. All tenant-owned, under row-level security."""

import uuid

from django.db import models

from tenancy.models import TenantOwnedModel


class MatchModel(TenantOwnedModel):
    """One version of a tenant's Fellegi-Sunter parameters; the highest version is current.

    Rows are never edited: a retrained (or hand-tuned) model is a new version, so every score
    can name the exact parameters it used. A tenant without rows matches with the engine's
    built-in defaults (`mpi.matching.default_parameters`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.PositiveIntegerField()
    # ModelParameters.to_dict(): m/u per field and level, lambda, grade thresholds,
    # term-frequency bounds and auto-link blockers.
    parameters = models.JSONField()
    training_metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="mpi_matchmodel_version")
        ]

    def __str__(self) -> str:
        return f"Match model v{self.version}"

    @property
    def label(self) -> str:
        """The version label scores carry ("tenant-v3")."""
        return f"tenant-v{self.version}"


class NameFrequency(TenantOwnedModel):
    """How many of the tenant's active patients carry a name, for term-frequency weights.

    Agreeing on "smith" is weaker evidence than agreeing on "okafor". Rebuilt as a whole by
    `name_frequencies_refresh` (a task, not per write, so registrations stay cheap); the row
    with an empty `value` holds the number of active patients counted, the denominator.
    """

    FAMILY = "family"
    GIVEN = "given"
    FIELD_CHOICES = [(FAMILY, "Family name"), (GIVEN, "Given name")]

    field = models.CharField(max_length=16, choices=FIELD_CHOICES)
    value = models.CharField(max_length=100, blank=True)
    patients = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "field", "value"], name="mpi_namefrequency_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field} frequency {self.pk}"


class MatchDecisionKind(models.TextChoices):
    """What a data steward concluded about a pair of patients."""

    DUPLICATE = "duplicate", "Same person"
    NOT_DUPLICATE = "not_duplicate", "Different people"


class MatchDecision(TenantOwnedModel):
    """A steward's verdict on a pair of patients, kept forever; a decided pair is never proposed
    again.

    Deliberately minimal: only what online matching needs to honour the no-reproposal rule.
    The review queue (candidates, their stored explanations, decision history) builds on it.
    The pair is stored in a canonical order (`patient_low` < `patient_high`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient_low = models.ForeignKey(
        "registration.Patient", on_delete=models.PROTECT, related_name="+"
    )
    patient_high = models.ForeignKey(
        "registration.Patient", on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=16, choices=MatchDecisionKind.choices)
    reason = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient_low", "patient_high"], name="mpi_matchdecision_pair"
            ),
            models.CheckConstraint(
                condition=models.Q(patient_low__lt=models.F("patient_high")),
                name="mpi_matchdecision_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "patient_high"], name="mpi_decision_high_idx"),
        ]

    def __str__(self) -> str:
        return f"Decision {self.pk} ({self.decision})"
