"""FHIR Patient create / read / vread / update / history, formats, and OperationOutcomes."""

from dataclasses import dataclass
from datetime import date

import pytest
from django.test import Client

from registration.fhir.operations import _OPERATIONS, PatientOperation, register_operation
from registration.models import Patient
from registration.services.inputs import NameInput, TelecomInput
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.errors import PermissionDeniedError
from tenancy.models import AuditEvent, Role
from tests.factories import KeyFixture, make_api_key, make_tenant
from tests.integration.fhir.conftest import FHIR_JSON, full_patient, strict_parse
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db


def unrelated_person():
    """Someone the matcher never takes for the full_patient() test person."""
    return patient_data(
        names=(NameInput(family="Lindqvist", given=("Sven",)),),
        birth_date=date(1950, 6, 1),
        gender="male",
        telecoms=(TelecomInput(system="phone", value="+46 8 555 0100"),),
        contacts=(),
    )


@dataclass
class World:
    key: KeyFixture
    auditor: KeyFixture
    steward: KeyFixture
    patient: Patient
    foreign: Patient


@pytest.fixture
def world() -> World:
    tenant, other = make_tenant(), make_tenant()
    with tenant_scope(tenant.id):
        patient = patient_register(actor=None, data=unrelated_person())
    with tenant_scope(other.id):
        foreign = patient_register(actor=None, data=patient_data())
    return World(
        key=make_api_key(tenant, Role.INTEGRATOR),
        auditor=make_api_key(tenant, Role.AUDITOR),
        steward=make_api_key(tenant, Role.DATA_STEWARD),
        patient=patient,
        foreign=foreign,
    )


def _client(key: KeyFixture | None) -> Client:
    return Client(headers=key.header if key else {})


