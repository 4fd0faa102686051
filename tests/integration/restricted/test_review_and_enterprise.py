"""The review queue, merges and enterprise persons follow the restricted-patient rules: a pair
with a restricted patient the steward may not open is listed masked and is 403 (with the
break-glass hint) to read, decide, preview, merge or unmerge; an enterprise person shows such
records masked and leaves them out of its golden record. Through break-glass the steward works
normally and the reads are audited with the grant id."""

from datetime import date
from typing import Any

import pytest
from django.test import Client

from mpi.models import CandidateGrade, CandidateSource, MatchCandidate
from mpi.services.enterprise import enterprise_link_pair
from mpi.services.merges import patients_merge
from registration.models import Patient
from registration.services.inputs import NameInput
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tests.integration.restricted.conftest import assert_restricted, audit_details, break_glass
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
VALUES = {"left_value": "okafor", "right_value": "okafor", "term_frequency": None}


def propose(tenant_id: Any, a: Patient, b: Patient) -> MatchCandidate:
    low, high = sorted((a.id, b.id))
    return MatchCandidate.objects.create(
        tenant_id=tenant_id,
        patient_low_id=low,
        patient_high_id=high,
        probability=0.9,
        weight=12.5,
        grade=CandidateGrade.PROBABLE,
        explanation=[{"field": "family", "level": "exact", "weight": 6.1, **VALUES}],
        model_version="default-1",
        source=CandidateSource.BATCH,
    )


@pytest.fixture
def queue(world) -> dict[str, Any]:
    tenant = world["tenant"]
    with tenant_scope(tenant.id):
        other = patient_register(
            actor=None,
            data=patient_data(names=patient_data().names),
            duplicate_override_reason="a different person",
        )
        hidden = propose(tenant.id, world["secret"], world["normal"])
        plain = propose(tenant.id, world["normal"], other)
    return {**world, "other": other, "hidden": hidden, "plain": plain}


def post(client: Client, url: str, key: Any, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, body or {}, content_type="application/json", headers=key.header)


def merge_body(queue: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "survivor_id": str(queue["normal"].id),
        "subsumed_id": str(queue["secret"].id),
        **extra,
    }


class TestReviewQueue:
    def test_the_list_masks_a_pair_with_a_restricted_patient(self, client: Client, queue):
        steward = queue["steward"]
        listed = client.get("/api/v1/match-candidates", headers=steward.header)
        assert listed.status_code == 200, listed.content
        rows = {r["id"]: r for r in listed.json()["results"]}
        hidden, plain = rows[str(queue["hidden"].id)], rows[str(queue["plain"].id)]
        assert hidden["masked"] is True
        assert hidden["probability"] == 0.9
        assert hidden["explanation"] == [
            {"field": "family", "level": "exact", "weight": 6.1, **dict.fromkeys(VALUES)}
        ]
        assert plain["masked"] is False
        assert plain["explanation"][0]["left_value"] == "okafor"
        break_glass(client, steward, queue["secret"].id)
        listed = client.get("/api/v1/match-candidates", headers=steward.header)
        rows = {r["id"]: r for r in listed.json()["results"]}
        assert rows[str(queue["hidden"].id)]["masked"] is False
        assert rows[str(queue["hidden"].id)]["explanation"][0]["right_value"] == "okafor"

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("get", "", None),
            ("post", "/claim", {}),
            ("post", "/decision", {"decision": "duplicate"}),
            ("post", "/reopen", {"reason": "looked again"}),
        ],
    )
    def test_reading_and_deciding_the_pair_is_403(self, client: Client, queue, method, path, body):
        url = f"/api/v1/match-candidates/{queue['hidden'].id}{path}"
        steward = queue["steward"]
        response = (
            client.get(url, headers=steward.header)
            if method == "get"
            else post(client, url, steward, body)
        )
        assert_restricted(response, "okafor")
        with tenant_scope(queue["tenant"].id):
            queue["hidden"].refresh_from_db()
            assert (queue["hidden"].status, queue["hidden"].assignee) == ("open", "")

    def test_a_bulk_decision_including_the_pair_is_403_and_decides_nothing(
        self, client: Client, queue
    ):
        ids = [str(queue["plain"].id), str(queue["hidden"].id)]
        response = post(
            client,
            "/api/v1/match-candidates/decisions",
            queue["steward"],
            {"candidate_ids": ids, "decision": "duplicate"},
        )
        assert_restricted(response)
        with tenant_scope(queue["tenant"].id):
            assert set(MatchCandidate.objects.values_list("status", flat=True)) == {"open"}

    def test_break_glass_opens_the_pair_and_the_read_is_audited(self, client: Client, queue):
        steward, secret = queue["steward"], queue["secret"]
        grant_id = break_glass(client, steward, secret.id)
        read = client.get(f"/api/v1/match-candidates/{queue['hidden'].id}", headers=steward.header)
        assert read.status_code == 200
        assert read.json()["explanation"][0]["left_value"] == "okafor"
        assert audit_details(queue["tenant"], "patient.candidate_read", secret.id) == [
            {"grant_id": grant_id, "break_glass": True}
        ]
        assert audit_details(queue["tenant"], "patient.candidate_read", queue["normal"].id) == [{}]
        decided = post(
            client,
            f"/api/v1/match-candidates/{queue['hidden'].id}/decision",
            steward,
            {"decision": "not_duplicate", "reason": "different people"},
        )
        assert decided.status_code == 200, decided.content


