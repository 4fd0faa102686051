"""FHIR test helpers: a full FHIR Patient, and every response parsed by two strict libraries."""

import copy
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models import fhirelementfactory

from tests.patient_builders import MRN_SYSTEM

FHIR_JSON = "application/fhir+json"


def full_patient(mrn: str = "MRN-77001", **changes: Any) -> dict[str, Any]:
    """A FHIR Patient using every element this server stores."""
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                "valueString": "Nwosu",
            },
            {
                "url": "https://regsvc.example/fhir/StructureDefinition/preferred-facility",
                "valueString": "north-clinic",
            },
        ],
        "identifier": [
            {
                "use": "official",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": MRN_SYSTEM,
                "value": mrn,
                "period": {"start": "2020-01-01"},
            },
            {"use": "secondary", "system": "urn:oid:1.2.3.4.5", "value": f"X-{mrn}"},
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": "Okafor",
                "given": ["Adaeze", "Grace"],
                "prefix": ["Dr"],
                "suffix": ["PhD"],
                "period": {"start": "2001-02-03", "end": "2030-01-01"},
            },
            {"use": "maiden", "family": "Eze", "given": ["Adaeze"]},
        ],
        "telecom": [
            {"system": "phone", "value": "+1 617 555 0142", "use": "mobile", "rank": 1},
            {"system": "email", "value": "ada@example.org", "use": "home"},
        ],
        "gender": "female",
        "birthDate": "1987-03-14",
        "address": [
            {
                "use": "home",
                "type": "both",
                "line": ["12 Elm Street", "Apt 4"],
                "city": "Boston",
                "district": "Suffolk",
                "state": "MA",
                "postalCode": "02118",
                "country": "US",
                "period": {"start": "2019-05-01"},
            }
        ],
        "maritalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}
            ]
        },
        "contact": [
            {
                "relationship": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                "code": "N",
                            }
                        ]
                    }
                ],
                "name": {"family": "Okafor", "given": ["Chidi"]},
                "telecom": [
                    {"system": "phone", "value": "617-555-0199"},
                    {"system": "email", "value": "chidi@example.org"},
                ],
                "organization": {"display": "Okafor & Sons"},
            }
        ],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]},
                "preferred": True,
            }
        ],
    }
    body.update(copy.deepcopy(changes))
    return body


def strict_parse(body: dict[str, Any]) -> Any:
    """Parse a FHIR JSON resource with fhirclient (R4, strict) and fhir.resources (R4B)."""
    resource_type = body["resourceType"]
    parsed = fhirelementfactory.FHIRElementFactory.instantiate(resource_type, None)
    parsed.update_with_json(copy.deepcopy(body))  # raises on any invalid or unknown element
    get_fhir_model_class(resource_type).model_validate(copy.deepcopy(body))
    return parsed


def without_server_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The resource minus what the server assigns (id, meta)."""
    return {k: v for k, v in body.items() if k not in {"id", "meta"}}
