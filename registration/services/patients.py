"""Every write to a patient record.

Each service is atomic and writes its audit row in the same transaction. Updates require the
caller's version of the record (optimistic concurrency): a stale version is refused with 412,
never silently overwritten.
"""

import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from outbox.services.outbox import outbox_enqueue
from registration.models import (
    Patient,
    PatientAddress,
    PatientContact,
    PatientIdentifier,
    PatientName,
    PatientTelecom,
)
from registration.selectors.access import candidate_summary_for
from registration.selectors.domains import identifier_domains
from registration.selectors.vital_status import deceased_among
from registration.services.duplicates import DuplicateCandidate, find_likely_duplicates
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.services.search_keys import (
    birth_year,
    name_search_columns,
    postal_key,
    sort_name,
    telecom_key,
)
from registration.services.validation import validate_identifier_list, validate_patient
from registration.services.versions import patient_versions_retain
from tenancy.db import current_tenant_id
from tenancy.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PreconditionFailedError,
    ValidationFailedError,
)
from tenancy.models import AuditEvent, Role
from tenancy.principal import Principal, current_request_id
from tenancy.services.audit import audit_record
from tenancy.services.idempotency import (
    IdempotencyKey,
    IdempotentReplay,
    idempotent_replay,
    idempotent_request_claim,
)
from tenancy.tracing import traced

MAX_REASON_LENGTH = 500


class DuplicateSuspectedError(ConflictError):
    """The registration looks like an existing patient; resend with an override and a reason."""

    code = "duplicate-suspected"
    title = "Likely duplicate patient"

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len(candidates)} existing patient(s) look like this registration. Review them, "
            "or resend with duplicate_override.reason to register anyway."
        )
        self.candidates = candidates

    def extensions(self) -> dict[str, object]:
        """The candidates: what the front desk needs to recognise the person, no more."""
        return {"candidates": self.candidates}


class DeceasedDuplicateError(DuplicateSuspectedError):
    """A likely duplicate is recorded as deceased: only a data steward's review may proceed.

    Either the person is that patient and alive (a steward refutes the death on the existing
    record, which is then used), or a different person (a steward registers with an override).
    """

    code = "deceased-duplicate"
    title = "Likely duplicate of a deceased patient"

    def __init__(self, candidates: list[dict[str, Any]], deceased_ids: list[UUID]) -> None:
        super().__init__(candidates)
        self.detail = (
            f"{len(deceased_ids)} likely duplicate(s) of this registration are recorded as "
            "deceased. A data steward must review: refute the death on the existing record if "
            "this is that person, or register with duplicate_override as a data steward."
        )
        self.args = (self.detail,)
        self.deceased_ids = deceased_ids

    def extensions(self) -> dict[str, object]:
        """The candidates, and which of them are recorded as deceased."""
        return {
            **super().extensions(),
            "deceased_candidate_ids": [str(pid) for pid in self.deceased_ids],
        }


class IdentifierConflictError(ConflictError):
    """An active identifier with the same system and value belongs to another patient."""

    code = "identifier-conflict"
    title = "Identifier already in use"


class PatientInactiveError(ConflictError):
    """Deactivated records are kept as they were; changes go to the active record."""

    code = "patient-inactive"
    title = "Patient is inactive"


def _emit(actor: Principal | None, event_type: str, patient: Patient, **payload: Any) -> None:
    """Announce a change through the outbox, in the same transaction as the change itself.

    Payloads carry ids and versions only; consumers read the record through the API.
    """
    outbox_enqueue(
        event_type=event_type,
        aggregate_type="patient",
        aggregate_id=patient.id,
        payload={"patient_id": str(patient.id), "version": patient.version, **payload},
        actor=actor,
    )


def _label(actor: Principal | None) -> str:
    return actor.label if actor else "system"


def _require_valid(data: PatientInput) -> None:
    errors = validate_patient(data, today=timezone.localdate(), domains=identifier_domains())
    if errors:
        raise ValidationFailedError("The patient record is invalid.", errors=errors)


def _require_reason(reason: str | None, field: str) -> str:
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON_LENGTH:
        raise ValidationFailedError(
            "A reason is required.",
            errors=[
                FieldError(
                    field, "required", f"Give a reason of 1 to {MAX_REASON_LENGTH} characters."
                )
            ],
        )
    return text