class TestMerges:
    def test_preview_and_execute_are_403_without_a_grant(self, client: Client, queue):
        steward = queue["steward"]
        preview = post(client, "/api/v1/merges/preview", steward, merge_body(queue))
        assert_restricted(preview, "Okafor")
        executed = post(
            client,
            "/api/v1/merges",
            steward,
            merge_body(queue, reason="same person", survivor_version=1, subsumed_version=1),
        )
        assert_restricted(executed)
        with tenant_scope(queue["tenant"].id):
            assert Patient.objects.get(id=queue["secret"].id).active

    def test_break_glass_allows_preview_and_the_preview_is_audited(self, client: Client, queue):
        steward, secret = queue["steward"], queue["secret"]
        grant_id = break_glass(client, steward, secret.id)
        preview = post(client, "/api/v1/merges/preview", steward, merge_body(queue))
        assert preview.status_code == 200, preview.content
        assert audit_details(queue["tenant"], "patient.merge_previewed", secret.id) == [
            {"grant_id": grant_id, "break_glass": True}
        ]

    def test_undoing_a_merge_of_a_restricted_patient_is_403(self, client: Client, queue):
        with tenant_scope(queue["tenant"].id):
            merge = patients_merge(
                actor=None,
                survivor_id=queue["secret"].id,
                subsumed_id=queue["normal"].id,
                field_choices=None,
                reason="same person",
                expected_versions={queue["secret"].id: 1, queue["normal"].id: 1},
            )
        undo = post(
            client, f"/api/v1/merges/{merge.id}/unmerge", queue["steward"], {"reason": "wrong"}
        )
        assert_restricted(undo)
        break_glass(client, queue["steward"], queue["secret"].id)
        undo = post(
            client, f"/api/v1/merges/{merge.id}/unmerge", queue["steward"], {"reason": "wrong"}
        )
        assert undo.status_code == 200, undo.content


class TestEnterprisePerson:
    @pytest.fixture
    def person(self, world) -> dict[str, Any]:
        tenant = world["tenant"]
        with tenant_scope(tenant.id):
            hidden = patient_register(
                actor=None,
                data=patient_data(
                    confidentiality="restricted",
                    names=(NameInput(family="Zuberi", given=("Neema",), use="official"),),
                    birth_date=date(1990, 1, 2),
                ),
                duplicate_override_reason="test",
            )
            euid = enterprise_link_pair(
                actor=None,
                patient_id=world["normal"].id,
                other_patient_id=hidden.id,
                source="steward",
            )
        return {**world, "hidden": hidden, "euid": euid}

    def test_restricted_records_are_masked_and_left_out_of_the_golden_record(
        self, client: Client, person
    ):
        steward, hidden = person["steward"], person["hidden"]
        url = f"/api/v1/enterprise-persons/{person['euid']}"
        read = client.get(url, headers=steward.header)
        assert read.status_code == 200, read.content
        body = read.json()
        records = {r["id"]: r for r in body["records"]}
        assert records[str(hidden.id)]["masked"] is True
        assert records[str(hidden.id)]["names"] == []
        assert records[str(person["normal"].id)]["masked"] is False
        assert "Zuberi" not in read.content.decode()
        assert "1990-01-02" not in read.content.decode()
        assert body["golden_record"]["birth_date"] == "1987-03-14"

        grant_id = break_glass(client, steward, hidden.id)
        opened = client.get(url, headers=steward.header)
        assert "Zuberi" in opened.content.decode()
        assert {"grant_id": grant_id, "break_glass": True} in audit_details(
            person["tenant"], "patient.read", hidden.id
        )

    def test_a_person_of_restricted_records_only_is_403(self, client: Client, world):
        tenant = world["tenant"]
        with tenant_scope(tenant.id):
            twin = patient_register(
                actor=None,
                data=patient_data(confidentiality="restricted"),
                duplicate_override_reason="test",
            )
            euid = enterprise_link_pair(
                actor=None,
                patient_id=world["secret"].id,
                other_patient_id=twin.id,
                source="steward",
            )
        read = client.get(f"/api/v1/enterprise-persons/{euid}", headers=world["steward"].header)
        assert_restricted(read, "Okafor")
