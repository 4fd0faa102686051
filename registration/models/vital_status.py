"""Vital status: whether a patient is alive, and the full history of every claim about it.

A death recorded in error is a patient-safety event, so nothing here is overwritten: every
report, verification, refutation and correction appends a `VitalStatusRecord` (the app role may
not UPDATE or DELETE them), and the patient row only caches the latest one for reads, search
and matching. Death notifications that cannot be tied to exactly one patient wait for a data
steward as `DeathNotificationReview` rows.
"""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from registration.models.codes import DatePrecision, Verification, VitalStatus
from registration.models.patient import Patient
from tenancy.models import TenantOwnedModel


class VitalStatusSource(models.TextChoices):
    """Who told us."""

    FRONT_DESK = "front_desk", "Front desk"
    HOSPITAL = "hospital", "Hospital"
    CIVIL_REGISTRY = "civil_registry", "Civil registry"
    INTEGRATOR = "integrator", "Integrator"
    DATA_STEWARD = "data_steward", "Data steward review"


class VitalStatusChange(models.TextChoices):
    """What one history entry did."""

    RECORDED = "recorded", "Death recorded"
    VERIFIED = "verified", "Death verified"
    REFUTED = "refuted", "Death refuted"
    CORRECTED = "corrected", "Date of death corrected"


class VitalStatusRecord(TenantOwnedModel):
    """One entry of a patient's vital-status history; append-only, the latest is current."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="vital_status_records"
    )
    sequence = models.PositiveIntegerField()
    change = models.CharField(max_length=16, choices=VitalStatusChange.choices)
    status = models.CharField(max_length=16, choices=VitalStatus.choices)
    deceased_date = models.DateField(null=True, blank=True)
    deceased_date_precision = models.CharField(
        max_length=8, choices=DatePrecision.choices, blank=True
    )
    deceased_date_estimated = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=VitalStatusSource.choices)
    verification = models.CharField(max_length=16, choices=Verification.choices)
    reason = models.CharField(max_length=500, blank=True)
    external_reference = models.CharField(max_length=100, blank=True)
    patient_version = models.PositiveIntegerField()
    recorded_by = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient", "sequence"], name="vital_status_sequence_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "source", "external_reference"],
                name="vital_status_reference_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Vital status {self.sequence} of {self.patient_id}"


class ReviewStatus(models.TextChoices):
    """Where a queued death notification stands."""

    OPEN = "open", "Open"
    RECORDED = "recorded", "Recorded for a patient"
    DISMISSED = "dismissed", "Dismissed"


class ReviewReason(models.TextChoices):
    """Why a death notification was not applied automatically."""

    NO_MATCH = "no_match", "No patient found"
    AMBIGUOUS = "ambiguous", "Several patients could be meant"
    UNCERTAIN = "uncertain", "The best match is not certain"
    BIRTH_DATE_CONFLICT = "birth_date_conflict", "Birth date differs from the patient's"
    NAME_CONFLICT = "name_conflict", "Family name differs from the patient's"
    DEATH_DATE_CONFLICT = "death_date_conflict", "Patient already deceased with another date"
    INVALID_DATE = "invalid_date", "Date of death impossible for this patient"
    PATIENT_INACTIVE = "patient_inactive", "The patient's record is inactive"


class DeathNotificationReview(TenantOwnedModel):
    """A civil-registry death notification waiting for a data steward to pick the patient."""

    inbox_message_id = models.BigIntegerField()
    notification_id = models.CharField(max_length=100)
    identifier_system = models.CharField(max_length=255)
    identifier_value = models.CharField(max_length=100)
    date_of_death = models.DateField()
    # As the registry sent it; with month or year precision the date is the period's first day.
    date_of_death_precision = models.CharField(
        max_length=8,
        choices=DatePrecision.choices,
        default=DatePrecision.DAY,
        db_default=DatePrecision.DAY,
    )
    certificate_number = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=24, choices=ReviewReason.choices)
    candidate_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default="open")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=64, blank=True)
    resolved_patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "notification_id"], name="death_review_notification_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="death_review_status_idx")]

    def __str__(self) -> str:
        return f"Death notification review {self.pk}"