def _check_identifiers_free(
    identifiers: tuple[IdentifierInput, ...],
    *,
    patient_id: UUID | None,
    prefix: str = "identifiers",
) -> None:
    """Refuse identifiers that are active on another patient, saying which ones."""
    if not identifiers:
        return
    wanted = Q()
    for identifier in identifiers:
        wanted |= Q(system=identifier.system, value=identifier.value)
    taken = PatientIdentifier.objects.filter(wanted, retired_at__isnull=True)
    if patient_id is not None:
        taken = taken.exclude(patient_id=patient_id)
    clashes = set(taken.values_list("system", "value"))
    if clashes:
        raise IdentifierConflictError(
            "An identifier is already assigned to another patient.",
            errors=[
                FieldError(f"{prefix}.{index}", "in_use", "Already assigned to another patient.")
                for index, identifier in enumerate(identifiers)
                if (identifier.system, identifier.value) in clashes
            ],
        )


def _apply_scalars(patient: Patient, data: PatientInput) -> None:
    patient.gender = data.gender
    patient.birth_date = data.birth_date
    patient.language = data.language
    patient.marital_status = data.marital_status
    patient.confidentiality = data.confidentiality
    patient.preferred_facility = data.preferred_facility
    patient.mothers_maiden_name = data.mothers_maiden_name
    patient.sort_name = sort_name(data)


def _name_row(
    patient: Patient, position: int, name: NameInput, birth_date: date | None
) -> PatientName:
    keys = name_search_columns(name, birth_date)
    return PatientName(
        tenant_id=patient.tenant_id,
        patient=patient,
        position=position,
        use=name.use,
        family=name.family,
        given=list(name.given),
        prefix=list(name.prefix),
        suffix=list(name.suffix),
        period_start=name.period_start,
        period_end=name.period_end,
        family_folded=keys.family_folded,
        given_folded=keys.given_folded,
        given_names_folded=keys.given_names_folded,
        family_phonetic=keys.family_phonetic,
        given_phonetic=keys.given_phonetic,
        birth_year=keys.birth_year,
    )


def _identifier_row(patient: Patient, identifier: IdentifierInput) -> PatientIdentifier:
    return PatientIdentifier(
        tenant_id=patient.tenant_id,
        patient=patient,
        system=identifier.system,
        value=identifier.value,
        type_code=identifier.type_code,
        use=identifier.use,
        period_start=identifier.period_start,
        period_end=identifier.period_end,
    )


def _telecom_row(patient: Patient, telecom: TelecomInput) -> PatientTelecom:
    return PatientTelecom(
        tenant_id=patient.tenant_id,
        patient=patient,
        system=telecom.system,
        value=telecom.value,
        use=telecom.use,
        rank=telecom.rank,
        value_normalized=telecom_key(telecom.system, telecom.value),
    )


def _address_row(patient: Patient, address: AddressInput) -> PatientAddress:
    return PatientAddress(
        tenant_id=patient.tenant_id,
        patient=patient,
        use=address.use,
        type=address.type,
        lines=list(address.lines),
        city=address.city,
        district=address.district,
        state=address.state,
        postal_code=address.postal_code,
        country=address.country,
        period_start=address.period_start,
        period_end=address.period_end,
        postal_code_normalized=postal_key(address.postal_code),
    )


def _contact_row(patient: Patient, contact: ContactInput) -> PatientContact:
    return PatientContact(
        tenant_id=patient.tenant_id,
        patient=patient,
        relationship=contact.relationship,
        family=contact.family,
        given=list(contact.given),
        phone=contact.phone,
        email=contact.email,
        organization=contact.organization,
    )


def _insert_identifiers(
    patient: Patient, identifiers: tuple[IdentifierInput, ...]
) -> list[PatientIdentifier]:
    """Insert under a savepoint: a concurrent registration of the same identifier loses here."""
    try:
        with transaction.atomic():
            return PatientIdentifier.objects.bulk_create(
                _identifier_row(patient, i) for i in identifiers
            )
    except IntegrityError as exc:
        raise IdentifierConflictError(
            "An identifier is already assigned to another patient."
        ) from exc


