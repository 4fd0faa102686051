"""The steward's console follows the restricted-patient rules: the queue names a restricted
record it may not open only as "Restricted record"; compare, claim, decide, bulk, the merge page
and its undo are refused (403 with the break-glass form) until break-glass, after which the
compare page is audited with the grant id. The compare page shows both portraits when the
tenant licenses `portrait`."""

import io
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from mpi.models import CandidateGrade, CandidateSource, MatchCandidate, PatientMerge
from mpi.services.merges import patients_merge
from registration.models import Patient, PatientAccessGrant
from registration.services.patients import patient_register
from registration.services.portraits import portrait_replace
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.factories import make_tenant, make_user
from tests.integration.restricted.conftest import REASON, audit_details
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
QUEUE = "/admin/mpi/matchcandidate/"


def propose(tenant_id: Any, a: Patient, b: Patient) -> MatchCandidate:
    low, high = sorted((a.id, b.id))
    return MatchCandidate.objects.create(
        tenant_id=tenant_id,
        patient_low_id=low,
        patient_high_id=high,
        probability=0.9,
        weight=12.5,
        grade=CandidateGrade.PROBABLE,
        explanation=[{"field": "family", "level": "exact", "weight": 6.1}],
        model_version="default-1",
        source=CandidateSource.BATCH,
    )


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 240)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def pair(world) -> dict[str, Any]:
    with tenant_scope(world["tenant"].id):
        candidate = propose(world["tenant"].id, world["secret"], world["normal"])
    return {**world, "candidate": candidate}


def steward(client: Client, tenant: Any) -> Client:
    client.force_login(make_user(tenant, Role.DATA_STEWARD))
    return client


def test_the_queue_masks_and_every_pair_page_is_refused_until_break_glass(client: Client, pair):
    tenant, secret, candidate = pair["tenant"], pair["secret"], pair["candidate"]
    steward(client, tenant)
    queue = client.get(QUEUE).content.decode()
    assert "Restricted record" in queue
    assert queue.count("OKAFOR") == 1  # the normal patient only
    compare = client.get(f"{QUEUE}{candidate.id}/change/")
    assert compare.status_code == 403
    assert "break-glass-form" in compare.content.decode()
    assert f"/admin/registration/patient/{secret.id}/break-glass/" in compare.content.decode()
    assert "Adaeze" not in compare.content.decode()
    assert client.post(f"{QUEUE}{candidate.id}/claim/").status_code == 403
    decided = client.post(
        f"{QUEUE}{candidate.id}/decide/",
        {"action": "not_duplicate", "reason": "Different people: family members"},
    )
    assert decided.status_code == 403
    bulk = client.post(
        f"{QUEUE}bulk/",
        {"candidate_ids": [str(candidate.id)], "decision": "duplicate"},
        follow=True,
    )
    assert "restricted record" in " ".join(str(m) for m in bulk.context["messages"])
    with tenant_scope(tenant.id):
        candidate.refresh_from_db()
        assert (candidate.status, candidate.assignee) == ("open", "")

    assert (
        client.post(f"/admin/registration/patient/{secret.id}/break-glass/", REASON).status_code
        == 302
    )
    compare = client.get(f"{QUEUE}{candidate.id}/change/")
    assert compare.status_code == 200
    assert "Adaeze" in compare.content.decode() or "ADAEZE" in compare.content.decode()
    with tenant_scope(tenant.id):
        grant = PatientAccessGrant.objects.get()
    assert {"grant_id": str(grant.id), "break_glass": True} in audit_details(
        tenant, "patient.read", secret.id
    )


def test_the_merge_page_and_its_undo_are_refused_without_a_grant(client: Client, world):
    tenant = world["tenant"]
    with tenant_scope(tenant.id):
        merge = patients_merge(
            actor=None,
            survivor_id=world["normal"].id,
            subsumed_id=world["secret"].id,
            field_choices=None,
            reason="same person",
            expected_versions={world["normal"].id: 1, world["secret"].id: 1},
        )
    steward(client, tenant)
    page = client.get(f"/admin/mpi/patientmerge/{merge.id}/change/")
    assert page.status_code == 403
    assert "break-glass-form" in page.content.decode()
    undo = client.post(f"/admin/mpi/patientmerge/{merge.id}/unmerge/", {"reason": "wrong pair"})
    assert undo.status_code == 403
    with tenant_scope(tenant.id):
        assert PatientMerge.objects.get().status == "merged"


@pytest.mark.usefixtures("portrait_keys")
@pytest.mark.parametrize("licensed", [True, False])
def test_compare_shows_both_portraits_when_licensed(client: Client, licensed):
    modules = ("registration", "mpi") + (("portrait",) if licensed else ())
    tenant = make_tenant(modules=modules)
    with tenant_scope(tenant.id):
        a = patient_register(actor=None, data=patient_data())
        b = patient_register(actor=None, data=patient_data(), duplicate_override_reason="test")
        for patient in (a, b):
            portrait_replace(actor=None, patient_id=patient.id, expected_version=None, image=jpeg())
        candidate = propose(tenant.id, a, b)
    steward(client, tenant)
    page = client.get(f"{QUEUE}{candidate.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for patient in (a, b):
        portrait_url = f"/admin/registration/patient/{patient.id}/portrait/"
        assert (portrait_url in html) is licensed
    if licensed:
        image = client.get(f"/admin/registration/patient/{a.id}/portrait/")
        assert image.status_code == 200
        assert image["Content-Type"] == "image/jpeg"
