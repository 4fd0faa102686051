"""Restricted patients: masked in search, 403 with a break-glass hint on open, break-glass
with a reason opens one record for a while (audited with the grant id, announced through the
outbox, reviewed by an auditor), expiry closes it again at once."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from outbox.models import OutboxEvent
from registration.models import GrantKind, PatientAccessGrant
from registration.selectors.access import (
    RestrictedPatientError,
    patient_access,
    require_patient_access,
)
from registration.services.access import (
    access_grant_revoke,
    break_glass_open,
    break_glass_review,
    care_team_grant,
)
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.errors import (
    ConflictError,
    ModuleNotLicensedError,
    NotFoundError,
    ValidationFailedError,
)
from tenancy.models import AuditEvent, Role
from tenancy.modules import licensable_modules
from tests.factories import make_api_key, make_tenant, make_user, principal_for
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"
CARE_REASON = "Attending physician this week"
REASON = {"reason_category": "emergency", "reason": "Unconscious in the emergency room"}


@pytest.fixture
def world() -> dict[str, Any]:
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        secret = patient_register(actor=None, data=patient_data(confidentiality="restricted"))
        normal = patient_register(
            actor=None,
            data=patient_data(names=patient_data().names, birth_date=None),
            duplicate_override_reason="a different person",
        )
    return {
        "tenant": tenant,
        "secret": secret,
        "normal": normal,
        "desk": make_api_key(tenant, Role.FRONT_DESK),
        "auditor": make_api_key(tenant, Role.AUDITOR),
    }


def _expire(grant_id: Any, tenant: Any) -> None:
    """Move a grant's end into the past (the database clock decides)."""
    with tenant_scope(tenant.id):
        PatientAccessGrant.objects.filter(id=grant_id).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )


class TestRestApi:
    def test_search_shows_a_masked_restricted_record(self, client: Client, world):
        response = client.get("/api/v1/patients?family=okafor", headers=world["desk"].header)
        assert response.status_code == 200
        results = {r["id"]: r for r in response.json()["results"]}
        secret = results[str(world["secret"].id)]
        assert secret["masked"] is True
        for field in ("names", "identifiers", "telecoms", "addresses", "contacts"):
            assert secret[field] == [], field
        assert secret["birth_date"] is None
        assert secret["confidentiality"] == "restricted"
        assert "Okafor" not in str(secret)
        assert "Boston" not in str(secret)
        assert results[str(world["normal"].id)]["masked"] is False
        assert results[str(world["normal"].id)]["names"][0]["family"] == "Okafor"

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("get", "", None),
            ("get", "/identifiers", None),
            ("patch", "", {"language": "fr"}),
            ("post", "/deactivate", {"reason": "registered twice"}),
            ("post", "/identifiers", {"system": "urn:oid:1.2.3", "value": "X-1"}),
        ],
    )
    def test_every_read_and_write_path_is_403_with_the_hint(
        self, client: Client, world, method, suffix, body
    ):
        url = f"/api/v1/patients/{world['secret'].id}{suffix}"
        kwargs: dict[str, Any] = {"headers": {**world["desk"].header, "If-Match": '"1"'}}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code == 403
        assert response["Content-Type"] == PROBLEM
        problem = response.json()
        assert problem["code"] == "restricted-patient"
        assert problem["break_glass_available"] is True
        assert "Okafor" not in response.content.decode()

    def test_break_glass_opens_the_record_until_it_expires(self, client: Client, world):
        secret, desk = world["secret"], world["desk"]
        opened = client.post(
            f"/api/v1/patients/{secret.id}/break-glass",
            data=REASON,
            content_type="application/json",
            headers=desk.header,
        )
        assert opened.status_code == 201, opened.content
        grant_id = opened.json()["id"]
        read = client.get(f"/api/v1/patients/{secret.id}", headers=desk.header)
        assert read.status_code == 200
        assert read.json()["names"][0]["family"] == "Okafor"
        with tenant_scope(world["tenant"].id):
            reads = AuditEvent.objects.filter(action="patient.read", object_id=str(secret.id))
            assert [r.details for r in reads] == [{"grant_id": grant_id, "break_glass": True}]
            opened_row = AuditEvent.objects.get(action="break_glass.opened")
            assert opened_row.details["grant_id"] == grant_id
            assert "reason" not in opened_row.details  # the free text stays in the grant
            event = OutboxEvent.objects.get(event_type="security.break-glass-used")
            assert event.payload["grant_id"] == grant_id
            assert event.payload["actor"] == f"api-key:{desk.id}"
        _expire(grant_id, world["tenant"])
        again = client.get(f"/api/v1/patients/{secret.id}", headers=desk.header)
        assert again.status_code == 403

    def test_a_grant_is_counted_for_the_alert_once_it_commits(
        self, client: Client, world, django_capture_on_commit_callbacks
    ):
        secret, desk = world["secret"], world["desk"]
        label = {"tenant": str(world["tenant"].id)}
        before = REGISTRY.get_sample_value("regsvc_breakglass_grants_total", label) or 0.0
        with django_capture_on_commit_callbacks(execute=True):
            opened = client.post(
                f"/api/v1/patients/{secret.id}/break-glass",
                data=REASON,
                content_type="application/json",
                headers=desk.header,
            )
        assert opened.status_code == 201, opened.content
        assert REGISTRY.get_sample_value("regsvc_breakglass_grants_total", label) == before + 1
        with django_capture_on_commit_callbacks(execute=True):
            refused = client.post(
                f"/api/v1/patients/{world['normal'].id}/break-glass",
                data=REASON,
                content_type="application/json",
                headers=desk.header,
            )
        assert refused.status_code == 409
        assert REGISTRY.get_sample_value("regsvc_breakglass_grants_total", label) == before + 1

    def test_break_glass_needs_a_reason_and_a_restricted_patient(self, client: Client, world):
        url = f"/api/v1/patients/{world['secret'].id}/break-glass"
        short = client.post(
            url,
            data={"reason_category": "emergency", "reason": "x"},
            content_type="application/json",
            headers=world["desk"].header,
        )
        assert short.status_code == 400
        normal = client.post(
            f"/api/v1/patients/{world['normal'].id}/break-glass",
            data=REASON,
            content_type="application/json",
            headers=world["desk"].header,
        )
        assert normal.status_code == 409

    def test_break_glass_needs_the_module(self, client: Client):
        tenant = make_tenant(modules=tuple(m for m in licensable_modules() if m != "break_glass"))
        with tenant_scope(tenant.id):
            secret = patient_register(actor=None, data=patient_data(confidentiality="restricted"))
        desk = make_api_key(tenant, Role.FRONT_DESK)
        refused = client.get(f"/api/v1/patients/{secret.id}", headers=desk.header)
        assert refused.status_code == 403
        assert refused.json()["break_glass_available"] is False
        response = client.post(
            f"/api/v1/patients/{secret.id}/break-glass",
            data=REASON,
            content_type="application/json",
            headers=desk.header,
        )
        assert response.status_code == 403
        assert response.json()["code"] == "module-not-licensed"
        assert response.json()["module"] == "break_glass"

    def test_auditor_reviews_the_queue(self, client: Client, world):
        opened = client.post(
            f"/api/v1/patients/{world['secret'].id}/break-glass",
            data=REASON,
            content_type="application/json",
            headers=world["desk"].header,
        ).json()
        auditor = world["auditor"].header
        assert (
            client.get("/api/v1/break-glass-grants", headers=world["desk"].header).status_code
            == 403
        )
        queue = client.get("/api/v1/break-glass-grants", headers=auditor).json()["results"]
        assert [g["id"] for g in queue] == [opened["id"]]
        assert queue[0]["reason"] == REASON["reason"]
        review_url = f"/api/v1/break-glass-grants/{opened['id']}/review"
        done = client.post(
            review_url,
            data={"decision": "justified", "note": "ER admission confirmed"},
            content_type="application/json",
            headers=auditor,
        )
        assert done.status_code == 200, done.content
        assert done.json()["review_decision"] == "justified"
        assert client.get("/api/v1/break-glass-grants", headers=auditor).json()["results"] == []
        reviewed = client.get("/api/v1/break-glass-grants?review=reviewed", headers=auditor)
        assert [g["id"] for g in reviewed.json()["results"]] == [opened["id"]]
        twice = client.post(
            review_url,
            data={"decision": "unjustified", "note": "changed my mind"},
            content_type="application/json",
            headers=auditor,
        )
        assert twice.status_code == 409


