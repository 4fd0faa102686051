"""Reads of vital status: a patient's current status and history, the deaths still to verify,
which patients are deceased (matching and the duplicate check ask), and queued notifications.

`vital_status_current` is the one shape other interfaces (REST, FHIR deceased[x]) map from.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.db.models import QuerySet

from registration.models import (
    DeathNotificationReview,
    Patient,
    PatientName,
    ReviewStatus,
    Verification,
    VitalStatus,
    VitalStatusRecord,
)
from tenancy.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class CurrentVitalStatus:
    """A patient's vital status as it stands, and the history entry that set it (if any)."""

    patient_id: UUID
    patient_version: int
    status: str
    deceased_date: date | None
    deceased_date_precision: str
    deceased_date_estimated: bool
    verification: str
    source: str
    record_id: UUID | None
    recorded_at: datetime | None
    recorded_by: str

    @property
    def deceased(self) -> bool:
        """True when the patient is recorded as deceased (reported or verified)."""
        return self.status == VitalStatus.DECEASED


def vital_status_history(*, patient_id: UUID) -> list[VitalStatusRecord]:
    """Every entry of a patient's vital-status history, oldest first."""
    return list(VitalStatusRecord.objects.filter(patient_id=patient_id).order_by("sequence"))


def vital_status_current(*, patient_id: UUID) -> CurrentVitalStatus:
    """The current vital status of a patient (NotFoundError for unknown / other tenants')."""
    patient = Patient.objects.filter(id=patient_id).first()
    if patient is None:
        raise NotFoundError("No such patient.")
    latest = VitalStatusRecord.objects.filter(patient_id=patient_id).order_by("-sequence").first()
    return CurrentVitalStatus(
        patient_id=patient.id,
        patient_version=patient.version,
        status=patient.vital_status,
        deceased_date=patient.deceased_date,
        deceased_date_precision=patient.deceased_date_precision,
        deceased_date_estimated=latest.deceased_date_estimated if latest else False,
        verification=patient.vital_status_verification,
        source=latest.source if latest else "",
        record_id=latest.id if latest else None,
        recorded_at=latest.recorded_at if latest else None,
        recorded_by=latest.recorded_by if latest else "",
    )


def deceased_among(patient_ids: Collection[UUID]) -> frozenset[UUID]:
    """Which of these patients are recorded as deceased (reported or verified); one query."""
    if not patient_ids:
        return frozenset()
    return frozenset(
        Patient.objects.filter(
            id__in=list(patient_ids), vital_status=VitalStatus.DECEASED
        ).values_list("id", flat=True)
    )


def unverified_deaths() -> QuerySet[Patient]:
    """Active patients whose recorded death no steward has verified yet, oldest change first."""
    return (
        Patient.objects.filter(
            active=True,
            vital_status=VitalStatus.DECEASED,
            vital_status_verification=Verification.REPORTED,
        )
        .prefetch_related("names")
        .order_by("updated_at", "id")
    )


def death_notification_reviews(
    *, status: str = ReviewStatus.OPEN
) -> QuerySet[DeathNotificationReview]:
    """Death notifications waiting for (or resolved by) a steward, oldest first."""
    return DeathNotificationReview.objects.filter(status=status).order_by("created_at", "id")


def death_notification_review_get(*, review_id: int) -> DeathNotificationReview:
    """One queued death notification, or NotFoundError."""
    review = DeathNotificationReview.objects.filter(id=review_id).first()
    if review is None:
        raise NotFoundError("No such death notification review.")
    return review


def death_notification_known(*, notification_id: str) -> bool:
    """Whether this civil-registry notification was already applied or queued (idempotency)."""
    return (
        DeathNotificationReview.objects.filter(notification_id=notification_id).exists()
        or VitalStatusRecord.objects.filter(
            source="civil_registry", external_reference=notification_id
        ).exists()
    )


def patients_with_identifier(*, system: str, value: str) -> list[Patient]:
    """The patients holding this active identifier (at most one by the uniqueness rule)."""
    return list(
        Patient.objects.filter(
            identifiers__system=system,
            identifiers__value=value,
            identifiers__retired_at__isnull=True,
        ).distinct()
    )


def patient_family_names(*, patient_id: UUID) -> list[str]:
    """Every family name the patient is known by (official, maiden, old, …), as entered."""
    return list(
        PatientName.objects.filter(patient_id=patient_id)
        .exclude(family="")
        .values_list("family", flat=True)
    )
