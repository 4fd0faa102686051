"""FHIR Patient <-> relational patient: every supported element survives the round trip."""

import pytest

from registration.fhir.mapping import (
    FhirNotSupportedError,
    FhirStructureError,
    patient_input_from_json,
    patient_json,
)
from registration.selectors.patients import patient_get
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tests.factories import make_tenant
from tests.integration.fhir.conftest import full_patient, strict_parse, without_server_fields

pytestmark = pytest.mark.django_db


def _round_trip(body):
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        parsed = patient_input_from_json(body)
        patient = patient_register(actor=None, data=parsed.data)
        return patient_json(patient_get(patient_id=patient.id))


def test_fhir_to_model_to_fhir_is_lossless_for_every_supported_element():
    body = full_patient()
    rendered = _round_trip(body)
    strict_parse(rendered)
    assert without_server_fields(rendered) == body
    assert rendered["meta"]["versionId"] == "1"
    assert rendered["meta"]["lastUpdated"].endswith("+00:00")
    assert "security" not in rendered["meta"]


def test_restricted_patient_carries_the_confidentiality_label_both_ways():
    label = {
        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "code": "R",
        "display": "restricted",
    }
    body = full_patient(meta={"security": [label]})
    rendered = _round_trip(body)
    assert rendered["meta"]["security"] == [label]


def test_minimal_patient_round_trips_without_invented_elements():
    body = {
        "resourceType": "Patient",
        "active": True,
        "name": [{"use": "official", "family": "Ng"}],
        "gender": "unknown",
    }
    assert without_server_fields(_round_trip(body)) == body


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Observation"},
        ["not", "an", "object"],
        {"resourceType": "Patient", "gender": 3},
        {"resourceType": "Patient", "nickname": "x"},
    ],
)
def test_invalid_resources_are_structure_errors_without_values(body):
    with pytest.raises(FhirStructureError) as caught:
        patient_input_from_json(body)
    assert "3" not in caught.value.detail


@pytest.mark.parametrize(
    "changes",
    [
        {"multipleBirthInteger": 2},
        {"generalPractitioner": [{"reference": "Practitioner/1"}]},
        {"birthDate": "1987-03"},
    ],
)
def test_elements_not_stored_are_refused_not_dropped(changes):
    with pytest.raises(FhirNotSupportedError):
        patient_input_from_json(full_patient(**changes))