_CHILD_TABLES: dict[str, type[models.Model]] = {
    "names": PatientName,
    "telecoms": PatientTelecom,
    "addresses": PatientAddress,
    "contacts": PatientContact,
}


def _replace_children(patient: Patient, data: PatientInput, changed: list[str]) -> None:
    """Rewrite the child lists that changed (identifiers have their own history rules)."""
    for field in changed:
        table = _CHILD_TABLES.get(field)
        if table is not None:
            table._default_manager.filter(patient=patient).delete()
    _write_children(patient, data, only=set(changed))
    if "birth_date" in changed and "names" not in changed:
        # Name rows carry the birth year as a matching key (search_keys.name_search_columns).
        PatientName.objects.filter(patient=patient).update(birth_year=birth_year(data.birth_date))


def _write_children(
    patient: Patient, data: PatientInput, *, only: set[str] | None = None
) -> dict[str, list[Any]]:
    """Insert the child rows of `data` (all of them, or the lists named in `only`); return the
    rows written per relation (with their ids), in the order the selectors read them."""

    def wanted(field: str) -> bool:
        return only is None or field in only

    written: dict[str, list[Any]] = {}
    if wanted("names"):
        written["names"] = PatientName.objects.bulk_create(
            _name_row(patient, i, n, data.birth_date) for i, n in enumerate(data.names)
        )
    if only is None:
        written["identifiers"] = _insert_identifiers(patient, data.identifiers)
    if wanted("telecoms"):
        written["telecoms"] = PatientTelecom.objects.bulk_create(
            _telecom_row(patient, t) for t in data.telecoms
        )
    if wanted("addresses"):
        written["addresses"] = PatientAddress.objects.bulk_create(
            _address_row(patient, a) for a in data.addresses
        )
    if wanted("contacts"):
        written["contacts"] = PatientContact.objects.bulk_create(
            _contact_row(patient, c) for c in data.contacts
        )
    return written


def _hold_children(patient: Patient, rows: Mapping[str, list[Any]]) -> None:
    """Keep rows just written as the patient's loaded relations, as `prefetch_related` would.

    The caller renders the new record from them instead of reading it back (seven queries per
    registration). Django keeps prefetched rows in `_prefetched_objects_cache` as querysets
    whose results are already known; this fills it the same way.
    """
    cache = {}
    for relation, objects in rows.items():
        queryset = getattr(patient, relation).get_queryset()  # lazy: no query
        queryset._result_cache = list(objects)
        queryset._prefetch_done = True
        cache[relation] = queryset
    patient._prefetched_objects_cache = cache  # type: ignore[attr-defined]  # Django's own cache


@traced("patient_register")
def patient_register(
    *,
    actor: Principal | None,
    data: PatientInput,
    duplicate_override_reason: str | None = None,
    idempotency: IdempotencyKey | None = None,
) -> Patient:
    """Register a new patient after checking for likely duplicates.

    Likely duplicates stop the registration (409 with the candidates) unless the caller gives
    an override reason, which is audited together with the candidates it overrode. The patient
    comes back with its children loaded (the rows just written), so rendering it reads nothing.

    With an `idempotency` key, a retry of a registration that already committed (or one racing
    it) raises IdempotentReplay with the first attempt's patient id instead of registering
    again; the key is checked before the duplicate check, which would otherwise find the first
    attempt's patient and refuse the retry as its duplicate.
    """
    if idempotency is not None:
        first_attempt = idempotent_replay(idempotency)
        if first_attempt is not None:
            raise IdempotentReplay(first_attempt)
    _require_valid(data)
    override = duplicate_override_reason is not None
    reason = (
        _require_reason(duplicate_override_reason, "duplicate_override.reason") if override else ""
    )
    candidates = find_likely_duplicates(data)
    deceased = sorted(deceased_among([c.patient_id for c in candidates]), key=str)
    steward_review = override and actor is not None and actor.has_any_role(Role.DATA_STEWARD)
    if deceased and not steward_review:
        patient_access_log(
            actor=actor,
            patient_ids=[c.patient_id for c in candidates],
            action="patient.duplicate_shown",
        )
        raise DeceasedDuplicateError(_candidate_summaries(candidates), deceased)
    if candidates and not override:
        # Showing the candidates is an access to their records: log it (it commits with the 409).
        patient_access_log(
            actor=actor,
            patient_ids=[c.patient_id for c in candidates],
            action="patient.duplicate_shown",
        )
        raise DuplicateSuspectedError(_candidate_summaries(candidates))
    with transaction.atomic():
        patient = Patient(
            tenant_id=current_tenant_id(), created_by=_label(actor), updated_by=_label(actor)
        )
        if idempotency is not None:
            # First write of the transaction: a concurrent attempt with the same key waits here.
            idempotent_request_claim(idempotency, resource_id=patient.id)
        _check_identifiers_free(data.identifiers, patient_id=None)
        _apply_scalars(patient, data)
        patient.save()
        children = _write_children(patient, data)
        details: dict[str, Any] = {"version": 1}
        if candidates:
            details["duplicate_override"] = {
                "reason": reason,
                "candidate_ids": [str(c.patient_id) for c in candidates],
            }
            if deceased:
                details["duplicate_override"]["deceased_candidate_ids"] = [str(d) for d in deceased]
        audit_record(
            actor=actor,
            action="patient.registered",
            object_type="patient",
            object_id=str(patient.id),
            details=details,
        )
        _emit(
            actor,
            "patient.registered",
            patient,
            identifier_ids=sorted(i.id for i in children["identifiers"]),
        )
    # A new record has no links yet; everything else is exactly what was just inserted.
    _hold_children(patient, {**children, "links": []})
    return patient


