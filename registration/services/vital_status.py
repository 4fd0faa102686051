"""Every write to a patient's vital status: record a death, verify it, refute it, correct it.

A wrong death record is a patient-safety event, so each change appends a history entry (never
an update), bumps the patient's version (the same If-Match rules as the rest of the record),
writes an audit row and emits `patient.vital-status-changed` in the same transaction. A
correction is its own entry and its own event. Restricted patients are handled like any other:
confidentiality limits who may read a record, never whether a death is recorded on it.
"""

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from outbox.services.outbox import outbox_enqueue
from registration.models import (
    DatePrecision,
    Patient,
    Verification,
    VitalStatus,
    VitalStatusChange,
    VitalStatusRecord,
    VitalStatusSource,
)
from registration.services.patients import (
    MAX_REASON_LENGTH,
    _label,
    _locked_patient,
    _require_active,
    _require_reason,
)
from registration.services.versions import patient_versions_retain
from tenancy.errors import ConflictError, FieldError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

# The channel a change came through, as `patient.vital-status-changed` names it.
CHANNELS = frozenset({"civil-registry", "console", "rest", "fhir"})


class VitalStatusConflictError(ConflictError):
    """The change does not fit the current vital status (e.g. verifying a living patient)."""

    code = "vital-status-conflict"
    title = "Vital status conflict"


@dataclass(frozen=True, slots=True)
class DeathDate:
    """A date of death as known: the date, how precise it is, and whether it is estimated.

    With month or year precision the date is stored as the first day of that period.
    """

    value: date | None
    precision: str = DatePrecision.DAY
    estimated: bool = False

    def normalized(self) -> "DeathDate":
        """The same date with the day (and month) dropped that the precision does not know."""
        if self.value is None:
            return DeathDate(None, "", self.estimated)
        if self.precision == DatePrecision.MONTH:
            return DeathDate(self.value.replace(day=1), self.precision, self.estimated)
        if self.precision == DatePrecision.YEAR:
            return DeathDate(self.value.replace(month=1, day=1), self.precision, self.estimated)
        return self

    def period(self) -> tuple[date, date]:
        """The first and last day the death may have happened on."""
        start = self.normalized().value
        assert start is not None  # noqa: S101 - only called for dated deaths
        if self.precision == DatePrecision.YEAR:
            return start, start.replace(month=12, day=31)
        if self.precision == DatePrecision.MONTH:
            last = calendar.monthrange(start.year, start.month)[1]
            return start, start.replace(day=last)
        return start, start


def validate_death_date(death: DeathDate, *, birth_date: date | None, today: date) -> None:
    """Refuse a death in the future or before birth (at the precision the date is known)."""
    if death.value is None:  # deceased, date unknown: nothing to compare
        return
    if death.precision not in DatePrecision.values:
        raise ValidationFailedError(
            "The date of death is invalid.",
            errors=[FieldError("deceased_date_precision", "invalid", "Use day, month or year.")],
        )
    first, last = death.period()
    if first > today:
        raise ValidationFailedError(
            "The date of death is invalid.",
            errors=[FieldError("deceased_date", "in_future", "A date of death cannot be future.")],
        )
    if birth_date is not None and last < birth_date:
        raise ValidationFailedError(
            "The date of death is invalid.",
            errors=[
                FieldError("deceased_date", "before_birth", "The date of death is before birth.")
            ],
        )


def _require_source(source: str) -> None:
    if source not in VitalStatusSource.values:
        raise ValidationFailedError(
            "Unknown source.",
            errors=[FieldError("source", "invalid", "Not a known source of vital status.")],
        )


def _require_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}")


def _require_short_note(note: str) -> None:
    if len(note.strip()) > MAX_REASON_LENGTH:
        raise ValidationFailedError(
            "The note is too long.",
            errors=[FieldError("note", "too_long", f"At most {MAX_REASON_LENGTH} characters.")],
        )


def _current(patient: Patient) -> VitalStatusRecord | None:
    return VitalStatusRecord.objects.filter(patient=patient).order_by("-sequence").first()


def _append(
    *,
    actor: Principal | None,
    patient: Patient,
    previous: VitalStatusRecord | None,
    change: str,
    status: str,
    death: DeathDate,
    source: str,
    verification: str,
    channel: str,
    reason: str = "",
    external_reference: str = "",
) -> VitalStatusRecord:
    """Append the entry, update the patient's cached status, audit and emit; one transaction."""
    death = death.normalized()
    patient_versions_retain([patient.id])
    patient.version += 1
    patient.updated_by = _label(actor)
    patient.vital_status = status
    patient.deceased_date = death.value
    patient.deceased_date_precision = death.precision
    patient.vital_status_verification = verification
    patient.save(
        update_fields=[
            "version",
            "updated_by",
            "updated_at",
            "vital_status",
            "deceased_date",
            "deceased_date_precision",
            "vital_status_verification",
        ]
    )
    record = VitalStatusRecord.objects.create(
        tenant_id=patient.tenant_id,
        patient=patient,
        sequence=(previous.sequence + 1) if previous else 1,
        change=change,
        status=status,
        deceased_date=death.value,
        deceased_date_precision=death.precision,
        deceased_date_estimated=death.estimated,
        source=source,
        verification=verification,
        reason=reason,
        external_reference=external_reference,
        patient_version=patient.version,
        recorded_by=_label(actor),
    )
    details: dict[str, Any] = {
        "version": patient.version,
        "vital_status_id": str(record.id),
        "change": change,
        "status": status,
        "verification": verification,
        "source": source,
        "channel": channel,
    }
    if previous is not None:
        details["previous_vital_status_id"] = str(previous.id)
    audit_record(
        actor=actor,
        action=f"patient.vital_status_{change}",
        object_type="patient",
        object_id=str(patient.id),
        details=details,
    )
    outbox_enqueue(
        event_type="patient.vital-status-changed",
        aggregate_type="patient",
        aggregate_id=patient.id,
        payload={
            "patient_id": str(patient.id),
            "version": patient.version,
            "vital_status_id": str(record.id),
            "deceased": status == VitalStatus.DECEASED,
            "source": channel,
        },
        actor=actor,
    )
    return record


