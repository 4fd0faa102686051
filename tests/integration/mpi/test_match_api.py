"""`POST /api/v1/match` through the shared checklist, then its behaviour in detail.

Checklist: anonymous 401, wrong role 403, another tenant's patients never appear (there is no
object to 404 on: they are simply not candidates), happy path for every allowed role,
problem+json error shape, and a query-count ceiling.
"""

from datetime import date

import pytest
from django.test import Client

from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant
from tests.integration.mpi.conftest import MRN, person, register

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"
URL = "/api/v1/match"
BODY = {
    "names": [{"family": "Smyth", "given": ["Jon"]}],
    "birth_date": "1985-03-14",
    "gender": "male",
    "telecoms": [{"system": "phone", "value": "617-555-0142"}],
}


@pytest.fixture
def world():
    tenant, other = make_tenant(), make_tenant()
    john = person("Smith", "John", date(1985, 3, 14), gender="male", mrn="A-1001")
    with tenant_scope(tenant.id):
        mine = register(john)
    with tenant_scope(other.id):
        theirs = register(john)
    return {"tenant": tenant, "mine": mine, "theirs": theirs}


def post(client: Client, body, key=None):
    return client.post(
        URL, body, content_type="application/json", headers=key.header if key else {}
    )


class TestChecklist:
    def test_anonymous_is_401_problem(self, client, world):
        response = post(client, BODY)
        assert response.status_code == 401
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "not-authenticated"

    @pytest.mark.parametrize("role", [Role.AUDITOR, Role.TENANT_ADMIN])
    def test_other_roles_are_403(self, client, world, role):
        response = post(client, BODY, make_api_key(world["tenant"], role))
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    @pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR])
    def test_happy_path_for_each_allowed_role_within_a_query_ceiling(
        self, client, world, role, django_assert_max_num_queries
    ):
        key = make_api_key(world["tenant"], role)
        # Key lookup and last-used stamp, tenant scope, model, candidates, candidate records,
        # name frequencies, deceased candidates (vital status), candidates' confidentiality
        # (restricted ones are masked), access log, savepoints, licensed modules.
        with django_assert_max_num_queries(18):
            response = post(client, BODY, key)
        assert response.status_code == 200, response.content
        body = response.json()
        assert [c["patient_id"] for c in body["candidates"]] == [str(world["mine"].id)]

    def test_another_tenants_patients_never_appear(self, client, world):
        key = make_api_key(world["tenant"], Role.INTEGRATOR)
        body = {"identifiers": [{"system": MRN, "value": "A-1001"}]}
        ids = [c["patient_id"] for c in post(client, body, key).json()["candidates"]]
        assert ids == [str(world["mine"].id)]
        assert str(world["theirs"].id) not in ids
        with tenant_scope(world["theirs"].tenant_id):
            assert not AuditEvent.objects.filter(action="patient.match_shown").exists()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({**BODY, "count": 0}, "count"),
            ({**BODY, "count": 51}, "count"),
            ({**BODY, "count": "5"}, "count"),
            ({**BODY, "only_certain": "true"}, "only_certain"),
            ({**BODY, "birth_date": "1985-02-30"}, "birth_date"),
            ({**BODY, "names": [{"family": 7}]}, "names.0.family"),
        ],
    )
    def test_schema_violations_are_400_problems_with_the_field(self, client, world, body, field):
        response = post(client, body, make_api_key(world["tenant"], Role.INTEGRATOR))
        assert response.status_code == 400
        assert response["Content-Type"] == PROBLEM
        problem = response.json()
        assert problem["code"] == "invalid-request"
        assert problem["type"].endswith("/invalid-request")
        assert problem["instance"].startswith("urn:request:")
        assert field in [error["field"] for error in problem["errors"]]

    def test_nothing_to_match_on_is_422(self, client, world):
        response = post(client, {"gender": "male"}, make_api_key(world["tenant"], Role.FRONT_DESK))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "names"


class TestBehaviour:
    def test_candidates_carry_grade_probability_and_a_per_field_explanation(self, client, world):
        body = post(client, BODY, make_api_key(world["tenant"], Role.INTEGRATOR)).json()
        assert body["model_version"] == "default-1"
        assert body["truncated"] is False
        assert body["candidate_bound"] == 100
        assert body["candidates_scored"] == 1
        (candidate,) = body["candidates"]
        assert candidate["grade"] == "PROBABLE"
        assert 0.95 <= candidate["probability"] < 0.999
        # "jon"/"john" is under pg_trgm's similarity threshold: found by the other passes.
        assert candidate["found_by"] == ["same_birth_date", "phonetic"]
        family = next(e for e in candidate["explanation"] if e["field"] == "family")
        assert family == {
            "field": "family",
            "level": "CLOSE",
            "weight": pytest.approx(3.3219, abs=1e-3),
            "m": 0.05,
            "u": 0.005,
            "query_value": "smyth",
            "candidate_value": "smith",
            "term_frequency": None,
        }
        phone = next(e for e in candidate["explanation"] if e["field"] == "phone")
        assert (phone["level"], phone["query_value"], phone["candidate_value"]) == (
            "MISSING",
            ["6175550142"],
            None,
        )

    def test_only_certain_and_count(self, client, world):
        key = make_api_key(world["tenant"], Role.INTEGRATOR)
        assert post(client, {**BODY, "only_certain": True}, key).json()["candidates"] == []
        exact = {
            "names": [{"family": "Smith", "given": ["John"]}],
            "birth_date": "1985-03-14",
            "gender": "male",
            "count": 1,
            "only_certain": True,
        }
        (candidate,) = post(client, exact, key).json()["candidates"]
        assert candidate["grade"] == "CERTAIN"

    def test_showing_candidates_is_logged_as_an_access(self, client, world):
        key = make_api_key(world["tenant"], Role.INTEGRATOR)
        post(client, BODY, key)
        with tenant_scope(world["tenant"].id):
            event = AuditEvent.objects.get(action="patient.match_shown")
        assert event.object_id == str(world["mine"].id)
        assert event.actor_api_key_id == key.id
