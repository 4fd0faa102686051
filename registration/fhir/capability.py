"""The CapabilityStatement, generated from the same declarations the endpoints run on."""

from typing import Any

from registration.fhir.operations import patient_operations
from registration.fhir.search import SEARCH_PARAMETERS, SORT_KEYS

FHIR_VERSION = "4.0.1"
PATIENT_INTERACTIONS = ("read", "vread", "update", "create", "search-type", "history-instance")
PDQM_SERVER = "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.Supplier"
PIXM_MANAGER = "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager"


def capability_statement(*, base_url: str, software_version: str) -> dict[str, Any]:
    """What this server supports, for `GET /fhir/metadata`."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-29",
        "kind": "instance",
        "instantiates": [PDQM_SERVER, PIXM_MANAGER],
        "software": {"name": "Registration Service", "version": software_version},
        "implementation": {"description": "Patient registration and MPI", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "Basic",
                                }
                            ],
                            "text": "Authorization: Api-Key <token> (tenant-bound) or a "
                            "console session. Roles decide reads and writes; the fhir module "
                            "must be licensed.",
                        }
                    ],
                    "description": "Every request runs inside its caller's tenant; another "
                    "tenant's patients are not found (404). A restricted patient (security "
                    "label R) opens only with a care-team or break-glass grant (403 forbidden "
                    "otherwise); search and $match list it masked (id and meta only, security "
                    "label MASKED).",
                },
                "resource": [_patient()],
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    }


def _patient() -> dict[str, Any]:
    return {
        "type": "Patient",
        "profile": "http://hl7.org/fhir/StructureDefinition/Patient",
        "interaction": [{"code": code} for code in PATIENT_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": False,
        "conditionalCreate": True,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [
            {
                "name": p.name,
                "definition": p.definition,
                "type": p.type,
                "documentation": _documentation(p.documentation, p.modifiers),
            }
            for p in SEARCH_PARAMETERS
        ],
        "documentation": (
            f"Sort keys (_sort, prefix - to reverse): {', '.join(SORT_KEYS)}. Paging: follow "
            "the Bundle's next/previous links. _total: none (default), estimate, accurate. "
            "_summary: count or false. Unknown parameters are a 400."
        ),
        **_operations(),
    }


def _operations() -> dict[str, Any]:
    operations = [{"name": op.name, "definition": op.definition} for op in patient_operations()]
    return {"operation": operations} if operations else {}


def _documentation(text: str, modifiers: tuple[str, ...]) -> str:
    if not modifiers:
        return text
    return f"{text} Modifiers: {', '.join(':' + m for m in modifiers)}."
