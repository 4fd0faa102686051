"""Review queue, merge and enterprise-person endpoints through the shared checklist (anonymous
401, wrong role 403, another tenant's objects 404, happy path per allowed role, problem+json
errors, query ceilings), then a steward's flow over REST."""

import uuid
from datetime import date

import pytest
from django.test import Client

from mpi.models import (
    CandidateGrade,
    CandidateSource,
    CandidateStatus,
    MatchCandidate,
    MergeStatus,
    PatientMerge,
)
from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import FHIR_JSON
from tests.integration.mpi.test_merges import merge, register

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"
READERS = [Role.DATA_STEWARD, Role.TENANT_ADMIN, Role.INTEGRATOR, Role.AUDITOR]
DECIDERS = [Role.DATA_STEWARD, Role.TENANT_ADMIN]
NOT_DECIDERS = [role for role in Role if role not in DECIDERS]


def propose(tenant_id, a: Patient, b: Patient, probability: float = 0.9) -> MatchCandidate:
    low, high = sorted((a.id, b.id))
    return MatchCandidate.objects.create(
        tenant_id=tenant_id,
        patient_low_id=low,
        patient_high_id=high,
        probability=probability,
        weight=12.5,
        grade=CandidateGrade.PROBABLE,
        explanation=[{"field": "birth_date", "level": "exact", "weight": 6.1}],
        model_version="default-1",
        source=CandidateSource.BATCH,
    )


@pytest.fixture
def world():
    tenant, other = make_tenant(), make_tenant()
    with tenant_scope(tenant.id):
        a, b, c = register(None), register(None), register(None)
        pair = propose(tenant.id, a, b, 0.95)
        second = propose(tenant.id, b, c, 0.7)
    with tenant_scope(other.id):
        x, y = register(None), register(None)
        foreign = propose(other.id, x, y)
    return {
        "tenant": tenant,
        "a": a,
        "b": b,
        "c": c,
        "pair": pair,
        "second": second,
        "foreign": foreign,
        "x": x,
    }


def call(client: Client, method: str, url: str, key=None, body=None):
    headers = key.header if key else {}
    if method == "get":
        return client.get(url, headers=headers)
    return client.post(url, body or {}, content_type="application/json", headers=headers)


def merge_body(world, survivor="a", subsumed="b", **extra):
    return {
        "survivor_id": str(world[survivor].id),
        "subsumed_id": str(world[subsumed].id),
        "reason": "same person",
        "survivor_version": 1,
        "subsumed_version": 1,
        **extra,
    }


