"""Bulk loading of patient records (synthetic populations, migrations from other systems).

Rows are streamed with COPY into temporary staging tables and moved into the patient tables
with one INSERT … SELECT per table and batch, inside the tenant scope. COPY FROM cannot write
into tables under row-level security, but INSERT … SELECT can, so every row still passes the
tenant policy's WITH CHECK. Identifiers already active on another patient are skipped and
counted (as a registration would have refused them), never silently merged.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from outbox.services.outbox import outbox_enqueue_many
from registration.selectors.domains import identifier_domains
from registration.services.inputs import PatientInput
from registration.services.search_keys import (
    name_search_columns,
    postal_key,
    sort_name,
    telecom_key,
)
from registration.services.validation import validate_patient
from tenancy.db import current_tenant_id, tenant_cursor, tenant_scope
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

_STAGING = {
    "patient": (
        "id uuid, gender text, birth_date date, language text, marital_status text, sort_name text"
    ),
    "name": (
        "patient_id uuid, position int, use text, family text, given text[], "
        "family_folded text, given_folded text, given_names_folded text, family_phonetic text, "
        "given_phonetic text, birth_year smallint"
    ),
    "identifier": "patient_id uuid, system text, value text, type_code text, use text",
    "telecom": "patient_id uuid, system text, value text, use text, value_normalized text",
    "address": (
        "patient_id uuid, use text, lines text[], city text, state text, postal_code text, "
        "country text, postal_code_normalized text"
    ),
}

_MOVE = {
    "patient": """
        INSERT INTO registration_patient (id, tenant_id, active, gender, birth_date, language,
            marital_status, confidentiality, preferred_facility, version, sort_name, created_at,
            updated_at, created_by, updated_by, deactivation_reason)
        SELECT id, %(tenant)s, true, gender, birth_date, language, marital_status, 'normal', '',
               1, sort_name, %(now)s, %(now)s, %(actor)s, %(actor)s, ''
          FROM bulk_patient""",
    "name": """
        INSERT INTO registration_patientname (tenant_id, patient_id, position, use, family, given,
            prefix, suffix, family_folded, given_folded, given_names_folded, family_phonetic,
            given_phonetic, birth_year)
        SELECT %(tenant)s, patient_id, position, use, family, given, '{}', '{}', family_folded,
               given_folded, given_names_folded, family_phonetic, given_phonetic, birth_year
          FROM bulk_name""",
    "identifier": """
        INSERT INTO registration_patientidentifier (tenant_id, patient_id, system, value,
            type_code, use, created_at, retired_reason)
        SELECT %(tenant)s, patient_id, system, value, type_code, use, %(now)s, ''
          FROM bulk_identifier
        ON CONFLICT DO NOTHING""",
    "telecom": """
        INSERT INTO registration_patienttelecom (tenant_id, patient_id, system, value, use,
            value_normalized)
        SELECT %(tenant)s, patient_id, system, value, use, value_normalized FROM bulk_telecom""",
    "address": """
        INSERT INTO registration_patientaddress (tenant_id, patient_id, use, type, lines, city,
            district, state, postal_code, country, postal_code_normalized)
        SELECT %(tenant)s, patient_id, use, '', lines, city, '', state, postal_code, country,
               postal_code_normalized
          FROM bulk_address""",
}


MAX_REPORTED_REJECTIONS = 100


@dataclass
class BulkLoadReport:
    """What a bulk load did: loaded, rejected (with their first errors), identifiers skipped."""

    loaded: int = 0
    rejected: int = 0
    identifiers_skipped: int = 0
    rejections: list[tuple[str, list[str]]] = field(default_factory=list)


def _rows(records: list[tuple[UUID, PatientInput]]) -> dict[str, list[tuple[object, ...]]]:
    rows: dict[str, list[tuple[object, ...]]] = {table: [] for table in _STAGING}
    for patient_id, data in records:
        rows["patient"].append(
            (
                patient_id,
                data.gender,
                data.birth_date,
                data.language,
                data.marital_status,
                sort_name(data),
            )
        )
        for position, name in enumerate(data.names):
            keys = name_search_columns(name, data.birth_date)
            rows["name"].append(
                (
                    patient_id,
                    position,
                    name.use,
                    name.family,
                    list(name.given),
                    keys.family_folded,
                    keys.given_folded,
                    keys.given_names_folded,
                    keys.family_phonetic,
                    keys.given_phonetic,
                    keys.birth_year,
                )
            )
        for identifier in data.identifiers:
            rows["identifier"].append(
                (
                    patient_id,
                    identifier.system,
                    identifier.value,
                    identifier.type_code,
                    identifier.use,
                )
            )
        for telecom in data.telecoms:
            rows["telecom"].append(
                (
                    patient_id,
                    telecom.system,
                    telecom.value,
                    telecom.use,
                    telecom_key(telecom.system, telecom.value),
                )
            )
        for address in data.addresses:
            rows["address"].append(
                (
                    patient_id,
                    address.use,
                    list(address.lines),
                    address.city,
                    address.state,
                    address.postal_code,
                    address.country,
                    postal_key(address.postal_code),
                )
            )
    return rows


def _load_batch(records: list[tuple[UUID, PatientInput]], actor_label: str) -> int:
    """Stage and move one batch; return how many identifiers were skipped as already in use."""
    params: dict[str, Any] = {
        "tenant": current_tenant_id(),
        "now": timezone.now(),
        "actor": actor_label,
    }
    rows = _rows(records)
    skipped = 0
    with transaction.atomic(), tenant_cursor() as cursor:
        for table, columns in _STAGING.items():
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS bulk_{table} ({columns})")
            cursor.execute(f"TRUNCATE bulk_{table}")
            names = ", ".join(column.split()[0] for column in columns.split(", "))
            with cursor.copy(f"COPY bulk_{table} ({names}) FROM STDIN") as copy:
                for row in rows[table]:
                    copy.write_row(row)
        for table, statement in _MOVE.items():
            cursor.execute(statement, params)
            if table == "identifier":
                skipped = len(rows["identifier"]) - cursor.rowcount
    return skipped


def _batches(
    items: Iterable[tuple[UUID, PatientInput]], size: int
) -> Iterator[list[tuple[UUID, PatientInput]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def patients_bulk_load(
    *,
    tenant_id: UUID,
    actor: Principal | None,
    records: Iterable[tuple[UUID, PatientInput]],
    batch_size: int = 10_000,
) -> BulkLoadReport:
    """Validate and load many patients into a tenant, in batches of `batch_size`.

    Each batch is its own tenant transaction (a failure loses at most the batch being written;
    memory stays bounded); invalid records are rejected with their field errors and the rest
    goes on. Each loaded patient gets its `patient.registered` event; one audit row records the
    load. Matching is deferred to the batch dedupe job.
    """
    report = BulkLoadReport()
    today = timezone.localdate()
    label = actor.label if actor else "system"
    for batch in _batches(records, batch_size):
        with tenant_scope(tenant_id):
            domains = identifier_domains()
            valid: list[tuple[UUID, PatientInput]] = []
            for patient_id, data in batch:
                errors = validate_patient(data, today=today, domains=domains)
                if errors:
                    report.rejected += 1
                    if len(report.rejections) < MAX_REPORTED_REJECTIONS:
                        report.rejections.append(
                            (str(patient_id), [f"{e.field}: {e.code}" for e in errors])
                        )
                    continue
                valid.append((patient_id, data))
            if valid:
                report.identifiers_skipped += _load_batch(valid, label)
                # One patient.registered per patient, in the batch's own transaction.
                outbox_enqueue_many(
                    event_type="patient.registered",
                    aggregate_type="patient",
                    items=[(pid, {"patient_id": str(pid), "version": 1}) for pid, _ in valid],
                    actor=actor,
                )
                report.loaded += len(valid)
    with tenant_scope(tenant_id):
        audit_record(
            actor=actor,
            action="patients.bulk_loaded",
            object_type="tenant",
            object_id=str(tenant_id),
            details={
                "loaded": report.loaded,
                "rejected": report.rejected,
                "identifiers_skipped": report.identifiers_skipped,
            },
        )
    return report
