"""The vital-status REST endpoints: roles, tenants, If-Match, problem+json, the patient view."""

import pytest
from django.test import Client

from registration.models import Patient
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant
from tests.patient_builders import api_body, patient_data

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


@pytest.fixture
def world():
    tenant, other = make_tenant(), make_tenant()
    with tenant_scope(tenant.id):
        patient = patient_register(actor=None, data=patient_data())
    with tenant_scope(other.id):
        foreign = patient_register(actor=None, data=patient_data())
    return {
        "tenant": tenant,
        "patient": patient,
        "foreign": foreign,
        "desk": make_api_key(tenant, Role.FRONT_DESK),
        "steward": make_api_key(tenant, Role.DATA_STEWARD),
        "integrator": make_api_key(tenant, Role.INTEGRATOR),
        "auditor": make_api_key(tenant, Role.AUDITOR),
    }


def call(key, method, path, body=None, if_match=None):
    headers = dict(key.header) if key else {}
    if if_match is not None:
        headers["If-Match"] = if_match
    client = Client()
    return getattr(client, method)(
        path, body or {}, content_type="application/json", headers=headers
    )


def url(patient, suffix=""):
    return f"/api/v1/patients/{patient.id}/vital-status{suffix}"


DEATH = {"deceased_date": "2024-05-17", "source": "hospital"}


def test_read_the_initial_status(world):
    response = call(world["desk"], "get", url(world["patient"]))
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert (body["status"], body["deceased"], body["history"]) == ("alive", False, [])
    with tenant_scope(world["tenant"].id):
        assert AuditEvent.objects.filter(action="patient.vital_status_read").count() == 1


def test_access_rules(world):
    patient = world["patient"]
    assert call(None, "get", url(patient)).status_code == 401
    assert call(world["auditor"], "get", url(patient)).status_code == 403
    assert call(world["desk"], "get", url(world["foreign"])).status_code == 404
    for suffix in ("/verify", "/refute", "/correct"):
        response = call(world["desk"], "post", url(patient, suffix), {"reason": "x"}, '"1"')
        assert response.status_code == 403, suffix
        assert response["Content-Type"] == PROBLEM


def test_the_whole_lifecycle(world):
    patient = world["patient"]
    response = call(world["integrator"], "post", url(patient), DEATH)
    assert response.status_code == 428
    response = call(world["integrator"], "post", url(patient), DEATH, '"9"')
    assert response.status_code == 412
    response = call(world["integrator"], "post", url(patient), DEATH, '"1"')
    assert response.status_code == 201, response.content
    assert response["ETag"] == '"2"'
    body = response.json()
    assert (body["status"], body["deceased"], body["verification"], body["source"]) == (
        "deceased",
        True,
        "reported",
        "hospital",
    )
    assert body["history"][0]["change"] == "recorded"

    read = call(world["desk"], "get", f"/api/v1/patients/{patient.id}").json()
    assert read["vital_status"] == {
        "status": "deceased",
        "deceased": True,
        "deceased_date": "2024-05-17",
        "deceased_date_precision": "day",
        "verification": "reported",
    }

    response = call(
        world["steward"], "post", url(patient, "/verify"), {"note": "certificate"}, '"2"'
    )
    assert response.status_code == 200
    assert response.json()["verification"] == "verified"
    response = call(
        world["steward"],
        "post",
        url(patient, "/correct"),
        {"deceased_date": "2024-05", "reason": "typo"},
        '"3"',
    )
    assert response.status_code == 400  # not a date
    response = call(
        world["steward"],
        "post",
        url(patient, "/correct"),
        {"deceased_date": "2024-05-01", "deceased_date_precision": "month", "reason": "unsure"},
        '"3"',
    )
    assert response.status_code == 200
    assert response.json()["deceased_date_precision"] == "month"
    response = call(
        world["steward"], "post", url(patient, "/refute"), {"reason": "wrong patient"}, '"4"'
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["deceased"], body["verification"]) == ("alive", False, "refuted")
    assert [h["change"] for h in body["history"]] == [
        "recorded",
        "verified",
        "corrected",
        "refuted",
    ]


def test_domain_errors_are_problems(world):
    patient = world["patient"]
    response = call(
        world["desk"], "post", url(patient), {**DEATH, "deceased_date": "2999-01-01"}, '"1"'
    )
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "deceased_date"
    response = call(
        world["desk"], "post", url(patient), {**DEATH, "deceased_date": "1900-01-01"}, '"1"'
    )
    assert response.status_code == 422
    response = call(
        world["desk"], "post", url(patient), {**DEATH, "source": "civil_registry"}, '"1"'
    )
    assert response.status_code == 400  # the registry reports through the inbox
    response = call(world["steward"], "post", url(patient, "/verify"), {}, '"1"')
    assert response.status_code == 409
    assert response.json()["type"].endswith("vital-status-conflict")


def test_re_registering_a_deceased_patient_is_a_409_pointing_at_review(world):
    patient = world["patient"]
    assert call(world["desk"], "post", url(patient), DEATH, '"1"').status_code == 201
    body = {**api_body(patient_data()), "duplicate_override": {"reason": "sure"}}
    response = call(world["desk"], "post", "/api/v1/patients", body)
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("deceased-duplicate")
    assert problem["deceased_candidate_ids"] == [str(patient.id)]
    assert "data steward" in problem["detail"]


def test_fhir_create_of_a_deceased_look_alike_is_a_409_duplicate_even_with_an_override(world):
    patient = world["patient"]
    assert call(world["desk"], "post", url(patient), DEATH, '"1"').status_code == 201
    resource = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "Okafor", "given": ["Adaeze", "Grace"]}],
        "gender": "female",
        "birthDate": "1987-03-14",
        "telecom": [{"system": "phone", "value": "+1 (617) 555-0142", "use": "mobile"}],
    }
    response = Client().post(
        "/fhir/Patient",
        resource,
        content_type="application/fhir+json",
        headers={**world["integrator"].header, "X-Duplicate-Override-Reason": "sure"},
    )
    assert response.status_code == 409
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "duplicate"
    assert "deceased" in outcome["issue"][0]["diagnostics"]
    assert f"Candidate Patient/{patient.id}" in [i["diagnostics"] for i in outcome["issue"]]
    with tenant_scope(world["tenant"].id):
        assert Patient.objects.count() == 1
