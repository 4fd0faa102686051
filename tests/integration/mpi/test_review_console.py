"""The steward console through Django's test client: who may see and decide what, the queue's
filters, compare, claim, merge, not a duplicate, skip, refusals shown as messages, undo."""

import uuid
from dataclasses import replace
from datetime import date

import pytest
from django.test import Client

from mpi.models import CandidateStatus, MatchCandidate, MergeStatus, PatientMerge
from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user
from tests.integration.mpi.test_review_api import propose
from tests.patient_factories import make_patient, patient_input

pytestmark = pytest.mark.django_db
QUEUE = "/admin/mpi/matchcandidate/"
REASON = "look-alike for console tests"


@pytest.fixture
def world():
    tenant, other = make_tenant(), make_tenant()
    a = make_patient(tenant, mrn="C-1", duplicate_override_reason=REASON)
    b = make_patient(tenant, mrn="C-2", duplicate_override_reason=REASON)
    c = make_patient(tenant, mrn="C-3", duplicate_override_reason=REASON)
    x = make_patient(other, mrn="C-1", duplicate_override_reason=REASON)
    y = make_patient(other, mrn="C-2", duplicate_override_reason=REASON)
    with tenant_scope(tenant.id):
        pair = propose(tenant.id, a, b, 0.95)
        second = propose(tenant.id, a, c, 0.7)
    with tenant_scope(other.id):
        foreign = propose(other.id, x, y)
    return {
        "tenant": tenant,
        "a": a,
        "b": b,
        "c": c,
        "pair": pair,
        "second": second,
        "foreign": foreign,
    }


def as_role(client: Client, tenant, role: Role) -> Client:
    client.force_login(make_user(tenant, role))
    return client


def url(candidate: MatchCandidate, page: str = "change") -> str:
    return f"{QUEUE}{candidate.id}/{page}/"


class TestAccess:
    @pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.INTEGRATOR])
    def test_other_roles_see_nothing(self, client, world, role):
        as_role(client, world["tenant"], role)
        assert client.get(QUEUE).status_code == 403
        assert client.get(url(world["pair"])).status_code == 403
        for page in ("decide", "claim"):
            assert client.post(url(world["pair"], page), {"action": "skip"}).status_code == 403
        assert client.post(f"{QUEUE}bulk/", {"decision": "duplicate"}).status_code == 403

    def test_auditor_reads_but_cannot_decide(self, client, world):
        as_role(client, world["tenant"], Role.AUDITOR)
        page = client.get(url(world["pair"]))
        assert page.status_code == 200
        assert b'id="merge-form"' not in page.content
        assert client.post(url(world["pair"], "decide"), {"action": "skip"}).status_code == 403
        assert client.post(url(world["pair"], "claim")).status_code == 403

    def test_another_tenants_pair_and_merge_are_404(self, client, world):
        as_role(client, world["tenant"], Role.DATA_STEWARD)
        assert client.get(url(world["foreign"])).status_code == 404
        assert client.post(url(world["foreign"], "claim")).status_code == 404
        assert client.post(url(world["foreign"], "decide"), {"action": "skip"}).status_code == 404
        assert client.get(f"/admin/mpi/patientmerge/{uuid.uuid4()}/change/").status_code == 404
        assert client.get(f"{QUEUE}not-a-uuid/change/").status_code == 404


