"""`POST /fhir/`: batch (each entry on its own) and transaction (all or nothing) Bundles."""

import pytest
from django.test import Client

from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import FHIR_JSON, full_patient, strict_parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    tenant = make_tenant()
    client = Client(headers=make_api_key(tenant, Role.INTEGRATOR).header)
    return tenant, client


def _person(n):
    return full_patient(
        mrn=f"B-{n}",
        name=[{"family": f"Family{n}x", "given": [f"Given{n}q"]}],
        birthDate=f"19{50 + n}-0{1 + n % 8}-1{n % 9}",
        telecom=[{"system": "phone", "value": f"+1 202 555 01{n:02d}"}],
        contact=[],
        address=[],
    )


def _bundle(kind, entries):
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _create(resource):
    return {"resource": resource, "request": {"method": "POST", "url": "Patient"}}


def _count(tenant) -> int:
    with tenant_scope(tenant.id):
        return Patient.objects.count()


def test_transaction_creates_and_updates_all(setup):
    tenant, client = setup
    response = client.post(
        "/fhir/",
        _bundle("transaction", [_create(_person(1)), _create(_person(2))]),
        content_type=FHIR_JSON,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    strict_parse(body)
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    created = body["entry"][0]["resource"]
    update = {
        "resource": {**created, "gender": "other"},
        "request": {"method": "PUT", "url": f"Patient/{created['id']}", "ifMatch": 'W/"1"'},
    }
    response = client.post("/fhir/", _bundle("transaction", [update]), content_type=FHIR_JSON)
    assert response.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    assert _count(tenant) == 2


def test_transaction_is_all_or_nothing(setup):
    tenant, client = setup
    bad = _person(4)
    bad["birthDate"] = "2999-01-01"
    response = client.post(
        "/fhir/",
        _bundle("transaction", [_create(_person(3)), _create(bad)]),
        content_type=FHIR_JSON,
    )
    assert response.status_code == 422
    outcome = response.json()
    strict_parse(outcome)
    assert outcome["issue"][0]["diagnostics"].startswith("Bundle.entry[1]")
    assert _count(tenant) == 0


def test_batch_answers_each_entry(setup):
    tenant, client = setup
    bad = _person(6)
    bad["birthDate"] = "2999-01-01"
    entries = [
        _create(_person(5)),
        _create(bad),
        {"resource": _person(7), "request": {"method": "PUT", "url": "Patient/x"}},
        {
            "resource": _person(8),
            "request": {"method": "PUT", "url": "Patient/00000000-0000-0000-0000-000000000000"},
        },
    ]
    response = client.post("/fhir/", _bundle("batch", entries), content_type=FHIR_JSON)
    assert response.status_code == 200
    body = response.json()
    strict_parse(body)
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "422", "400", "428"]
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert _count(tenant) == 1


def test_bundle_type_and_roles(setup):
    tenant, client = setup
    response = client.post("/fhir/", _bundle("collection", []), content_type=FHIR_JSON)
    assert response.status_code == 400
    steward = Client(headers=make_api_key(tenant, Role.DATA_STEWARD).header)
    response = steward.post("/fhir/", _bundle("batch", []), content_type=FHIR_JSON)
    assert response.status_code == 403