def _outcome(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == FHIR_JSON
    body = response.json()
    strict_parse(body)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    return body


def _post(client: Client, body, **headers):
    return client.post("/fhir/Patient", body, content_type=FHIR_JSON, headers=headers)


def test_create_answers_201_with_location_etag_and_the_resource(world):
    response = _post(_client(world.key), full_patient())
    assert response.status_code == 201, response.content
    body = response.json()
    strict_parse(body)
    assert response["Content-Type"] == FHIR_JSON
    assert response["ETag"] == 'W/"1"'
    assert response["Location"] == f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert body["name"][0]["family"] == "Okafor"


def test_create_accepts_plain_json_and_answers_plain_json_when_asked(world):
    response = _client(world.key).post(
        "/fhir/Patient",
        full_patient(),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"


def test_conditional_create_returns_the_existing_patient(world):
    client = _client(world.key)
    first = _post(client, full_patient(mrn="MRN-1"))
    assert first.status_code == 201
    again = _post(client, full_patient(mrn="MRN-1"), **{"If-None-Exist": "identifier=|MRN-1"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    fresh = _post(
        client,
        full_patient(mrn="MRN-2", name=[{"family": "Other", "given": ["Person"]}]),
        **{"If-None-Exist": "identifier=|MRN-2", "X-Duplicate-Override-Reason": "checked"},
    )
    assert fresh.status_code == 201


def test_conditional_create_matching_several_is_412(world):
    client = _client(world.key)
    assert _post(client, full_patient(mrn="A-1")).status_code == 201
    second = full_patient(mrn="A-2", name=[{"family": "Zed", "given": ["Yan"]}])
    second["birthDate"] = "1950-01-01"
    assert _post(client, second).status_code == 201
    response = _post(client, full_patient(mrn="A-3"), **{"If-None-Exist": "gender=female"})
    _outcome(response, 412, "conflict")


def test_likely_duplicate_is_409_duplicate_without_phi_and_can_be_overridden(world):
    client = _client(world.key)
    assert _post(client, full_patient(mrn="D-1")).status_code == 201
    duplicate = _post(client, full_patient(mrn="D-2"))
    body = _outcome(duplicate, 409, "duplicate")
    assert "Okafor" not in duplicate.content.decode()
    assert any(i["diagnostics"].startswith("Candidate Patient/") for i in body["issue"])
    forced = _post(client, full_patient(mrn="D-2"), **{"X-Duplicate-Override-Reason": "twins"})
    assert forced.status_code == 201


def test_read_and_vread(world):
    client = _client(world.key)
    pid = world.patient.id
    read = client.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 200
    strict_parse(read.json())
    assert read["ETag"] == 'W/"1"'
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["id"] == str(pid)
    _outcome(client.get(f"/fhir/Patient/{pid}/_history/2"), 404, "not-found")
    with tenant_scope(world.key.tenant_id):
        assert AuditEvent.objects.filter(action="patient.read", object_id=str(pid)).count() == 2


def test_update_with_if_match_bumps_the_version_and_keeps_the_old_one(world):
    client = _client(world.key)
    created = _post(client, full_patient(mrn="U-1")).json()
    changed = {**created, "gender": "other"}
    missing = client.put(f"/fhir/Patient/{created['id']}", changed, content_type=FHIR_JSON)
    _outcome(missing, 428, "required")
    updated = client.put(
        f"/fhir/Patient/{created['id']}",
        changed,
        content_type=FHIR_JSON,
        headers={"If-Match": 'W/"1"'},
    )
    assert updated.status_code == 200, updated.content
    assert updated["ETag"] == 'W/"2"'
    assert updated.json()["gender"] == "other"
    stale = client.put(
        f"/fhir/Patient/{created['id']}",
        changed,
        content_type=FHIR_JSON,
        headers={"If-Match": 'W/"1"'},
    )
    _outcome(stale, 412, "conflict")
    old = client.get(f"/fhir/Patient/{created['id']}/_history/1")
    assert old.status_code == 200
    assert old.json() == created
    history = client.get(f"/fhir/Patient/{created['id']}/_history").json()
    strict_parse(history)
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']
    assert history["entry"][0]["resource"]["meta"]["versionId"] == "2"
    assert history["entry"][1]["resource"] == created


def test_update_id_must_match_url(world):
    client = _client(world.key)
    created = _post(client, full_patient(mrn="I-1")).json()
    response = client.put(
        f"/fhir/Patient/{created['id']}",
        {**created, "id": str(world.patient.id)},
        content_type=FHIR_JSON,
        headers={"If-Match": 'W/"1"'},
    )
    _outcome(response, 400, "invalid")


def test_invalid_resource_is_400_structure_and_unstored_element_is_422(world):
    client = _client(world.key)
    _outcome(_post(client, {"resourceType": "Patient", "gender": 3}), 400, "structure")
    _outcome(_post(client, full_patient(multipleBirthInteger=2)), 422, "not-supported")
    _outcome(client.post("/fhir/Patient", "{not json", content_type=FHIR_JSON), 400, "structure")


def test_domain_rule_violation_is_422(world):
    response = _post(_client(world.key), full_patient(birthDate="2999-01-01"))
    _outcome(response, 422, "invariant")


def test_permission_checklist(world):
    pid = world.patient.id
    anonymous = _client(None).get(f"/fhir/Patient/{pid}")
    _outcome(anonymous, 401, "login")
    assert anonymous["WWW-Authenticate"] == "Api-Key"
    _outcome(_client(world.auditor).get(f"/fhir/Patient/{pid}"), 403, "forbidden")
    assert _client(world.steward).get(f"/fhir/Patient/{pid}").status_code == 200
    _outcome(_post(_client(world.steward), full_patient()), 403, "forbidden")
    _outcome(_client(world.key).get(f"/fhir/Patient/{world.foreign.id}"), 404, "not-found")
    _outcome(_client(world.key).delete(f"/fhir/Patient/{pid}"), 405, "not-supported")
    _outcome(_client(world.key).get("/fhir/Patient/not-a-uuid"), 404, "not-found")
    _outcome(_client(world.key).get("/fhir/Observation"), 404, "not-found")


def test_format_parameter(world):
    client = _client(world.key)
    pid = world.patient.id
    assert client.get(f"/fhir/Patient/{pid}?_format=json")["Content-Type"] == FHIR_JSON
    plain = client.get(f"/fhir/Patient/{pid}", {"_format": "application/json"})
    assert plain["Content-Type"] == "application/json"
    _outcome(client.get(f"/fhir/Patient/{pid}?_format=xml"), 406, "not-supported")


def test_metadata_is_a_valid_capability_statement(world):
    response = _client(None).get("/fhir/metadata")
    assert response.status_code == 200
    body = response.json()
    strict_parse(body)
    patient = body["rest"][0]["resource"][0]
    assert {i["code"] for i in patient["interaction"]} == {
        "read",
        "vread",
        "update",
        "create",
        "search-type",
        "history-instance",
    }


def test_unexpected_error_is_500_with_the_correlation_id_only(world):
    def broken(call):
        raise RuntimeError("Okafor 1987-03-14")  # an exception text that must not leak

    register_operation(
        PatientOperation(
            name="broken-for-test",
            definition="http://example.org/OperationDefinition/broken",
            documentation="",
            methods=frozenset({"GET"}),
            roles=("integrator",),
            handler=broken,
        )
    )
    try:
        response = _client(world.key).get(
            "/fhir/Patient/$broken-for-test", headers={"X-Request-ID": "corr-123"}
        )
    finally:
        _OPERATIONS.pop("broken-for-test")
    body = _outcome(response, 500, "exception")
    assert "corr-123" in body["issue"][0]["diagnostics"]
    assert "Okafor" not in response.content.decode()


def test_accept_with_a_fhir_version_parameter_and_charset_content_type(world):
    client = _client(world.key)
    read = client.get(
        f"/fhir/Patient/{world.patient.id}",
        headers={"Accept": "application/fhir+json; fhirVersion=4.0"},
    )
    assert read.status_code == 200
    assert read["Content-Type"] == FHIR_JSON
    created = client.post(
        "/fhir/Patient", full_patient(), content_type="application/fhir+json; charset=utf-8"
    )
    assert created.status_code == 201


class ModuleNotLicensedForTestError(PermissionDeniedError):
    """Shaped like the kernel's module-entitlement refusal: a 403 naming the module."""

    def extensions(self):
        return {"module": "fhir", "candidates": [{"patient_id": "x", "family": "Okafor"}]}


def test_permission_denied_with_module_is_403_forbidden_naming_the_module(world):
    def refuse(call):
        raise ModuleNotLicensedForTestError("The fhir module is not licensed for this tenant.")

    register_operation(
        PatientOperation(
            name="refused-for-test",
            definition="http://example.org/OperationDefinition/refused",
            documentation="",
            methods=frozenset({"GET"}),
            roles=("integrator",),
            handler=refuse,
        )
    )
    try:
        response = _client(world.key).get("/fhir/Patient/$refused-for-test")
    finally:
        _OPERATIONS.pop("refused-for-test")
    body = _outcome(response, 403, "forbidden")
    assert "module=fhir" in body["issue"][0]["diagnostics"]
    assert "Okafor" not in response.content.decode()  # list-valued extensions never rendered
