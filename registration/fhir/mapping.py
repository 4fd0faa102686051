"""The relational patient as a FHIR R4 Patient, and a FHIR Patient as a PatientInput.

Both directions go through fhirclient's R4 models in strict mode: what we render must be a
valid Patient, and what we accept must be one (unknown elements, wrong types: 400). Each
Patient element has one renderer function; elements another feature owns (deceased[x] from
vital status, photo from portraits, link from merges) plug in with `register_element_renderer`
and stop being refused on input by `accept_input_element`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from fhirclient.models.fhirabstractbase import FHIRValidationError
from fhirclient.models.patient import Patient as FhirPatient

from registration.models import Patient
from registration.models.codes import Confidentiality
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from tenancy.errors import DomainError, FieldError

IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONTACT_RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0131"
MARITAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
RESTRICTED_LABEL = {"system": CONFIDENTIALITY_SYSTEM, "code": "R", "display": "restricted"}
OBSERVATION_VALUE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
# The security-label obligation "masked": the resource is present, its content withheld.
MASKED_LABEL = {"system": OBSERVATION_VALUE_SYSTEM, "code": "MASKED", "display": "masked"}

Json = dict[str, Any]


def extension_url(name: str) -> str:
    """Canonical URL of one of this service's extensions."""
    return f"{settings.FHIR_DEFINITION_BASE}StructureDefinition/{name}"


# The core R4 extension (http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName).
MOTHERS_MAIDEN_NAME_URL = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"


def preferred_facility_url() -> str:
    """The extension carrying the patient's preferred facility (no core Patient element)."""
    return extension_url("preferred-facility")


class FhirStructureError(DomainError):
    """The body is not a valid FHIR R4 resource of the expected type (400 `structure`)."""

    code = "structure"
    title = "Invalid FHIR resource"
    status = 400


class FhirNotSupportedError(DomainError):
    """A valid element this server does not (yet) store: refused rather than dropped."""

    code = "not-supported"
    title = "Element not supported"
    status = 422


# --- model -> FHIR -------------------------------------------------------------------------


def _period(start: date | None, end: date | None) -> Json | None:
    period = {key: value.isoformat() for key, value in (("start", start), ("end", end)) if value}
    return period or None


def _compact(values: dict[str, Any]) -> Json:
    """Drop empty members: FHIR forbids empty strings, arrays and objects."""
    return {key: value for key, value in values.items() if value not in (None, "", [], {})}


def _names(patient: Patient, resource: Json) -> None:
    resource["name"] = [
        _compact(
            {
                "use": n.use,
                "family": n.family,
                "given": list(n.given),
                "prefix": list(n.prefix),
                "suffix": list(n.suffix),
                "period": _period(n.period_start, n.period_end),
            }
        )
        for n in patient.names.all()
    ]