def _candidate_summaries(candidates: list[DuplicateCandidate]) -> list[dict[str, Any]]:
    patients = {
        p.id: p
        for p in Patient.objects.filter(id__in=[c.patient_id for c in candidates]).prefetch_related(
            "names"
        )
    }
    summaries = []
    for candidate in candidates:
        patient = patients[candidate.patient_id]
        name = next(iter(patient.names.all()), None)
        summaries.append(
            candidate_summary_for(
                patient,
                {
                    "patient_id": str(candidate.patient_id),
                    "matched_on": list(candidate.matched_on),
                    "probability": candidate.probability,
                    "grade": candidate.grade,
                    "family": name.family if name else "",
                    "given": list(name.given) if name else [],
                    "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
                    "gender": patient.gender,
                },
            )
        )
    return summaries


def _locked_patient(patient_id: UUID, expected_version: int | None) -> Patient:
    patient = Patient.objects.select_for_update().filter(id=patient_id).first()
    if patient is None:
        raise NotFoundError("No such patient.")
    if expected_version is not None and patient.version != expected_version:
        raise PreconditionFailedError(
            f"The patient is at version {patient.version}; you sent {expected_version}. "
            "Re-read it and retry."
        )
    return patient


def _require_active(patient: Patient) -> None:
    if not patient.active:
        raise PatientInactiveError("This patient is inactive and cannot be changed.")


def patient_input_of(patient: Patient) -> PatientInput:
    """The current record as a PatientInput (the base a partial update is applied to)."""
    return PatientInput(
        names=tuple(
            NameInput(
                family=n.family,
                given=tuple(n.given),
                use=n.use,
                prefix=tuple(n.prefix),
                suffix=tuple(n.suffix),
                period_start=n.period_start,
                period_end=n.period_end,
            )
            for n in patient.names.all()
        ),
        gender=patient.gender,
        birth_date=patient.birth_date,
        identifiers=tuple(
            IdentifierInput(
                system=i.system,
                value=i.value,
                type_code=i.type_code,
                use=i.use,
                period_start=i.period_start,
                period_end=i.period_end,
            )
            for i in patient.identifiers.filter(retired_at__isnull=True)
        ),
        telecoms=tuple(
            TelecomInput(system=t.system, value=t.value, use=t.use, rank=t.rank)
            for t in patient.telecoms.all()
        ),
        addresses=tuple(
            AddressInput(
                lines=tuple(a.lines),
                city=a.city,
                district=a.district,
                state=a.state,
                postal_code=a.postal_code,
                country=a.country,
                use=a.use,
                type=a.type,
                period_start=a.period_start,
                period_end=a.period_end,
            )
            for a in patient.addresses.all()
        ),
        contacts=tuple(
            ContactInput(
                relationship=c.relationship,
                family=c.family,
                given=tuple(c.given),
                phone=c.phone,
                email=c.email,
                organization=c.organization,
            )
            for c in patient.contacts.all()
        ),
        language=patient.language,
        marital_status=patient.marital_status,
        confidentiality=patient.confidentiality,
        preferred_facility=patient.preferred_facility,
        mothers_maiden_name=patient.mothers_maiden_name,
    )