def vital_status_record_death(
    *,
    actor: Principal | None,
    patient_id: UUID,
    expected_version: int | None,
    death: DeathDate,
    source: str,
    channel: str,
    external_reference: str = "",
    note: str = "",
) -> VitalStatusRecord:
    """Record a reported death (from the front desk, a hospital, an integrator, the registry).

    A patient already recorded as deceased is refused (409): change the date with a correction.
    """
    _require_source(source)
    _require_channel(channel)
    _require_short_note(note)
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        if patient.vital_status == VitalStatus.DECEASED:
            raise VitalStatusConflictError(
                "The patient is already recorded as deceased; correct or refute that record."
            )
        validate_death_date(death, birth_date=patient.birth_date, today=timezone.localdate())
        return _append(
            actor=actor,
            patient=patient,
            previous=_current(patient),
            change=VitalStatusChange.RECORDED,
            status=VitalStatus.DECEASED,
            death=death,
            source=source,
            verification=Verification.REPORTED,
            channel=channel,
            reason=note.strip(),
            external_reference=external_reference,
        )


def _deceased_record(patient: Patient) -> VitalStatusRecord:
    current = _current(patient)
    if patient.vital_status != VitalStatus.DECEASED or current is None:
        raise VitalStatusConflictError("The patient is not recorded as deceased.")
    return current


def _death_of(record: VitalStatusRecord) -> DeathDate:
    return DeathDate(
        record.deceased_date, record.deceased_date_precision, record.deceased_date_estimated
    )


def vital_status_verify(
    *,
    actor: Principal | None,
    patient_id: UUID,
    expected_version: int | None,
    channel: str,
    note: str = "",
) -> VitalStatusRecord:
    """A data steward confirms a reported death (e.g. against the death certificate)."""
    _require_channel(channel)
    _require_short_note(note)
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        current = _deceased_record(patient)
        if current.verification == Verification.VERIFIED:
            raise VitalStatusConflictError("The death is already verified.")
        return _append(
            actor=actor,
            patient=patient,
            previous=current,
            change=VitalStatusChange.VERIFIED,
            status=VitalStatus.DECEASED,
            death=_death_of(current),
            source=current.source,
            verification=Verification.VERIFIED,
            channel=channel,
            reason=note.strip(),
            external_reference=current.external_reference,
        )


def vital_status_refute(
    *,
    actor: Principal | None,
    patient_id: UUID,
    expected_version: int | None,
    reason: str,
    channel: str,
    status: str = VitalStatus.ALIVE,
) -> VitalStatusRecord:
    """Refute a recorded death (wrong person, hoax, error): the patient is alive (or unknown)."""
    text = _require_reason(reason, "reason")
    _require_channel(channel)
    if status not in (VitalStatus.ALIVE, VitalStatus.UNKNOWN):
        raise ValidationFailedError(
            "A refuted death leaves the patient alive or of unknown status.",
            errors=[FieldError("status", "invalid", "Use alive or unknown.")],
        )
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        current = _deceased_record(patient)
        return _append(
            actor=actor,
            patient=patient,
            previous=current,
            change=VitalStatusChange.REFUTED,
            status=status,
            death=DeathDate(None, ""),
            source=VitalStatusSource.DATA_STEWARD,
            verification=Verification.REFUTED,
            channel=channel,
            reason=text,
        )


def vital_status_correct(
    *,
    actor: Principal | None,
    patient_id: UUID,
    expected_version: int | None,
    death: DeathDate,
    reason: str,
    channel: str,
) -> VitalStatusRecord:
    """Correct the date of a recorded death; the death stays as verified as it was."""
    text = _require_reason(reason, "reason")
    _require_channel(channel)
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        current = _deceased_record(patient)
        validate_death_date(death, birth_date=patient.birth_date, today=timezone.localdate())
        if death.normalized() == _death_of(current):
            raise VitalStatusConflictError("The date of death is already as given.")
        return _append(
            actor=actor,
            patient=patient,
            previous=current,
            change=VitalStatusChange.CORRECTED,
            status=VitalStatus.DECEASED,
            death=death,
            source=VitalStatusSource.DATA_STEWARD,
            verification=current.verification,
            channel=channel,
            reason=text,
            external_reference=current.external_reference,
        )