class TestChecklist:
    @pytest.mark.parametrize(
        ("method", "url"),
        [
            ("get", "/api/v1/match-candidates"),
            ("post", "/api/v1/merges"),
            ("post", "/api/v1/merges/preview"),
            ("get", "/api/v1/enterprise-persons/00000000-0000-4000-8000-0000000000e1"),
        ],
    )
    def test_anonymous_is_401_problem(self, client, world, method, url):
        response = call(client, method, url)
        assert response.status_code == 401
        assert response["Content-Type"] == PROBLEM

    def test_front_desk_reads_nothing_and_readers_decide_nothing(self, client, world):
        front = make_api_key(world["tenant"], Role.FRONT_DESK)
        assert call(client, "get", "/api/v1/match-candidates", front).status_code == 403
        for role in (Role.INTEGRATOR, Role.AUDITOR):
            key = make_api_key(world["tenant"], role)
            pair = world["pair"].id
            for url, body in (
                (f"/api/v1/match-candidates/{pair}/decision", {"decision": "duplicate"}),
                (f"/api/v1/match-candidates/{pair}/claim", {}),
                ("/api/v1/merges", merge_body(world)),
                ("/api/v1/merges/preview", merge_body(world)),
            ):
                response = call(client, "post", url, key, body)
                assert response.status_code == 403, url
                assert response.json()["code"] == "forbidden"

    @pytest.mark.parametrize("role", NOT_DECIDERS)
    def test_only_stewards_and_admins_decide_merge_or_link(self, client, world, role):
        """Every write of the area, for every role that may not decide: 403, nothing written."""
        key = make_api_key(world["tenant"], role)
        with tenant_scope(world["tenant"].id):
            standing = merge(None, world["a"], world["c"])
            audits = AuditEvent.objects.count()
            statuses = dict(MatchCandidate.objects.values_list("id", "status"))
        pair, second = world["pair"].id, world["second"].id
        for url, body in (
            (f"/api/v1/match-candidates/{pair}/claim", {}),
            (f"/api/v1/match-candidates/{pair}/decision", {"decision": "duplicate"}),
            (f"/api/v1/match-candidates/{pair}/reopen", {"reason": "x"}),
            ("/api/v1/match-candidates/decisions", {"candidate_ids": [str(second)]}),
            ("/api/v1/merges/preview", merge_body(world)),
            ("/api/v1/merges", merge_body(world)),
            (f"/api/v1/merges/{standing.id}/unmerge", {"reason": "x"}),
            (
                "/api/v1/enterprise-persons/links",
                {"patient_id": str(world["a"].id), "other_patient_id": str(world["b"].id)},
            ),
        ):
            response = call(client, "post", url, key, body)
            assert response.status_code == 403, url
            assert response["Content-Type"] == PROBLEM
            assert response.json()["code"] == "forbidden"
        with tenant_scope(world["tenant"].id):
            assert AuditEvent.objects.count() == audits
            assert PatientMerge.objects.get().status == MergeStatus.MERGED
            assert dict(MatchCandidate.objects.values_list("id", "status")) == statuses
            assert statuses[pair] == CandidateStatus.OPEN
            assert Patient.objects.get(id=world["b"].id).active is True

    def test_front_desk_reads_none_of_it(self, client, world):
        front = make_api_key(world["tenant"], Role.FRONT_DESK)
        with tenant_scope(world["tenant"].id):
            standing = merge(None, world["a"], world["c"])
        for url in (
            "/api/v1/match-candidates",
            f"/api/v1/match-candidates/{world['pair'].id}",
            f"/api/v1/merges/{standing.id}",
            f"/api/v1/enterprise-persons/{world['a'].enterprise_id}",
        ):
            response = call(client, "get", url, front)
            assert response.status_code == 403, url
            assert response["Content-Type"] == PROBLEM

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_the_golden_record_is_read_only(self, client, world, method):
        key = make_api_key(world["tenant"], Role.TENANT_ADMIN)
        url = f"/api/v1/enterprise-persons/{world['a'].enterprise_id}"
        response = getattr(client, method)(
            url, {}, content_type="application/json", headers=key.header
        )
        assert response.status_code == 405
        assert response["Content-Type"] == PROBLEM

    @pytest.mark.parametrize("role", READERS)
    def test_readers_list_the_queue_within_a_query_ceiling(
        self, client, world, role, django_assert_max_num_queries
    ):
        key = make_api_key(world["tenant"], role)
        # 13: one more for the listed patients' confidentiality (restricted pairs are masked).
        with django_assert_max_num_queries(13):
            response = call(client, "get", "/api/v1/match-candidates", key)
        assert response.status_code == 200, response.content
        ids = [c["id"] for c in response.json()["results"]]
        assert ids == [str(world["pair"].id), str(world["second"].id)]
        assert str(world["foreign"].id) not in ids

    def test_another_tenants_objects_are_404(self, client, world):
        key = make_api_key(world["tenant"], Role.DATA_STEWARD)
        foreign = world["foreign"].id
        for method, url, body in (
            ("get", f"/api/v1/match-candidates/{foreign}", None),
            ("post", f"/api/v1/match-candidates/{foreign}/claim", {}),
            ("post", f"/api/v1/match-candidates/{foreign}/decision", {"decision": "duplicate"}),
            ("post", "/api/v1/merges", merge_body(world, subsumed="x")),
            ("post", "/api/v1/merges/preview", merge_body(world, subsumed="x")),
            ("get", f"/api/v1/merges/{uuid.uuid4()}", None),
            ("get", f"/api/v1/enterprise-persons/{world['x'].enterprise_id}", None),
        ):
            response = call(client, method, url, key, body)
            assert response.status_code == 404, url
            assert response["Content-Type"] == PROBLEM

    def test_error_shapes(self, client, world):
        key = make_api_key(world["tenant"], Role.DATA_STEWARD)
        bad = call(client, "get", "/api/v1/match-candidates?grade=sure", key)
        assert bad.status_code == 400
        assert bad["Content-Type"] == PROBLEM
        stale = call(client, "post", "/api/v1/merges", key, merge_body(world, subsumed_version=9))
        assert stale.status_code == 412
        assert stale.json()["code"] == "precondition-failed"
        choice = call(
            client,
            "post",
            "/api/v1/merges",
            key,
            merge_body(world, field_choices={"gender": "both"}),
        )
        assert choice.status_code == 422
        assert choice.json()["errors"][0]["field"] == "field_choices.gender"
        reason = call(
            client,
            "post",
            f"/api/v1/match-candidates/{world['pair'].id}/decision",
            key,
            {"decision": "not_duplicate"},
        )
        assert reason.status_code == 422
        assert reason.json()["errors"][0]["field"] == "reason"


