"""Reads of enterprise persons: the records sharing one EUID and their golden record."""

from dataclasses import dataclass
from uuid import UUID

from mpi.services.survivorship import FieldOutcome, Side, golden_record
from registration.models import Patient
from registration.selectors.patients import with_children
from registration.services.inputs import PatientInput
from registration.services.patients import patient_input_of
from tenancy.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class EnterprisePerson:
    """One person across records: the EUID, every record under it, and the golden record.

    The golden record is computed on read from the active records by the survivorship rules
    (`mpi.services.survivorship.golden_record`); it is never stored or edited.
    """

    euid: UUID
    records: list[Patient]
    golden: PatientInput
    outcomes: dict[str, FieldOutcome]


def enterprise_person_get(*, euid: UUID) -> EnterprisePerson:
    """The enterprise person with this EUID, or NotFoundError (also for other tenants')."""
    records = list(with_children(Patient.objects.filter(enterprise_id=euid)).order_by("created_at"))
    active = [p for p in records if p.active]
    if not active:
        raise NotFoundError("No such enterprise person.")
    result = golden_record(
        [Side(record=patient_input_of(p), updated_at=p.updated_at) for p in active]
    )
    return EnterprisePerson(
        euid=euid, records=records, golden=result.record, outcomes=result.outcomes
    )
