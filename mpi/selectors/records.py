"""Patients as the matching engine sees them: `MatchRecord`s, built the same way for a record
being registered (a `PatientInput`) and for the stored patients it is compared with.

A patient with several names (official, maiden, nickname) gives one record per name, so a
registration under a maiden name still meets the patient's maiden-name row. The stored side
is read in one statement whatever the number of candidates.

Medical record numbers (identifier type MR) are numbers of a registration, not of a person:
a duplicate registration is exactly a second MRN from the same facility. So two different
MRNs of one system say nothing (`without_unshared_record_numbers`); the same MRN still counts.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from uuid import UUID

from mpi.matching.normalize import (
    PlaceholderPolicy,
    normalize_identifier_system,
    normalize_name,
)
from mpi.matching.record import MatchRecord
from registration.models import TelecomSystem
from registration.services.inputs import PatientInput
from tenancy.db import tenant_cursor

# More names than this per patient add cost and almost never a match.
MAX_NAMES_PER_PATIENT = 3

_PHONE_SYSTEMS = frozenset({TelecomSystem.PHONE, TelecomSystem.SMS})
# HL7 v2 identifier types that number a registration rather than a person.
RECORD_NUMBER_TYPES = frozenset({"MR"})

_CANDIDATES_SQL = """
SELECT p.id, p.gender, p.birth_date,
       (SELECT coalesce(json_agg(json_build_array(n.family, n.given) ORDER BY n.position), '[]')
          FROM registration_patientname n WHERE n.patient_id = p.id),
       (SELECT coalesce(json_agg(json_build_array(i.system, i.value, i.type_code)), '[]')
          FROM registration_patientidentifier i
         WHERE i.patient_id = p.id AND i.retired_at IS NULL),
       (SELECT coalesce(json_agg(json_build_array(t.system, t.value) ORDER BY t.id), '[]')
          FROM registration_patienttelecom t WHERE t.patient_id = p.id),
       (SELECT json_build_array(a.lines[1], a.postal_code)
          FROM registration_patientaddress a WHERE a.patient_id = p.id ORDER BY a.id LIMIT 1)
  FROM registration_patient p
 WHERE p.id = ANY(%s::uuid[]) AND p.active
"""


def _split_given(given: Sequence[str]) -> tuple[str | None, str | None]:
    """First given name, and the rest as the middle name."""
    if not given:
        return None, None
    return given[0], " ".join(given[1:]) or None


def _with_names(
    base: MatchRecord, names: Sequence[tuple[str, Sequence[str]]], policy: PlaceholderPolicy
) -> tuple[MatchRecord, ...]:
    """One record per name (at most MAX_NAMES_PER_PATIENT), the rest of the record shared.

    Each is cleaned of the policy's placeholders once here, so scoring does not clean the
    same record again for every pair it takes part in.
    """
    records = []
    for family, given in names[:MAX_NAMES_PER_PATIENT]:
        first, middle = _split_given(given)
        records.append(
            replace(
                base,
                family=normalize_name(family),
                given=normalize_name(first),
                middle=normalize_name(middle),
            ).without_placeholders(policy)
        )
    return tuple(records) or (base,)


def _base_record(
    record_id: str,
    *,
    gender: str,
    birth_date: date | None,
    identifiers: Sequence[tuple[str, str]],
    telecoms: Sequence[tuple[str, str]],
    address: tuple[str | None, str | None] | None,
    policy: PlaceholderPolicy,
) -> MatchRecord:
    """Everything but the names, normalized and without placeholders."""
    line, postal_code = address or (None, None)
    return MatchRecord.from_raw(
        record_id,
        birth_date=birth_date,
        sex=gender,
        identifiers=identifiers,
        phones=[value for system, value in telecoms if system in _PHONE_SYSTEMS],
        email=next((value for system, value in telecoms if system == TelecomSystem.EMAIL), None),
        address_line=line or None,
        postal_code=postal_code or None,
        policy=policy,
    )


def record_number_systems(identifiers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Normalized systems of the given (system, type code) pairs that number registrations."""
    return frozenset(
        normalized
        for system, type_code in identifiers
        if type_code in RECORD_NUMBER_TYPES
        and (normalized := normalize_identifier_system(system)) is not None
    )


def without_unshared_record_numbers(
    left: MatchRecord, right: MatchRecord, systems: frozenset[str]
) -> tuple[MatchRecord, MatchRecord]:
    """Both records without the record-number systems in which both have values, none shared.

    Otherwise a duplicate registration's new MRN would count as a contradiction (a different
    identifier in the same system), the one thing every duplicate registration has.
    """
    unshared = set()
    for system in systems:
        left_values = {value for key, value in left.identifiers if key == system}
        right_values = {value for key, value in right.identifiers if key == system}
        if left_values and right_values and not left_values & right_values:
            unshared.add(system)
    if not unshared:
        return left, right
    return left.without_identifier_systems(unshared), right.without_identifier_systems(unshared)


def input_records(data: PatientInput, policy: PlaceholderPolicy) -> tuple[MatchRecord, ...]:
    """The record being matched, once per name it gives."""
    address = data.addresses[0] if data.addresses else None
    base = _base_record(
        "",
        gender=data.gender,
        birth_date=data.birth_date,
        identifiers=[(i.system, i.value) for i in data.identifiers],
        telecoms=[(t.system, t.value) for t in data.telecoms],
        address=(address.lines[0] if address.lines else None, address.postal_code)
        if address
        else None,
        policy=policy,
    )
    return _with_names(base, [(name.family, name.given) for name in data.names], policy)


@dataclass(frozen=True)
class StoredCandidates:
    """Candidates as match records (one per name), and which of their systems are MRNs."""

    records: dict[UUID, tuple[MatchRecord, ...]] = field(default_factory=dict)
    record_number_systems: frozenset[str] = frozenset()


def candidate_records(patient_ids: Sequence[UUID], policy: PlaceholderPolicy) -> StoredCandidates:
    """The active patients among `patient_ids` as match records, one statement in all."""
    if not patient_ids:
        return StoredCandidates()
    with tenant_cursor() as cursor:
        cursor.execute(_CANDIDATES_SQL, [list(patient_ids)])
        rows = cursor.fetchall()
    records: dict[UUID, tuple[MatchRecord, ...]] = {}
    typed: list[tuple[str, str]] = []
    for patient_id, gender, birth_date, names, identifiers, telecoms, address in rows:
        typed.extend((system, type_code) for system, _, type_code in identifiers)
        base = _base_record(
            str(patient_id),
            gender=gender,
            birth_date=birth_date,
            identifiers=[(system, value) for system, value, _ in identifiers],
            telecoms=[(system, value) for system, value in telecoms],
            address=(address[0], address[1]) if address else None,
            policy=policy,
        )
        records[patient_id] = _with_names(
            base, [(family, given) for family, given in names], policy
        )
    return StoredCandidates(records=records, record_number_systems=record_number_systems(typed))