class TestStewardFlow:
    @pytest.mark.parametrize("role", DECIDERS)
    def test_claim_decide_reopen_bulk(self, client, world, role):
        key = make_api_key(world["tenant"], role)
        pair, second = world["pair"].id, world["second"].id
        claimed = call(client, "post", f"/api/v1/match-candidates/{pair}/claim", key)
        assert claimed.json()["assignee"] == f"api-key:{key.id}"
        mine = call(client, "get", f"/api/v1/match-candidates?assignee=api-key:{key.id}", key)
        assert [c["id"] for c in mine.json()["results"]] == [str(pair)]
        decided = call(
            client,
            "post",
            f"/api/v1/match-candidates/{pair}/decision",
            key,
            {"decision": "not_duplicate", "reason": "twins"},
        )
        assert decided.json()["status"] == "not_duplicate"
        again = call(
            client,
            "post",
            f"/api/v1/match-candidates/{pair}/decision",
            key,
            {"decision": "duplicate"},
        )
        assert again.status_code == 409
        assert again.json()["code"] == "candidate-closed"
        reopened = call(
            client, "post", f"/api/v1/match-candidates/{pair}/reopen", key, {"reason": "recheck"}
        )
        assert reopened.json()["status"] == "open"
        bulk = call(
            client,
            "post",
            "/api/v1/match-candidates/decisions",
            key,
            {"candidate_ids": [str(pair), str(second)], "decision": "duplicate"},
        )
        assert [c["status"] for c in bulk.json()] == ["duplicate", "duplicate"]
        detail = call(client, "get", f"/api/v1/match-candidates/{pair}", key)
        assert detail.json()["explanation"][0]["field"] == "birth_date"

    def test_queue_filters_grade_facility_age_and_status(self, client, world):
        key = make_api_key(world["tenant"], Role.DATA_STEWARD)
        with tenant_scope(world["tenant"].id):
            child = register(None, birth_date=date(2015, 6, 1), preferred_facility="north")
            young = propose(world["tenant"].id, world["a"], child, 0.5)
            young.grade = CandidateGrade.POSSIBLE
            young.save(update_fields=["grade"])
        pair, second = str(world["pair"].id), str(world["second"].id)

        def ids(query: str) -> list[str]:
            response = call(client, "get", f"/api/v1/match-candidates?{query}", key)
            assert response.status_code == 200, response.content
            return [c["id"] for c in response.json()["results"]]

        assert ids("") == [pair, second, str(young.id)]
        assert ids("grade=possible") == [str(young.id)]
        assert ids("facility=north") == [str(young.id)]
        assert ids("max_age=20") == [str(young.id)]
        assert ids("min_age=30&grade=probable") == [pair, second]
        assert ids("status=duplicate") == []
        assert ids("assignee=-") == [pair, second, str(young.id)]

    @pytest.mark.parametrize("role", DECIDERS)
    def test_preview_merge_read_subsumed_unmerge(self, client, world, role):
        key = make_api_key(world["tenant"], role)
        reader = make_api_key(world["tenant"], Role.DATA_STEWARD)  # tenant admins read no patients
        preview = call(client, "post", "/api/v1/merges/preview", key, merge_body(world))
        assert preview.status_code == 200, preview.content
        assert [i["use"] for i in preview.json()["record"]["identifiers"]] == ["usual", "old"]
        merged = call(
            client,
            "post",
            "/api/v1/merges",
            key,
            merge_body(world, field_choices={"names": "both"}),
        )
        assert merged.status_code == 201, merged.content
        merge = merged.json()
        assert merged["Location"] == f"/api/v1/merges/{merge['id']}"
        assert merge["candidate_id"] == str(world["pair"].id)
        gone = call(client, "get", f"/api/v1/patients/{world['b'].id}", reader)
        assert gone.json()["active"] is False
        assert gone.json()["links"] == [{"type": "replaced-by", "other_id": str(world["a"].id)}]
        kept = call(client, "get", f"/api/v1/patients/{world['a'].id}", reader).json()
        assert kept["links"] == [{"type": "replaces", "other_id": str(world["b"].id)}]
        person = call(client, "get", f"/api/v1/enterprise-persons/{kept['enterprise_id']}", key)
        assert person.status_code == 200, person.content
        assert {r["id"] for r in person.json()["records"]} == {
            str(world["a"].id),
            str(world["b"].id),
        }
        again = call(client, "post", "/api/v1/merges", key, merge_body(world, survivor_version=2))
        assert again.status_code == 409
        assert again.json()["code"] == "merge-refused"
        read = call(client, "get", f"/api/v1/merges/{merge['id']}", key)
        assert read.json()["status"] == "merged"
        undone = call(
            client, "post", f"/api/v1/merges/{merge['id']}/unmerge", key, {"reason": "wrong"}
        )
        assert undone.json()["status"] == "unmerged"
        twice = call(
            client, "post", f"/api/v1/merges/{merge['id']}/unmerge", key, {"reason": "wrong"}
        )
        assert twice.status_code == 409
        assert twice.json()["code"] == "unmerge-refused"
        back = call(client, "get", f"/api/v1/patients/{world['b'].id}", reader).json()
        assert back["active"] is True
        assert back["links"] == []

    @pytest.mark.parametrize("role", DECIDERS)
    def test_link_two_records_under_one_euid(self, client, world, role):
        key = make_api_key(world["tenant"], role)
        body = {"patient_id": str(world["a"].id), "other_patient_id": str(world["c"].id)}
        linked = call(client, "post", "/api/v1/enterprise-persons/links", key, body)
        assert linked.status_code == 200, linked.content
        person = call(client, "get", f"/api/v1/enterprise-persons/{linked.json()['euid']}", key)
        body = person.json()
        assert len(body["records"]) == 2
        assert body["golden_record"]["names"][0]["family"] == "Okafor"


