"""Reads of enterprise persons: the records sharing one EUID and their golden record."""

from dataclasses import dataclass, field
from uuid import UUID

from mpi.services.survivorship import FieldOutcome, Side, golden_record
from registration.models import Patient
from registration.selectors.access import (
    OPEN,
    PatientAccess,
    RestrictedPatientError,
    patients_access,
)
from registration.selectors.patients import with_children
from registration.services.inputs import PatientInput
from registration.services.patients import patient_input_of
from tenancy.errors import NotFoundError
from tenancy.modules import BREAK_GLASS
from tenancy.principal import Principal
from tenancy.selectors.entitlements import module_entitled


@dataclass(frozen=True, slots=True)
class EnterprisePerson:
    """One person across records: the EUID, every record under it, and the golden record.

    The golden record is computed on read from the active records by the survivorship rules
    (`mpi.services.survivorship.golden_record`); it is never stored or edited. Read for a
    caller, it is computed only from the records that caller may open: `access` says, per
    record, whether it may be shown (restricted records without a grant are shown masked and
    contribute nothing to the golden record, docs/SECURITY.md).
    """

    euid: UUID
    records: list[Patient]
    golden: PatientInput
    outcomes: dict[str, FieldOutcome]
    access: dict[UUID, PatientAccess] = field(default_factory=dict)

    def access_of(self, patient: Patient) -> PatientAccess:
        """How the caller may see `patient` (system reads see every record)."""
        return self.access.get(patient.id, OPEN)


_SYSTEM = object()


def enterprise_person_get(
    *, euid: UUID, principal: Principal | object | None = _SYSTEM
) -> EnterprisePerson:
    """The enterprise person with this EUID, or NotFoundError (also for other tenants').

    Given a `principal`, the restricted-patient rules apply: the golden record is computed
    from the active records that principal may open only, and RestrictedPatientError (403)
    is raised when it may open none of them. Without one (a system read) every record counts.
    """
    records = list(with_children(Patient.objects.filter(enterprise_id=euid)).order_by("created_at"))
    active = [p for p in records if p.active]
    if not active:
        raise NotFoundError("No such enterprise person.")
    access: dict[UUID, PatientAccess] = {}
    if principal is not _SYSTEM:
        viewer = principal if isinstance(principal, Principal) else None
        access = patients_access(viewer, records)
        active = [p for p in active if access[p.id].allowed]
        if not active:
            raise RestrictedPatientError(break_glass_available=module_entitled(BREAK_GLASS))
    result = golden_record(
        [Side(record=patient_input_of(p), updated_at=p.updated_at) for p in active]
    )
    return EnterprisePerson(
        euid=euid, records=records, golden=result.record, outcomes=result.outcomes, access=access
    )
