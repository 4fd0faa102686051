"""`Patient/$match` (IHE PDQm ITI-119) and `Patient/$ihe-pix` (IHE PIXm ITI-83).

Both parse, call the matcher or a selector, and render FHIR; registration's FHIR views route
to them through its operation registry (`register_fhir_operations`, from `mpi.apps`).
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fhirclient.models.parameters import Parameters

from mpi.api.views import MATCH_ROLES
from mpi.matching.score import MatchGrade
from mpi.selectors.cross_reference import (
    active_identifiers,
    identifier_holder,
    known_system,
    linked_patient_ids,
)
from mpi.services.matching import MAX_COUNT, ScoredCandidate, match_patient
from registration.fhir.mapping import (
    MASKED_LABEL,
    FhirStructureError,
    extension_url,
    masked_patient_json,
    parse_resource,
    patient_input_from_json,
    patient_json,
)
from registration.fhir.operations import (
    OperationCall,
    OperationResult,
    PatientOperation,
    register_operation,
)
from registration.fhir.search import SearchParameterError
from registration.selectors.access import patients_access, patients_access_by_ids
from registration.selectors.patient_filters import id_condition, patients_where
from registration.selectors.portraits import with_portrait_rows
from registration.services.patients import patient_access_log
from tenancy.errors import DomainError, FieldError, NotFoundError, ValidationFailedError

MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
ITI_119_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-match"
ITI_83_DEFINITION = "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix"
DEFAULT_MATCH_COUNT = 10
_GRADES = {
    MatchGrade.CERTAIN: "certain",
    MatchGrade.PROBABLE: "probable",
    MatchGrade.POSSIBLE: "possible",
    MatchGrade.CERTAINLY_NOT: "certainly-not",
}


def match_explanation_url() -> str:
    """Our extension on `entry.search`: the per-field evidence behind a score."""
    return extension_url("match-explanation")


class CodeInvalidError(DomainError):
    """PIXm: the source assigning authority is unknown (400 code-invalid)."""

    code = "code-invalid"
    title = "Unknown assigning authority"
    status = 400


class TargetSystemUnknownError(CodeInvalidError):
    """PIXm: a requested target domain is unknown (403, as ITI-83 specifies)."""

    status = 403


# --- $match ----------------------------------------------------------------------------------


def _bad(name: str, message: str) -> FhirStructureError:
    return FhirStructureError(
        f"Parameters.{name}: {message}",
        errors=[FieldError(f"Parameters.parameter.{name}", "structure", message)],
    )


def _match_request(body: Any) -> tuple[Any, bool, int]:
    """(Patient JSON, onlyCertainMatches, count) from a Parameters body or a bare Patient."""
    if isinstance(body, dict) and body.get("resourceType") == "Patient":
        return body, False, DEFAULT_MATCH_COUNT
    parse_resource(body, "Parameters", Parameters)
    resource, only_certain, count = None, False, DEFAULT_MATCH_COUNT
    for parameter in body.get("parameter") or []:
        name = parameter.get("name")
        if name == "resource":
            resource = parameter.get("resource")
        elif name == "onlyCertainMatches" and isinstance(parameter.get("valueBoolean"), bool):
            only_certain = parameter["valueBoolean"]
        elif name == "count" and isinstance(parameter.get("valueInteger"), int):
            count = parameter["valueInteger"]
            if not 1 <= count <= MAX_COUNT:
                raise _bad("count", f"from 1 to {MAX_COUNT}.")
        else:
            raise _bad(str(name), "not a parameter of $match (or wrong value type).")
    if resource is None:
        raise _bad("resource", "the Patient to match is required.")
    return resource, only_certain, count


def _explanation(
    candidate: ScoredCandidate, model_version: str, *, masked: bool = False
) -> dict[str, Any]:
    """The match-explanation extension; for a masked (restricted) candidate only the model
    version and total weight, no per-field evidence about its name or birth date."""
    fields = [
        {
            "url": "field",
            "extension": [
                {"url": "name", "valueString": entry.field},
                {"url": "level", "valueString": str(entry.level)},
                {"url": "weight", "valueDecimal": round(entry.weight, 4)},
            ],
        }
        for entry in ([] if masked else candidate.explanation)
    ]
    summary = [
        {"url": "model-version", "valueString": model_version},
        {"url": "weight", "valueDecimal": round(candidate.weight, 4)},
    ]
    if candidate.grade_capped_by:
        summary.append({"url": "grade-capped-by", "valueString": candidate.grade_capped_by})
    return {"url": match_explanation_url(), "extension": summary + fields}


def patient_match(call: OperationCall) -> OperationResult:
    """ITI-119: the tenant's patients most likely to be the one described, best first."""
    resource, only_certain, count = _match_request(call.body)
    data = patient_input_from_json(resource).data
    if not (data.names or data.identifiers or data.telecoms):
        raise ValidationFailedError(
            "Nothing to match on.",
            errors=[FieldError("Patient.name", "required", "Give a name, identifier or telecom.")],
        )
    chosen: tuple[ScoredCandidate, ...]
    if only_certain:
        # A match only when exactly one certain candidate exists and blocking saw everything.
        result = match_patient(data, count=2, only_certain=True)
        chosen = result.candidates if len(result.candidates) == 1 and not result.truncated else ()
    else:
        result = match_patient(data, count=count)
        chosen = result.candidates
    ids = [candidate.patient_id for candidate in chosen]
    rows = with_portrait_rows(patients_where([id_condition(ids)], order_by=("id",)))
    patients = {p.id: p for p in rows}
    # Restricted candidates the caller may not open are shown masked, as in search results.
    access = patients_access(call.principal, patients.values())
    patient_access_log(
        actor=call.principal,
        patient_ids=ids,
        action="patient.match_shown",
        details={pid: access[pid].audit_details() for pid in ids},
    )
    masked = {pid for pid in ids if not access[pid].allowed}
    entries = [
        {
            "fullUrl": f"{call.base_url}/Patient/{candidate.patient_id}",
            "resource": (
                masked_patient_json(patients[candidate.patient_id])
                if candidate.patient_id in masked
                else patient_json(patients[candidate.patient_id])
            ),
            "search": {
                "extension": [
                    {"url": MATCH_GRADE_URL, "valueCode": _GRADES[candidate.grade]},
                    _explanation(
                        candidate, result.model_version, masked=candidate.patient_id in masked
                    ),
                ],
                "mode": "match",
                "score": round(candidate.probability, 6),
            },
        }
        for candidate in chosen
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
    if entries:
        bundle["entry"] = entries
    return OperationResult(bundle)


# --- $ihe-pix --------------------------------------------------------------------------------

Linker = Callable[[UUID], set[UUID]]
_LINKERS: list[Linker] = []


def register_pix_linker(linker: Linker) -> None:
    """HOOK: add the patients linked to or merged with a patient (merges, enterprise links)."""
    if linker not in _LINKERS:
        _LINKERS.append(linker)


def _one(call: OperationCall, name: str, *, required: bool) -> str | None:
    values = call.params.get(name) or []
    if len(values) > 1:
        raise SearchParameterError(f"{name}: give it once.")
    if required and not values:
        raise SearchParameterError(f"{name} is required.")
    return values[0] if values else None


def ihe_pix(call: OperationCall) -> OperationResult:
    """ITI-83: the identifiers (and Patient ids) of a person, from one of its identifiers."""
    unknown = sorted(set(call.params) - {"sourceIdentifier", "targetSystem", "_format"})
    if unknown:
        raise SearchParameterError(f"Unknown parameter: {', '.join(unknown)}.")
    source = _one(call, "sourceIdentifier", required=True) or ""
    system, separator, value = source.partition("|")
    if not (separator and system and value):
        raise SearchParameterError("sourceIdentifier: give system|value.")
    if not known_system(system):
        raise CodeInvalidError("sourceIdentifier Assigning Authority not found.")
    targets = list(call.params.get("targetSystem") or [])
    if any(not known_system(target) for target in targets):
        raise TargetSystemUnknownError("targetSystem not found.")
    holder = identifier_holder(system, value)
    if holder is None:
        raise NotFoundError("sourceIdentifier Patient Identifier not found.")
    patient_ids = {holder}
    for linker in _LINKERS:
        patient_ids |= linker(holder)
    ordered = sorted(patient_ids, key=str)
    # A restricted record the caller may not open keeps its targetId (as search lists it
    # masked) but none of its identifiers; the answer then carries the MASKED label.
    access = patients_access_by_ids(call.principal, ordered)
    closed = {pid for pid in ordered if not access[pid].allowed}
    parameters = [
        {
            "name": "targetIdentifier",
            "valueIdentifier": {"use": i.use, "system": i.system, "value": i.value},
        }
        for i in active_identifiers(patient_ids - closed)
        if (i.system, i.value) != (system, value) and (not targets or i.system in targets)
    ]
    parameters.extend(
        {"name": "targetId", "valueReference": {"reference": f"Patient/{patient_id}"}}
        for patient_id in ordered
    )
    patient_access_log(
        actor=call.principal,
        patient_ids=ordered,
        action="patient.pix",
        details={pid: access[pid].audit_details() for pid in ordered},
    )
    result: dict[str, Any] = {"resourceType": "Parameters", "parameter": parameters}
    if closed:
        result["meta"] = {"security": [MASKED_LABEL]}
    return OperationResult(result)


def register_fhir_operations() -> None:
    """Plug $match and $ihe-pix into registration's FHIR facade (from MpiConfig.ready), and
    the cross-reference of linked and merged records into $ihe-pix."""
    register_pix_linker(linked_patient_ids)
    register_operation(
        PatientOperation(
            name="match",
            definition=ITI_119_DEFINITION,
            documentation="IHE PDQm ITI-119 Patient Demographics Match.",
            methods=frozenset({"POST"}),
            roles=tuple(str(role) for role in MATCH_ROLES),
            handler=patient_match,
        )
    )
    register_operation(
        PatientOperation(
            name="ihe-pix",
            definition=ITI_83_DEFINITION,
            documentation="IHE PIXm ITI-83 Mobile Patient Identifier Cross-reference Query.",
            methods=frozenset({"GET"}),
            roles=tuple(str(role) for role in MATCH_ROLES),
            handler=ihe_pix,
        )
    )