class TestSelectorsAndServices:
    def test_care_team_grant_opens_without_break_glass_and_revocation_closes(self, world):
        tenant, secret = world["tenant"], world["secret"]
        nurse = make_user(tenant, Role.FRONT_DESK)
        stranger = make_user(tenant, Role.FRONT_DESK)
        with tenant_scope(tenant.id):
            grant = care_team_grant(
                actor=None, patient_id=secret.id, user_id=nurse.pk, reason=CARE_REASON
            )
            access = require_patient_access(principal_for(nurse, tenant, Role.FRONT_DESK), secret)
            assert access.grant_id == grant.id
            assert access.break_glass is False
            with pytest.raises(RestrictedPatientError):
                require_patient_access(principal_for(stranger, tenant, Role.FRONT_DESK), secret)
            assert not patient_access(None, secret).allowed
            access_grant_revoke(actor=None, grant_id=grant.id)
            assert not patient_access(principal_for(nurse, tenant), secret).allowed
            with pytest.raises(NotFoundError):
                access_grant_revoke(actor=None, grant_id=secret.id)

    def test_grants_of_another_tenant_are_invisible(self, world):
        other = make_tenant()
        nurse = make_user(world["tenant"], Role.FRONT_DESK)
        with tenant_scope(world["tenant"].id):
            care_team_grant(
                actor=None, patient_id=world["secret"].id, user_id=nurse.pk, reason=CARE_REASON
            )
        with tenant_scope(other.id):
            assert PatientAccessGrant.objects.count() == 0
            with pytest.raises(NotFoundError):
                care_team_grant(
                    actor=None, patient_id=world["secret"].id, user_id=nurse.pk, reason=CARE_REASON
                )

    def test_service_rules(self, world):
        tenant, secret = world["tenant"], world["secret"]
        user = make_user(tenant, Role.FRONT_DESK)
        auditor = make_user(tenant, Role.AUDITOR)
        me = principal_for(user, tenant, Role.FRONT_DESK)
        with tenant_scope(tenant.id):
            with pytest.raises(ValidationFailedError):
                break_glass_open(
                    actor=me, patient_id=secret.id, reason_category="bored", reason_text="x"
                )
            with pytest.raises(NotFoundError):
                break_glass_open(
                    actor=me, patient_id=tenant.id, reason_category="legal", reason_text="a" * 20
                )
            grant = break_glass_open(
                actor=me,
                patient_id=secret.id,
                reason_category="legal",
                reason_text="Court order 2026/17 served",
            )
            assert grant.kind == GrantKind.BREAK_GLASS
            assert grant.grantee_user_id == user.pk
            assert grant.expires_at is not None
            assert abs((grant.expires_at - timezone.now()) - timedelta(minutes=30)) < timedelta(
                minutes=1
            )
            reviewer = principal_for(auditor, tenant, Role.AUDITOR)
            with pytest.raises(ValidationFailedError):
                break_glass_review(actor=reviewer, grant_id=grant.id, decision="maybe", note="")
            with pytest.raises(NotFoundError):
                break_glass_review(
                    actor=reviewer, grant_id=secret.id, decision="justified", note="ok"
                )
            reviewed = break_glass_review(
                actor=reviewer, grant_id=grant.id, decision="unjustified", note="No order on file"
            )
            assert reviewed.reviewed_by_id == auditor.pk
            with pytest.raises(ConflictError):
                break_glass_review(
                    actor=reviewer, grant_id=grant.id, decision="justified", note="x"
                )

    def test_break_glass_grants_stop_when_the_module_ends(self, world):
        from tenancy.models import ModuleEntitlement
        from tenancy.selectors.entitlements import entitlement_cache
        from tenancy.services.entitlements import module_entitlement_end

        tenant, secret = world["tenant"], world["secret"]
        user = make_user(tenant, Role.FRONT_DESK)
        me = principal_for(user, tenant, Role.FRONT_DESK)
        with tenant_scope(tenant.id), entitlement_cache():
            break_glass_open(
                actor=me, patient_id=secret.id, reason_category="emergency", reason_text="a" * 12
            )
            assert patient_access(me, secret).allowed
            window = ModuleEntitlement.objects.get(module="break_glass")
            module_entitlement_end(actor=None, entitlement_id=window.id)
            assert not patient_access(me, secret).allowed
            with pytest.raises(ModuleNotLicensedError):
                break_glass_open(
                    actor=me,
                    patient_id=secret.id,
                    reason_category="emergency",
                    reason_text="a" * 12,
                )


