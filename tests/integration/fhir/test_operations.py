"""`Patient/$match` (ITI-119) and `Patient/$ihe-pix` (ITI-83) through the FHIR API."""

from datetime import date

import pytest
from django.test import Client

from mpi.fhir.operations import MATCH_GRADE_URL, match_explanation_url
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import FHIR_JSON, strict_parse
from tests.integration.mpi.conftest import MRN, SSN, person, register

pytestmark = pytest.mark.django_db
QUERY = {
    "resourceType": "Patient",
    "name": [{"family": "Smith", "given": ["John"]}],
    "gender": "male",
    "birthDate": "1985-03-14",
    "identifier": [{"system": MRN, "value": "A-1001"}],
}


@pytest.fixture
def world():
    tenant, other = make_tenant(), make_tenant()
    john = person("Smith", "John", date(1985, 3, 14), gender="male", mrn="A-1001", ssn="123456789")
    with tenant_scope(tenant.id):
        mine = register(john)
        twin = register(person("Smith", "Joan", date(1985, 3, 14), gender="female"))
    with tenant_scope(other.id):
        theirs = register(john)
    client = Client(headers=make_api_key(tenant, Role.INTEGRATOR).header)
    return {"tenant": tenant, "mine": mine, "twin": twin, "theirs": theirs, "client": client}


def _match(client, body):
    response = client.post("/fhir/Patient/$match", body, content_type=FHIR_JSON)
    body = response.json()
    strict_parse(body)
    return response, body


def _parameters(resource, **values):
    parameter = [{"name": "resource", "resource": resource}]
    if "only_certain" in values:
        parameter.append({"name": "onlyCertainMatches", "valueBoolean": values["only_certain"]})
    if "count" in values:
        parameter.append({"name": "count", "valueInteger": values["count"]})
    return {"resourceType": "Parameters", "parameter": parameter}


def test_match_returns_a_scored_graded_explained_searchset(world):
    response, body = _match(world["client"], _parameters(QUERY))
    assert response.status_code == 200
    assert body["type"] == "searchset"
    ids = [e["resource"]["id"] for e in body["entry"]]
    assert ids[0] == str(world["mine"].id)
    assert str(world["theirs"].id) not in ids
    scores = [e["search"]["score"] for e in body["entry"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    first = body["entry"][0]["search"]
    assert first["mode"] == "match"
    extensions = {e["url"]: e for e in first["extension"]}
    assert extensions[MATCH_GRADE_URL]["valueCode"] == "certain"
    fields = [
        {x["url"]: next(v for k, v in x.items() if k.startswith("value")) for x in f["extension"]}
        for f in extensions[match_explanation_url()]["extension"]
        if f["url"] == "field"
    ]
    assert {"name", "level", "weight"} <= set(fields[0])
    with tenant_scope(world["tenant"].id):
        assert AuditEvent.objects.filter(action="patient.match_shown").count() == len(ids)


def test_bare_patient_body_and_count(world):
    response, body = _match(world["client"], QUERY)
    assert response.status_code == 200
    assert len(body["entry"]) >= 1
    _, limited = _match(world["client"], _parameters(QUERY, count=1))
    assert len(limited["entry"]) == 1


def test_only_certain_matches_returns_the_single_certain_one(world):
    _, body = _match(world["client"], _parameters(QUERY, only_certain=True))
    assert [e["resource"]["id"] for e in body["entry"]] == [str(world["mine"].id)]


def test_only_certain_matches_with_two_certain_candidates_returns_none(world):
    with tenant_scope(world["tenant"].id):
        register(person("Smith", "John", date(1985, 3, 14), gender="male", mrn="A-1002"))
    query = {**QUERY, "identifier": []}
    query.pop("identifier")
    _, every = _match(world["client"], _parameters(query))
    grades = [e["search"]["extension"][0]["valueCode"] for e in every["entry"]]
    assert grades.count("certain") == 2  # precondition: two certain candidates
    _, body = _match(world["client"], _parameters(query, only_certain=True))
    assert "entry" not in body
    assert body["total"] == 0


def test_no_match_is_an_empty_bundle(world):
    query = {"resourceType": "Patient", "name": [{"family": "Quetzalcoatl", "given": ["Zyx"]}]}
    response, body = _match(world["client"], _parameters(query))
    assert response.status_code == 200
    assert body["total"] == 0
    assert "entry" not in body


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 2}]}, 400),
        (_parameters(QUERY, count=0), 400),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": QUERY}, {"name": "x"}],
            },
            400,
        ),
        ({"resourceType": "Observation"}, 400),
        (_parameters({"resourceType": "Patient", "gender": "male"}), 422),
    ],
)
def test_bad_match_requests(world, body, status):
    response, outcome = _match(world["client"], body)
    assert response.status_code == status
    assert outcome["resourceType"] == "OperationOutcome"


def test_match_permissions(world):
    auditor = Client(headers=make_api_key(world["tenant"], Role.AUDITOR).header)
    assert auditor.post("/fhir/Patient/$match", QUERY, content_type=FHIR_JSON).status_code == 403
    assert Client().post("/fhir/Patient/$match", QUERY, content_type=FHIR_JSON).status_code == 401
    assert world["client"].get("/fhir/Patient/$match").status_code == 405
    assert world["client"].get("/fhir/Patient/$everything").status_code == 404


def _pix(client, params):
    response = client.get("/fhir/Patient/$ihe-pix", params)
    body = response.json()
    strict_parse(body)
    return response, body


def test_pix_cross_references_identifiers(world):
    response, body = _pix(world["client"], {"sourceIdentifier": f"{MRN}|A-1001"})
    assert response.status_code == 200
    assert body["resourceType"] == "Parameters"
    identifiers = [
        p["valueIdentifier"] for p in body["parameter"] if p["name"] == "targetIdentifier"
    ]
    assert [(i["system"], i["value"]) for i in identifiers] == [(SSN, "123456789")]
    refs = [p["valueReference"]["reference"] for p in body["parameter"] if p["name"] == "targetId"]
    assert refs == [f"Patient/{world['mine'].id}"]
    _, only_mrn = _pix(world["client"], {"sourceIdentifier": f"{MRN}|A-1001", "targetSystem": MRN})
    assert [p["name"] for p in only_mrn["parameter"]] == ["targetId"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"sourceIdentifier": f"{MRN}|NOPE"}, 404, "not-found"),
        ({"sourceIdentifier": "urn:oid:1.2.3.77|A-1001"}, 400, "code-invalid"),
        (
            {"sourceIdentifier": f"{MRN}|A-1001", "targetSystem": "urn:oid:1.2.3.77"},
            403,
            "code-invalid",
        ),
        ({"sourceIdentifier": "A-1001"}, 400, "invalid"),
        ({}, 400, "invalid"),
        ({"sourceIdentifier": f"{MRN}|A-1001", "foo": "1"}, 400, "invalid"),
    ],
)
def test_pix_errors_follow_the_profile(world, params, status, code):
    response, body = _pix(world["client"], params)
    assert response.status_code == status
    assert body["issue"][0]["code"] == code


def test_capability_statement_lists_the_registered_operations(world):
    body = Client().get("/fhir/metadata").json()
    operations = {o["name"] for o in body["rest"][0]["resource"][0]["operation"]}
    assert operations == {"match", "ihe-pix"}