def _identifiers(patient: Patient, resource: Json) -> None:
    resource["identifier"] = [
        _compact(
            {
                "use": i.use,
                "type": (
                    {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": i.type_code}]}
                    if i.type_code
                    else None
                ),
                "system": i.system,
                "value": i.value,
                "period": _period(i.period_start, i.period_end),
            }
        )
        for i in patient.identifiers.all()
        if i.retired_at is None
    ]


def _telecoms(patient: Patient, resource: Json) -> None:
    resource["telecom"] = [
        _compact({"system": t.system, "value": t.value, "use": t.use, "rank": t.rank})
        for t in patient.telecoms.all()
    ]


def _addresses(patient: Patient, resource: Json) -> None:
    resource["address"] = [
        _compact(
            {
                "use": a.use,
                "type": a.type,
                "line": list(a.lines),
                "city": a.city,
                "district": a.district,
                "state": a.state,
                "postalCode": a.postal_code,
                "country": a.country,
                "period": _period(a.period_start, a.period_end),
            }
        )
        for a in patient.addresses.all()
    ]


def _contacts(patient: Patient, resource: Json) -> None:
    resource["contact"] = [
        _compact(
            {
                "relationship": [
                    {"coding": [{"system": CONTACT_RELATIONSHIP_SYSTEM, "code": c.relationship}]}
                ],
                "name": _compact({"family": c.family, "given": list(c.given)}),
                "telecom": [
                    {"system": system, "value": value}
                    for system, value in (("phone", c.phone), ("email", c.email))
                    if value
                ],
                "organization": {"display": c.organization} if c.organization else None,
            }
        )
        for c in patient.contacts.all()
    ]


def _scalars(patient: Patient, resource: Json) -> None:
    resource["active"] = patient.active
    resource["gender"] = patient.gender
    if patient.birth_date:
        resource["birthDate"] = patient.birth_date.isoformat()
    if patient.marital_status:
        resource["maritalStatus"] = {
            "coding": [{"system": MARITAL_STATUS_SYSTEM, "code": patient.marital_status}]
        }
    if patient.language:
        resource["communication"] = [
            {
                "language": {"coding": [{"system": LANGUAGE_SYSTEM, "code": patient.language}]},
                "preferred": True,
            }
        ]
    extensions = [
        {"url": url, "valueString": value}
        for url, value in (
            (MOTHERS_MAIDEN_NAME_URL, patient.mothers_maiden_name),
            (preferred_facility_url(), patient.preferred_facility),
        )
        if value
    ]
    if extensions:
        resource["extension"] = extensions


ElementRenderer = Callable[[Patient, Json], None]

# One function per Patient element (or group); later features append theirs.
_RENDERERS: list[ElementRenderer] = [
    _scalars,
    _identifiers,
    _names,
    _telecoms,
    _addresses,
    _contacts,
]


def register_element_renderer(renderer: ElementRenderer) -> None:
    """Add the renderer of another element (deceased[x], photo, link), called at start-up."""
    if renderer not in _RENDERERS:
        _RENDERERS.append(renderer)


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def patient_resource(patient: Patient) -> FhirPatient:
    """The patient (with its children prefetched) as a strict fhirclient R4 Patient."""
    meta: Json = {"versionId": str(patient.version), "lastUpdated": _instant(patient.updated_at)}
    if patient.confidentiality == Confidentiality.RESTRICTED:
        meta["security"] = [RESTRICTED_LABEL]
    resource: Json = {"resourceType": "Patient", "id": str(patient.id), "meta": meta}
    for render in _RENDERERS:
        render(patient, resource)
    return FhirPatient(_compact(resource), strict=True)


def patient_json(patient: Patient) -> Json:
    """The patient as FHIR JSON."""
    rendered: Json = patient_resource(patient).as_json()
    return rendered


def masked_patient_json(patient: Patient) -> Json:
    """A restricted patient as a caller without a grant sees it in results: that it exists.

    Only `id` and `meta` (version, lastUpdated, the `R` confidentiality label and the
    `MASKED` obligation label); no name, identifier, birth date, gender or anything else.
    """
    meta: Json = {
        "versionId": str(patient.version),
        "lastUpdated": _instant(patient.updated_at),
        "security": [RESTRICTED_LABEL, MASKED_LABEL],
    }
    resource = {"resourceType": "Patient", "id": str(patient.id), "meta": meta}
    rendered: Json = FhirPatient(resource, strict=True).as_json()
    return rendered


# --- FHIR -> input -------------------------------------------------------------------------

# Elements a client may send that are derived or informational, never stored.
_IGNORED_ELEMENTS = frozenset({"resourceType", "id", "meta", "text", "active"})
_SUPPORTED_ELEMENTS = {
    "identifier",
    "name",
    "telecom",
    "gender",
    "birthDate",
    "address",
    "maritalStatus",
    "contact",
    "communication",
    "extension",
}


def accept_input_element(element: str) -> None:
    """Let another feature accept an element on input (it reads it with its own service)."""
    _SUPPORTED_ELEMENTS.add(element)


# Checks of accepted elements that are not written through the Patient (deceased[x], photo,
# link): given the body and the stored patient (None on create), raise when the body asks
# for a change that has its own service.
InputCheck = Callable[[Json, Patient | None], None]
_INPUT_CHECKS: list[InputCheck] = []


def register_input_check(check: InputCheck) -> None:
    """Add a check of an accepted element against the stored patient (called at start-up)."""
    if check not in _INPUT_CHECKS:
        _INPUT_CHECKS.append(check)


def check_input_against(body: object, current: Patient | None) -> None:
    """Run every registered input check (after `patient_input_from_json` accepted `body`)."""
    if isinstance(body, dict):
        for check in _INPUT_CHECKS:
            check(body, current)


def _validation_paths(error: FHIRValidationError, prefix: str = "Patient") -> list[str]:
    here = f"{prefix}.{error.path}" if error.path else prefix
    paths: list[str] = []
    for inner in error.errors:
        if isinstance(inner, FHIRValidationError):
            paths.extend(_validation_paths(inner, here))
        else:
            paths.append(here)
    return sorted(set(paths)) or [prefix]


def parse_resource(body: object, resource_type: str, model: Callable[..., Any]) -> Any:
    """Parse a JSON body with a strict fhirclient model; the paths of what is wrong, no values."""
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise FhirStructureError(
            f"Expected a {resource_type} resource.",
            errors=[FieldError("resourceType", "structure", f"Must be {resource_type}.")],
        )
    try:
        return model(body, strict=True)
    except FHIRValidationError as exc:
        raise FhirStructureError(
            f"The {resource_type} does not conform to FHIR R4.",
            errors=[
                FieldError(path, "structure", "Unknown element or wrong type.")
                for path in _validation_paths(exc, resource_type)
            ],
        ) from exc


def _date(value: Any) -> date | None:
    if value is None:
        return None
    text = value.as_json()
    if len(text) != 10:
        raise FhirNotSupportedError(
            "Only full dates (YYYY-MM-DD) are stored.",
            errors=[FieldError("date", "not-supported", "Give a full date.")],
        )
    result: date = value.date
    return result


def _code(concept: Any, system: str) -> str:
    """The code of `system` in a CodeableConcept, else its first code."""
    codings = (concept.coding or []) if concept is not None else []
    chosen = next((c for c in codings if c.system == system), codings[0] if codings else None)
    return str(chosen.code or "") if chosen is not None else ""


def _period_dates(period: Any) -> tuple[date | None, date | None]:
    if period is None:
        return None, None
    return _date(period.start), _date(period.end)


def _name_input(name: Any) -> NameInput:
    start, end = _period_dates(name.period)
    return NameInput(
        family=name.family or "",
        given=tuple(name.given or ()),
        use=name.use or "official",
        prefix=tuple(name.prefix or ()),
        suffix=tuple(name.suffix or ()),
        period_start=start,
        period_end=end,
    )


def _identifier_input(identifier: Any) -> IdentifierInput:
    start, end = _period_dates(identifier.period)
    return IdentifierInput(
        system=identifier.system or "",
        value=identifier.value or "",
        type_code=_code(identifier.type, IDENTIFIER_TYPE_SYSTEM),
        use=identifier.use or "usual",
        period_start=start,
        period_end=end,
    )


def _address_input(address: Any) -> AddressInput:
    start, end = _period_dates(address.period)
    return AddressInput(
        lines=tuple(address.line or ()),
        city=address.city or "",
        district=address.district or "",
        state=address.state or "",
        postal_code=address.postalCode or "",
        country=address.country or "",
        use=address.use or "",
        type=address.type or "",
        period_start=start,
        period_end=end,
    )


def _contact_input(contact: Any) -> ContactInput:
    telecoms = contact.telecom or []
    relationship = contact.relationship[0] if contact.relationship else None
    return ContactInput(
        relationship=_code(relationship, CONTACT_RELATIONSHIP_SYSTEM),
        family=(contact.name.family or "") if contact.name else "",
        given=tuple(contact.name.given or ()) if contact.name else (),
        phone=next((t.value or "" for t in telecoms if t.system == "phone"), ""),
        email=next((t.value or "" for t in telecoms if t.system == "email"), ""),
        organization=(contact.organization.display or "") if contact.organization else "",
    )


def _language(resource: Any) -> str:
    communications = resource.communication or []
    preferred = next((c for c in communications if c.preferred), None)
    chosen = preferred or (communications[0] if communications else None)
    return _code(chosen.language, LANGUAGE_SYSTEM) if chosen else ""


def _restricted(resource: Any) -> bool:
    labels = (resource.meta.security or []) if resource.meta else []
    return any(
        label.system == CONFIDENTIALITY_SYSTEM and label.code in {"R", "V"} for label in labels
    )


def _extension_string(resource: Any, url: str) -> str:
    return next(
        (e.valueString or "" for e in resource.extension or [] if e.url == url),
        "",
    )


@dataclass(frozen=True, slots=True)
class PatientResourceInput:
    """What a FHIR Patient asks for: the record, and its `active` flag if stated."""

    data: PatientInput
    active: bool | None


def _refuse_unsupported(body: Json) -> None:
    unsupported = sorted(
        key
        for key in body
        if key not in _IGNORED_ELEMENTS
        and key not in _SUPPORTED_ELEMENTS
        and not key.startswith("_")
    )
    if unsupported:
        raise FhirNotSupportedError(
            "The Patient has elements this server does not store.",
            errors=[
                FieldError(f"Patient.{key}", "not-supported", "Not stored by this server.")
                for key in unsupported
            ],
        )


def patient_input_from_json(body: object) -> PatientResourceInput:
    """A FHIR Patient (JSON) as a PatientInput; 400 if not a valid Patient, 422 if unstored."""
    resource = parse_resource(body, "Patient", FhirPatient)
    assert isinstance(body, dict)  # noqa: S101 - parse_resource checked it; narrows the type
    _refuse_unsupported(body)
    try:
        data = PatientInput(
            names=tuple(_name_input(n) for n in resource.name or ()),
            gender=resource.gender or "unknown",
            birth_date=_date(resource.birthDate),
            identifiers=tuple(_identifier_input(i) for i in resource.identifier or ()),
            telecoms=tuple(
                TelecomInput(
                    system=t.system or "", value=t.value or "", use=t.use or "", rank=t.rank
                )
                for t in resource.telecom or ()
            ),
            addresses=tuple(_address_input(a) for a in resource.address or ()),
            contacts=tuple(_contact_input(c) for c in resource.contact or ()),
            language=_language(resource),
            marital_status=_code(resource.maritalStatus, MARITAL_STATUS_SYSTEM),
            confidentiality=(
                Confidentiality.RESTRICTED if _restricted(resource) else Confidentiality.NORMAL
            ),
            preferred_facility=_extension_string(resource, preferred_facility_url()),
            mothers_maiden_name=_extension_string(resource, MOTHERS_MAIDEN_NAME_URL),
        )
    except FhirNotSupportedError as exc:
        raise FhirNotSupportedError(
            "Partial dates are not stored; give full dates (YYYY-MM-DD).",
            errors=[FieldError("Patient", "not-supported", "Give full dates.")],
        ) from exc
    return PatientResourceInput(data=data, active=resource.active)