class TestConsole:
    def test_search_masks_and_detail_offers_break_glass(self, client: Client, world):
        tenant, secret = world["tenant"], world["secret"]
        desk = make_user(tenant, Role.FRONT_DESK)
        client.force_login(desk)
        search = client.get("/admin/registration/patient/?name=okafor").content.decode()
        assert "Restricted record" in search
        assert "patient-masked" in search
        assert search.count("OKAFOR") == 1  # only the normal patient's name
        base = f"/admin/registration/patient/{secret.id}"
        for url in (f"{base}/change/", f"{base}/edit/", f"{base}/deactivate/"):
            page = client.get(url)
            assert page.status_code == 403, url
            assert "break-glass-form" in page.content.decode()
            assert "Adaeze" not in page.content.decode()
        refused = client.post(f"{base}/break-glass/", {"reason_category": "", "reason": ""})
        assert refused.status_code == 403
        opened = client.post(f"{base}/break-glass/", REASON)
        assert opened.status_code == 302
        detail = client.get(f"{base}/change/")
        assert detail.status_code == 200
        assert "break-glass-banner" in detail.content.decode()
        with tenant_scope(tenant.id):
            grant = PatientAccessGrant.objects.get()
            assert grant.grantee_user_id == desk.pk
            reads = AuditEvent.objects.filter(action="patient.read", object_id=str(secret.id))
            assert reads.get().details == {"grant_id": str(grant.id), "break_glass": True}
        _expire(grant.id, tenant)
        assert client.get(f"{base}/change/").status_code == 403

    def test_auditor_reviews_in_the_console(self, client: Client, world):
        tenant, secret = world["tenant"], world["secret"]
        desk = make_user(tenant, Role.FRONT_DESK)
        with tenant_scope(tenant.id):
            grant = break_glass_open(
                actor=principal_for(desk, tenant, Role.FRONT_DESK),
                patient_id=secret.id,
                reason_category="emergency",
                reason_text="Arrived by ambulance",
            )
        client.force_login(make_user(tenant, Role.AUDITOR))
        queue = client.get("/admin/registration/patientaccessgrant/?review_decision__exact=")
        assert queue.status_code == 200
        assert str(grant.id) in queue.content.decode()
        url = f"/admin/registration/patientaccessgrant/{grant.id}/change/"
        assert "Arrived by ambulance" in client.get(url).content.decode()
        saved = client.post(url, {"review_decision": "justified", "review_note": "ER confirmed"})
        assert saved.status_code == 302
        with tenant_scope(tenant.id):
            grant.refresh_from_db()
            assert grant.review_decision == "justified"
            assert AuditEvent.objects.filter(action="break_glass.reviewed").count() == 1
        # The front desk does not see the queue.
        client.force_login(desk)
        assert client.get("/admin/registration/patientaccessgrant/").status_code == 403


class TestDuplicateChecks:
    def test_a_restricted_look_alike_is_named_as_restricted_only(self, client: Client, world):
        tenant, secret = world["tenant"], world["secret"]
        with tenant_scope(tenant.id):
            identifier = secret.identifiers.get()
        body = {
            "names": [{"family": "Okafor", "given": ["Adaeze", "Grace"]}],
            "gender": "female",
            "birth_date": "1987-03-14",
            "identifiers": [{"system": identifier.system, "value": "OTHER-1", "type_code": "MR"}],
        }
        refused = client.post(
            "/api/v1/patients",
            data=body,
            content_type="application/json",
            headers=world["desk"].header,
        )
        assert refused.status_code == 409
        candidates = {c["patient_id"]: c for c in refused.json()["candidates"]}
        masked = candidates[str(secret.id)]
        assert masked["restricted"] is True
        assert (masked["family"], masked["given"], masked["birth_date"]) == ("", [], None)

        client.force_login(make_user(tenant, Role.FRONT_DESK))
        live = client.post(
            "/admin/registration/patient/duplicates/",
            {
                "names-TOTAL_FORMS": "1",
                "names-INITIAL_FORMS": "0",
                "names-0-family": "Okafor",
                "names-0-given": "Adaeze",
                "birth_date": "1987-03-14",
                "gender": "female",
            },
        ).json()["candidates"]
        shown = {c["patient_id"]: c["name"] for c in live}
        assert shown[str(secret.id)] == "Restricted record"