def _changed_fields(before: PatientInput, after: PatientInput) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(PatientInput)
        if getattr(before, f.name) != getattr(after, f.name)
    ]


@traced("patient_update")
def patient_update(
    *, actor: Principal | None, patient_id: UUID, expected_version: int, data: PatientInput
) -> Patient:
    """Replace the whole record (PUT). Identifiers left out are retired, never deleted."""
    _require_valid(data)
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        return _apply_update(actor, patient, patient_input_of(patient), data)


def _apply_update(
    actor: Principal | None, patient: Patient, before: PatientInput, data: PatientInput
) -> Patient:
    """Write what differs between `before` and `data`: only the changed child lists."""
    changed = _changed_fields(before, data)
    if not changed:
        return patient
    patient_versions_retain([patient.id])
    if "identifiers" in changed:
        _replace_identifiers(patient, before, data)
    _replace_children(patient, data, changed)
    _apply_scalars(patient, data)
    patient.version += 1
    patient.updated_by = _label(actor)
    patient.save()
    audit_record(
        actor=actor,
        action="patient.updated",
        object_type="patient",
        object_id=str(patient.id),
        details={"version": patient.version, "changed": changed},
    )
    _emit(actor, "patient.updated", patient, changed_fields=changed)
    return patient


def _replace_identifiers(patient: Patient, before: PatientInput, data: PatientInput) -> None:
    """Retire identifiers no longer listed, add new ones, refresh the details of kept ones."""
    _check_identifiers_free(data.identifiers, patient_id=patient.id)
    kept = {(i.system, i.value) for i in data.identifiers}
    current = {(i.system, i.value) for i in before.identifiers}
    if current - kept:
        PatientIdentifier.objects.filter(patient=patient, retired_at__isnull=True).exclude(
            _pairs_filter(kept)
        ).update(retired_at=timezone.now(), retired_reason="removed by update")
    _insert_identifiers(
        patient, tuple(i for i in data.identifiers if (i.system, i.value) not in current)
    )
    previous = {(i.system, i.value): i for i in before.identifiers}
    _update_kept_identifier_details(
        patient,
        tuple(
            i
            for i in data.identifiers
            if (i.system, i.value) in previous and previous[(i.system, i.value)] != i
        ),
        current,
    )


def _pairs_filter(pairs: set[tuple[str, str]]) -> Q:
    condition = Q(pk__in=[])
    for system, value in pairs:
        condition |= Q(system=system, value=value)
    return condition


def _update_kept_identifier_details(
    patient: Patient, identifiers: tuple[IdentifierInput, ...], current: set[tuple[str, str]]
) -> None:
    for identifier in identifiers:
        if (identifier.system, identifier.value) in current:
            PatientIdentifier.objects.filter(
                patient=patient,
                retired_at__isnull=True,
                system=identifier.system,
                value=identifier.value,
            ).update(
                type_code=identifier.type_code,
                use=identifier.use,
                period_start=identifier.period_start,
                period_end=identifier.period_end,
            )


PATCHABLE_FIELDS = frozenset(f.name for f in dataclasses.fields(PatientInput))


@traced("patient_patch")
def patient_patch(
    *, actor: Principal | None, patient_id: UUID, expected_version: int, changes: Mapping[str, Any]
) -> Patient:
    """Change only the given top-level fields (PATCH); lists given are replaced whole."""
    unknown = sorted(set(changes) - PATCHABLE_FIELDS)
    if unknown:
        raise ValidationFailedError(
            "Unknown fields.",
            errors=[FieldError(name, "unknown_field", "Not a patient field.") for name in unknown],
        )
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        before = patient_input_of(patient)
        data = dataclasses.replace(before, **changes)
        _require_valid(data)
        return _apply_update(actor, patient, before, data)