class TestChains:
    def test_a_into_b_then_b_into_c_resolves_to_c_in_every_read(self, client, world):
        """REST and FHIR reads, searches, identifier lookup, online matching, enterprise person."""
        a, b, c = world["a"], world["b"], world["c"]
        key = make_api_key(world["tenant"], Role.DATA_STEWARD)
        with tenant_scope(world["tenant"].id):
            mrn_of_a, mrn_of_b = (p.identifiers.get().value for p in (a, b))
            merge(None, b, a)
            merge(None, c, b)
        replaced_by_c = [{"type": "replaced-by", "other_id": str(c.id)}]
        gone = call(client, "get", f"/api/v1/patients/{a.id}", key).json()
        assert (gone["active"], gone["links"]) == (False, replaced_by_c)
        middle = call(client, "get", f"/api/v1/patients/{b.id}", key).json()
        assert middle["active"] is False
        # B keeps the history of having replaced A; it points onwards only at C.
        assert [link for link in middle["links"] if link["type"] == "replaced-by"] == replaced_by_c
        survivor = call(client, "get", f"/api/v1/patients/{c.id}", key).json()
        assert survivor["active"] is True
        assert {(link["type"], link["other_id"]) for link in survivor["links"]} == {
            ("replaces", str(a.id)),
            ("replaces", str(b.id)),
        }
        old = {i["value"] for i in survivor["identifiers"] if i["use"] == "old"}
        assert old == {mrn_of_a, mrn_of_b}
        # Searches find the history too, but every merged-away hit names C, the only active one.
        for query in (f"identifier={mrn_of_a}", "family=okafor"):
            found = call(client, "get", f"/api/v1/patients?{query}", key).json()["results"]
            assert {p["id"] for p in found} == {str(a.id), str(b.id), str(c.id)}, query
            for hit in found:
                if hit["id"] != str(c.id):
                    assert hit["active"] is False
                    assert {"type": "replaced-by", "other_id": str(c.id)} in hit["links"]
            active = call(client, "get", f"/api/v1/patients?{query}&active=true", key).json()
            assert [p["id"] for p in active["results"]] == [str(c.id)], query
        # Online matching proposes only the final survivor, never a merged-away record.
        matched = call(
            client,
            "post",
            "/api/v1/match",
            key,
            {
                "names": [{"family": "Okafor", "given": ["Adaeze"]}],
                "birth_date": "1987-03-14",
                "gender": "female",
            },
        ).json()
        assert [m["patient_id"] for m in matched["candidates"]] == [str(c.id)]
        # FHIR the same: $match finds C only, a read of A is inactive and replaced by C.
        fhir = Client(headers=make_api_key(world["tenant"], Role.INTEGRATOR).header)
        patient = {
            "resourceType": "Patient",
            "name": [{"family": "Okafor", "given": ["Adaeze"]}],
            "gender": "female",
            "birthDate": "1987-03-14",
        }
        found = fhir.post("/fhir/Patient/$match", patient, content_type=FHIR_JSON).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [str(c.id)]
        read = fhir.get(f"/fhir/Patient/{a.id}").json()
        assert read["active"] is False
        assert read["link"] == [{"other": {"reference": f"Patient/{c.id}"}, "type": "replaced-by"}]
        person = call(client, "get", f"/api/v1/enterprise-persons/{survivor['enterprise_id']}", key)
        assert {r["id"] for r in person.json()["records"]} == {str(a.id), str(b.id), str(c.id)}
