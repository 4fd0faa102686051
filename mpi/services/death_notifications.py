"""Applying a civil-registry death notification: find the person, or ask a steward.

Never marks the wrong person dead silently. The identifier the registry names is tried first;
it counts only if the birth date and the family name (when the registry sends them) agree.
Failing that, the MPI matcher must find exactly one CERTAIN candidate — a deceased candidate is
never CERTAIN, and anything less goes to a data steward's worklist. The same notification twice
changes nothing. Lives in the MPI app because it matches people; registration records the death.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from mpi.matching.normalize import NAME_PARTICLES, fold_text
from mpi.matching.score import MatchGrade
from mpi.services.matching import match_patient
from registration.models import Patient, ReviewReason, VitalStatus, VitalStatusSource
from registration.selectors.vital_status import (
    death_notification_known,
    patient_family_names,
    patients_with_identifier,
)
from registration.services.death_notifications import death_notification_queue
from registration.services.inputs import IdentifierInput, NameInput, PatientInput
from registration.services.vital_status import DeathDate, vital_status_record_death
from tenancy.errors import ValidationFailedError

# How many candidates the matcher reports to the steward with a queued notification.
REVIEW_CANDIDATES = 5


class Outcome(StrEnum):
    """What became of a notification."""

    RECORDED = "recorded"
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    ALREADY_RECORDED = "already_recorded"


@dataclass(frozen=True, slots=True)
class DeathNotification:
    """A validated `civil-registry.death-notified` message (the person data is PHI)."""

    inbox_message_id: int
    notification_id: str
    identifier_system: str
    identifier_value: str
    death: DeathDate
    certificate_number: str = ""
    family: str = ""
    given: tuple[str, ...] = ()
    birth_date: date | None = None
    gender: str = "unknown"

    def demographics(self) -> PatientInput | None:
        """What the matcher gets: the identifier and whatever the registry knows of the person."""
        if not self.family:
            return None
        return PatientInput(
            names=(NameInput(family=self.family, given=self.given),),
            gender=self.gender,
            birth_date=self.birth_date,
            identifiers=(
                IdentifierInput(system=self.identifier_system, value=self.identifier_value),
            ),
        )


@dataclass(frozen=True, slots=True)
class AppliedNotification:
    """The outcome, the patient it was recorded for (if any), and why it was queued (if it was)."""

    outcome: Outcome
    patient_id: UUID | None = None
    reason: str = ""


def _queue(
    notification: DeathNotification, reason: ReviewReason, candidate_ids: list[UUID]
) -> AppliedNotification:
    death_notification_queue(
        inbox_message_id=notification.inbox_message_id,
        notification_id=notification.notification_id,
        identifier_system=notification.identifier_system,
        identifier_value=notification.identifier_value,
        death=notification.death,
        certificate_number=notification.certificate_number,
        reason=reason,
        candidate_ids=candidate_ids,
    )
    return AppliedNotification(Outcome.QUEUED, reason=str(reason))


def _record(notification: DeathNotification, patient: Patient) -> AppliedNotification:
    try:
        vital_status_record_death(
            actor=None,
            patient_id=patient.id,
            expected_version=None,
            death=notification.death,
            source=VitalStatusSource.CIVIL_REGISTRY,
            channel="civil-registry",
            external_reference=notification.notification_id,
        )
    except ValidationFailedError:
        return _queue(notification, ReviewReason.INVALID_DATE, [patient.id])
    return AppliedNotification(Outcome.RECORDED, patient_id=patient.id)


def _family_words(family: str) -> frozenset[str]:
    return frozenset(fold_text(family).split()) - NAME_PARTICLES


def _family_agrees(notification: DeathNotification, patient: Patient) -> bool:
    """True unless the registry names a family the patient has never borne (in any name).

    Lenient on purpose (one shared word, accents and case aside, is enough: "Garcia" agrees
    with "García López"): it is there to catch an identifier that names somebody else, and a
    disagreement only sends the notification to a steward.
    """
    sent = _family_words(notification.family)
    if not sent:
        return True
    return any(sent & _family_words(f) for f in patient_family_names(patient_id=patient.id))


def _apply_to(notification: DeathNotification, patient: Patient) -> AppliedNotification:
    """The identifier named this patient: record, unless something says it may be wrong."""
    if not patient.active:
        return _queue(notification, ReviewReason.PATIENT_INACTIVE, [patient.id])
    if notification.birth_date is not None and patient.birth_date not in (
        None,
        notification.birth_date,
    ):
        return _queue(notification, ReviewReason.BIRTH_DATE_CONFLICT, [patient.id])
    if not _family_agrees(notification, patient):
        return _queue(notification, ReviewReason.NAME_CONFLICT, [patient.id])
    if patient.vital_status == VitalStatus.DECEASED:
        known = notification.death.normalized()
        if (patient.deceased_date, patient.deceased_date_precision) == (
            known.value,
            known.precision,
        ):
            return AppliedNotification(Outcome.ALREADY_RECORDED, patient_id=patient.id)
        return _queue(notification, ReviewReason.DEATH_DATE_CONFLICT, [patient.id])
    return _record(notification, patient)


def death_notification_apply(notification: DeathNotification) -> AppliedNotification:
    """Record the death for the one patient it is certainly about, or queue it for review."""
    if death_notification_known(notification_id=notification.notification_id):
        return AppliedNotification(Outcome.DUPLICATE)
    holders = patients_with_identifier(
        system=notification.identifier_system, value=notification.identifier_value
    )
    if len(holders) == 1:
        return _apply_to(notification, holders[0])
    if len(holders) > 1:
        return _queue(notification, ReviewReason.AMBIGUOUS, [h.id for h in holders])
    return _apply_by_matching(notification)


def _apply_by_matching(notification: DeathNotification) -> AppliedNotification:
    """No patient holds the identifier: only one CERTAIN match of the person will do."""
    demographics = notification.demographics()
    if demographics is None:
        return _queue(notification, ReviewReason.NO_MATCH, [])
    result = match_patient(demographics, count=REVIEW_CANDIDATES)
    certain = [c for c in result.candidates if c.grade is MatchGrade.CERTAIN]
    candidate_ids = [c.patient_id for c in result.candidates]
    if len(certain) > 1:
        return _queue(notification, ReviewReason.AMBIGUOUS, candidate_ids)
    if len(certain) == 1:
        return _apply_to(notification, Patient.objects.get(id=certain[0].patient_id))
    reason = ReviewReason.UNCERTAIN if candidate_ids else ReviewReason.NO_MATCH
    return _queue(notification, reason, candidate_ids)