class TestSteward:
    def test_queue_filters_and_claim(self, client, world):
        as_role(client, world["tenant"], Role.DATA_STEWARD)
        page = client.get(QUEUE)
        assert page.status_code == 200
        assert [r["candidate"].id for r in page.context["rows"]] == [
            world["pair"].id,
            world["second"].id,
        ]
        assert client.get(QUEUE, {"grade": "possible"}).context["rows"] == []
        response = client.post(url(world["pair"], "claim"))
        assert response.status_code == 302
        mine = client.get(QUEUE, {"assignee": "me", "status": "open"}).context["rows"]
        assert [r["candidate"].id for r in mine] == [world["pair"].id]
        assert client.get(QUEUE, {"min_age": "-3"}).status_code == 200  # invalid: default filter

    def test_queue_filters_by_facility_and_age(self, client, world):
        child = make_patient(
            world["tenant"],
            data=replace(
                patient_input(mrn="C-9"), birth_date=date(2015, 6, 1), preferred_facility="north"
            ),
            duplicate_override_reason=REASON,
        )
        with tenant_scope(world["tenant"].id):
            young = propose(world["tenant"].id, world["a"], child, 0.5)
        as_role(client, world["tenant"], Role.DATA_STEWARD)

        def rows(**query: str) -> list[uuid.UUID]:
            return [r["candidate"].id for r in client.get(QUEUE, query).context["rows"]]

        assert rows() == [world["pair"].id, world["second"].id, young.id]
        assert rows(facility="north") == [young.id]
        assert rows(max_age="20") == [young.id]  # either record's age: the child's
        assert rows(min_age="60") == []
        assert rows(facility="north", min_age="30") == [young.id]

    def test_compare_shows_differences_and_evidence(self, client, world):
        as_role(client, world["tenant"], Role.DATA_STEWARD)
        page = client.get(url(world["pair"]))
        rows = {row.key: row for row in page.context["rows"]}
        assert rows["identifiers"].differs
        assert not rows["birth_date"].differs
        assert [e.level for e in rows["birth_date"].explanation] == ["exact"]
        assert page.context["next_url"].startswith(url(world["second"]))
        # The preview: each record's MRN stays, the other's is kept with use=old.
        row = rows["identifiers"]
        assert row.if_left_survives == [row.left[0], row.right[0].replace("(usual)", "(old)")]
        assert row.if_right_survives == [row.right[0], row.left[0].replace("(usual)", "(old)")]
        with tenant_scope(world["tenant"].id):
            shown = AuditEvent.objects.filter(action="patient.read").values_list(
                "object_id", flat=True
            )
            assert set(shown) == {str(world["a"].id), str(world["b"].id)}

    def test_not_duplicate_needs_a_reason_then_moves_on(self, client, world):
        as_role(client, world["tenant"], Role.DATA_STEWARD)
        refused = client.post(
            url(world["pair"], "decide"), {"action": "not_duplicate"}, follow=True
        )
        assert "A reason is required." in [str(m) for m in refused.context["messages"]]
        done = client.post(
            url(world["pair"], "decide"), {"action": "not_duplicate", "reason": "twins"}
        )
        assert done["Location"] == url(world["second"])
        skipped = client.post(url(world["second"], "decide"), {"action": "skip"})
        assert skipped["Location"] == QUEUE  # nothing else open
        with tenant_scope(world["tenant"].id):
            world["pair"].refresh_from_db()
            assert world["pair"].status == CandidateStatus.NOT_DUPLICATE
        closed = client.post(url(world["pair"], "claim"), follow=True)
        assert "Only open pairs can be claimed." in [str(m) for m in closed.context["messages"]]

    @pytest.mark.parametrize("role", [Role.DATA_STEWARD, Role.TENANT_ADMIN])
    def test_merge_then_undo(self, client, world, role):
        as_role(client, world["tenant"], role)
        a, b = world["a"], world["b"]
        decide = url(world["pair"], "decide")
        nobody = client.post(decide, {"action": "merge", "survivor": str(uuid.uuid4())})
        assert nobody["Location"] == url(world["pair"])
        stale = client.post(
            decide,
            {"action": "merge", "survivor": str(a.id), f"version_{a.id}": "1"},
            follow=True,
        )
        assert "Re-read" in " ".join(str(m) for m in stale.context["messages"])
        merged = client.post(
            decide,
            {
                "action": "merge",
                "survivor": str(a.id),
                f"version_{a.id}": "1",
                f"version_{b.id}": "1",
            },
        )
        with tenant_scope(world["tenant"].id):
            merge = PatientMerge.objects.get()
        assert merged["Location"] == f"/admin/mpi/patientmerge/{merge.id}/change/"
        page = client.get(merged["Location"])
        assert page.context["can_unmerge"]
        # The patient page is the front desk's and stewards' (tenant admins open no records).
        reader = as_role(Client(), world["tenant"], Role.DATA_STEWARD)
        subsumed_page = reader.get(f"/admin/registration/patient/{b.id}/change/")
        assert b'data-type="replaced-by"' in subsumed_page.content
        assert b"Replaced by" in page.content
        no_reason = client.post(f"/admin/mpi/patientmerge/{merge.id}/unmerge/", follow=True)
        assert "A reason is required." in [str(m) for m in no_reason.context["messages"]]
        client.post(f"/admin/mpi/patientmerge/{merge.id}/unmerge/", {"reason": "wrong pair"})
        with tenant_scope(world["tenant"].id):
            merge.refresh_from_db()
            assert merge.status == MergeStatus.UNMERGED
            assert Patient.objects.get(id=b.id).active is True
        assert client.get("/admin/mpi/patientmerge/").status_code == 200
        missing = client.post(f"/admin/mpi/patientmerge/{uuid.uuid4()}/unmerge/", {"reason": "x"})
        assert missing.status_code == 404

    def test_a_closed_pair_is_reopened_with_a_reason(self, client, world):
        as_role(client, world["tenant"], Role.DATA_STEWARD)
        a, b, pair = world["a"], world["b"], world["pair"]
        decide = url(pair, "decide")
        assert b'id="reopen-form"' not in client.get(url(pair)).content  # open: nothing to reopen
        client.post(decide, {"action": "not_duplicate", "reason": "twins"})
        page = client.get(url(pair))
        assert b'id="reopen-form"' in page.content
        assert b'id="merge-form"' not in page.content  # final until reopened
        # A merge posted anyway is refused: the decision stands.
        versions = {f"version_{p.id}": "1" for p in (a, b)}
        refused = client.post(
            decide, {"action": "merge", "survivor": str(a.id), **versions}, follow=True
        )
        assert "different people" in " ".join(str(m) for m in refused.context["messages"])
        no_reason = client.post(decide, {"action": "reopen"}, follow=True)
        assert "A reason is required." in [str(m) for m in no_reason.context["messages"]]
        reopened = client.post(decide, {"action": "reopen", "reason": "new evidence"})
        assert reopened["Location"] == url(pair)
        merged = client.post(decide, {"action": "merge", "survivor": str(a.id), **versions})
        merge_url = merged["Location"]
        # While the merge stands the pair cannot be reopened; once undone it can.
        assert b'id="reopen-form"' not in client.get(url(pair)).content
        client.post(merge_url.replace("/change/", "/unmerge/"), {"reason": "wrong pair"})
        assert b'id="reopen-form"' in client.get(url(pair)).content
        client.post(decide, {"action": "reopen", "reason": "undone: decide again"})
        with tenant_scope(world["tenant"].id):
            pair.refresh_from_db()
            assert pair.status == CandidateStatus.OPEN
            assert AuditEvent.objects.filter(action="mpi.candidate_reopened").count() == 2

    def test_bulk_decision_of_ticked_pairs(self, client, world):
        as_role(client, world["tenant"], Role.DATA_STEWARD)
        bulk = f"{QUEUE}bulk/"
        nothing = client.post(bulk, {"decision": "duplicate"}, follow=True)
        assert "Give between 1 and 200" in " ".join(str(m) for m in nothing.context["messages"])
        undecided = client.post(bulk, {"candidate_ids": ["nope"]}, follow=True)
        assert "Tick at least one pair" in " ".join(str(m) for m in undecided.context["messages"])
        ids = [str(world["pair"].id), str(world["second"].id)]
        no_reason = client.post(
            bulk, {"candidate_ids": ids, "decision": "not_duplicate"}, follow=True
        )
        assert "A reason is required." in [str(m) for m in no_reason.context["messages"]]
        done = client.post(bulk, {"candidate_ids": ids, "decision": "duplicate"}, follow=True)
        assert "2 pairs decided." in [str(m) for m in done.context["messages"]]
        with tenant_scope(world["tenant"].id):
            statuses = set(
                MatchCandidate.objects.filter(id__in=ids).values_list("status", flat=True)
            )
        assert statuses == {CandidateStatus.DUPLICATE}
        auditor = as_role(Client(), world["tenant"], Role.AUDITOR)
        assert (
            auditor.post(bulk, {"candidate_ids": ids, "decision": "duplicate"}).status_code == 403
        )