@traced("patient_deactivate")
def patient_deactivate(
    *, actor: Principal | None, patient_id: UUID, expected_version: int, reason: str
) -> Patient:
    """Mark a patient inactive (records are never deleted)."""
    text = _require_reason(reason, "reason")
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        patient_versions_retain([patient.id])
        patient.active = False
        patient.deactivated_at = timezone.now()
        patient.deactivation_reason = text
        patient.version += 1
        patient.updated_by = _label(actor)
        patient.save()
        audit_record(
            actor=actor,
            action="patient.deactivated",
            object_type="patient",
            object_id=str(patient.id),
            details={"version": patient.version},
        )
        _emit(actor, "patient.deactivated", patient, reason="other")
    return patient


@traced("identifier_add")
def identifier_add(
    *,
    actor: Principal | None,
    patient_id: UUID,
    identifier: IdentifierInput,
    expected_version: int | None = None,
) -> PatientIdentifier:
    """Give a patient one more identifier (e.g. a new facility's MRN)."""
    errors = validate_identifier_list((identifier,), identifier_domains(), prefix="identifier")
    if errors:
        raise ValidationFailedError(
            "The identifier is invalid.",
            errors=[
                dataclasses.replace(e, field=e.field.replace("identifier.0", "identifier"))
                for e in errors
            ],
        )
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        _check_identifiers_free((identifier,), patient_id=None, prefix="identifier")
        patient_versions_retain([patient.id])
        _insert_identifiers(patient, (identifier,))
        row = PatientIdentifier.objects.get(
            patient=patient,
            system=identifier.system,
            value=identifier.value,
            retired_at__isnull=True,
        )
        patient.version += 1
        patient.updated_by = _label(actor)
        patient.save(update_fields=["version", "updated_by", "updated_at"])
        audit_record(
            actor=actor,
            action="patient.identifier_added",
            object_type="patient",
            object_id=str(patient.id),
            details={"version": patient.version, "identifier_id": row.id, "system": row.system},
        )
        _emit(
            actor,
            "patient.identifier-added",
            patient,
            identifier_id=row.id,
            system=row.system,
            use=row.use,
        )
    return row


@traced("identifier_retire")
def identifier_retire(
    *, actor: Principal | None, patient_id: UUID, identifier_id: int, reason: str
) -> PatientIdentifier:
    """Retire an identifier (entered in error, replaced): kept for history, freed for reuse."""
    text = _require_reason(reason, "reason")
    with transaction.atomic():
        patient = _locked_patient(patient_id, None)
        _require_active(patient)
        row = PatientIdentifier.objects.filter(patient=patient, id=identifier_id).first()
        if row is None:
            raise NotFoundError("No such identifier.")
        if row.retired_at is not None:
            raise ConflictError("The identifier is already retired.")
        patient_versions_retain([patient.id])
        row.retired_at = timezone.now()
        row.retired_reason = text
        row.save(update_fields=["retired_at", "retired_reason"])
        patient.version += 1
        patient.updated_by = _label(actor)
        patient.save(update_fields=["version", "updated_by", "updated_at"])
        audit_record(
            actor=actor,
            action="patient.identifier_retired",
            object_type="patient",
            object_id=str(patient.id),
            details={"version": patient.version, "identifier_id": row.id},
        )
        _emit(actor, "patient.updated", patient, changed_fields=["identifiers"])
    return row


def patient_access_log(
    *,
    actor: Principal | None,
    patient_ids: list[UUID],
    action: str = "patient.read",
    details: Mapping[UUID, Mapping[str, object]] | None = None,
) -> None:
    """Record who saw which patients (HIPAA-style access log), one row per patient, one INSERT.

    `details` adds per-patient facts, such as the grant an access to a restricted patient went
    through (`registration.selectors.access.PatientAccess.audit_details`).
    """
    if not patient_ids:
        return
    tenant_id = current_tenant_id()
    details = details or {}
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant_id=tenant_id,
            actor_user_id=actor.user_id if actor else None,
            actor_api_key_id=actor.api_key_id if actor else None,
            action=action,
            object_type="patient",
            object_id=str(patient_id),
            request_id=current_request_id(),
            details=dict(details.get(patient_id, {})),
        )
        for patient_id in patient_ids
    )
