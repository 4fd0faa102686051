"""Care-team grants through REST: tenant administrators and privacy officers (auditors) list,
give and revoke them; each change is audited and announced through the outbox in the same
transaction; a revoked grant stops working at the very next access."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from outbox.models import OutboxEvent
from registration.models import PatientAccessGrant
from registration.services.access import care_team_grant
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant, make_user
from tests.integration.restricted.conftest import PROBLEM, assert_restricted, break_glass

pytestmark = pytest.mark.django_db
WHY = "Attending physician for this admission"


def grants_url(world: dict[str, Any], suffix: str = "") -> str:
    return f"/api/v1/patients/{world['secret'].id}/access-grants{suffix}"


def give(client: Client, world: dict[str, Any], key: Any, body: dict[str, Any]) -> Any:
    return client.post(
        grants_url(world), data=body, content_type="application/json", headers=key.header
    )


@pytest.fixture
def admin(world: dict[str, Any]) -> Any:
    return make_api_key(world["tenant"], Role.TENANT_ADMIN)


def test_grant_opens_the_record_and_revocation_closes_it_at_once(client: Client, world, admin):
    tenant, secret = world["tenant"], world["secret"]
    nurse = make_user(tenant, Role.FRONT_DESK)
    nurse_client = Client()
    nurse_client.force_login(nurse)
    assert_restricted(nurse_client.get(f"/api/v1/patients/{secret.id}"), "Okafor")

    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    created = give(
        client,
        world,
        admin,
        {"user_id": nurse.pk, "reason": WHY, "expires_at": expires.isoformat()},
    )
    assert created.status_code == 201, created.content
    grant = created.json()
    assert grant["kind"] == "care_team"
    assert grant["grantee_user_id"] == nurse.pk
    assert grant["grantee_username"] == nurse.username
    assert grant["reason"] == WHY
    assert grant["granted_by"] == f"api-key:{admin.id}"
    assert grant["active"] is True
    assert grant["revoked_at"] is None
    assert created["Location"] == grants_url(world, f"/{grant['id']}")

    opened = nurse_client.get(f"/api/v1/patients/{secret.id}")
    assert opened.status_code == 200
    assert opened.json()["names"][0]["family"] == "Okafor"

    listed = client.get(grants_url(world), headers=admin.header).json()["results"]
    assert [g["id"] for g in listed] == [grant["id"]]
    one = client.get(grants_url(world, f"/{grant['id']}"), headers=admin.header)
    assert one.json()["id"] == grant["id"]

    revoked = client.delete(grants_url(world, f"/{grant['id']}"), headers=admin.header)
    assert revoked.status_code == 204
    assert_restricted(nurse_client.get(f"/api/v1/patients/{secret.id}"), "Okafor")
    # Revoking again changes nothing; the revoked grant is listed under state=all only.
    assert (
        client.delete(grants_url(world, f"/{grant['id']}"), headers=admin.header).status_code == 204
    )
    assert client.get(grants_url(world), headers=admin.header).json()["results"] == []
    history = client.get(grants_url(world, "?state=all"), headers=admin.header).json()["results"]
    assert history[0]["active"] is False
    assert history[0]["revoked_by"] == f"api-key:{admin.id}"

    with tenant_scope(tenant.id):
        audit = {
            row.action: row for row in AuditEvent.objects.filter(action__startswith="access_grant.")
        }
        assert set(audit) == {"access_grant.created", "access_grant.revoked"}
        assert audit["access_grant.created"].actor_api_key_id == admin.id
        assert audit["access_grant.created"].details["grant_id"] == grant["id"]
        assert audit["access_grant.revoked"].details == {
            "grant_id": grant["id"],
            "kind": "care_team",
        }
        granted = OutboxEvent.objects.get(event_type="security.access-granted")
        assert granted.payload["grant_id"] == grant["id"]
        assert granted.payload["grantee"] == f"user:{nurse.pk}"
        assert granted.payload["actor"] == f"api-key:{admin.id}"
        assert granted.payload["expires_at"] == expires.isoformat()
        assert WHY not in str(granted.payload)
        [revoked_event] = OutboxEvent.objects.filter(event_type="security.access-revoked")
        assert revoked_event.payload["kind"] == "care_team"


def test_an_auditor_may_revoke_a_break_glass_grant(client: Client, world):
    grant_id = break_glass(client, world["desk"], world["secret"].id)
    auditor = make_api_key(world["tenant"], Role.AUDITOR)
    listed = client.get(grants_url(world), headers=auditor.header).json()["results"]
    assert [(g["id"], g["kind"]) for g in listed] == [(grant_id, "break_glass")]
    assert (
        client.delete(grants_url(world, f"/{grant_id}"), headers=auditor.header).status_code == 204
    )
    assert_restricted(
        client.get(f"/api/v1/patients/{world['secret'].id}", headers=world["desk"].header)
    )


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"reason": WHY}, "user_id", 400),
        ({"user_id": "7", "reason": WHY}, "user_id", 400),
        ({"user_id": 0, "reason": WHY}, "user_id", 400),
        ({"user_id": "NURSE"}, "reason", 400),
        ({"user_id": "NURSE", "reason": "short"}, "reason", 400),
        ({"user_id": "NURSE", "reason": "x" * 1001}, "reason", 400),
        ({"user_id": "NURSE", "reason": WHY, "expires_at": "tomorrow"}, "expires_at", 400),
        ({"user_id": "NURSE", "reason": WHY, "expires_at": "PAST"}, "expires_at", 422),
        ({"user_id": "STRANGER", "reason": WHY}, "user_id", 422),
        ({"user_id": 987654321, "reason": WHY}, "user_id", 422),
    ],
)
def test_bad_input_is_problem_json_naming_the_field(
    client: Client, world, admin, *, body, field, status
):
    nurse = make_user(world["tenant"], Role.FRONT_DESK)
    stranger = make_user(make_tenant(), Role.FRONT_DESK)
    replacements = {
        "NURSE": nurse.pk,
        "STRANGER": stranger.pk,
        "PAST": (timezone.now() - timedelta(minutes=1)).isoformat(),
    }
    body = {k: replacements.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = give(client, world, admin, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}
    with tenant_scope(world["tenant"].id):
        assert not PatientAccessGrant.objects.exists()
        assert not OutboxEvent.objects.filter(event_type="security.access-granted").exists()


def test_a_second_grant_to_the_same_member_is_409(client: Client, world, admin):
    nurse = make_user(world["tenant"], Role.FRONT_DESK)
    assert give(client, world, admin, {"user_id": nurse.pk, "reason": WHY}).status_code == 201
    twice = give(client, world, admin, {"user_id": nurse.pk, "reason": WHY})
    assert twice.status_code == 409
    assert twice["Content-Type"] == PROBLEM


def test_a_manager_cannot_grant_themself(client: Client, world):
    admin_user = make_user(world["tenant"], Role.TENANT_ADMIN, Role.FRONT_DESK)
    client.force_login(admin_user)
    refused = client.post(
        grants_url(world),
        data={"user_id": admin_user.pk, "reason": WHY},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert refused["Content-Type"] == PROBLEM
    assert "break-glass" in refused.json()["detail"]
    other = make_user(world["tenant"], Role.DATA_STEWARD)
    allowed = client.post(
        grants_url(world),
        data={"user_id": other.pk, "reason": WHY},
        content_type="application/json",
    )
    assert allowed.status_code == 201
    assert allowed.json()["granted_by"] == f"user:{admin_user.pk}"


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR])
def test_other_roles_are_refused_403(client: Client, world, role):
    key = make_api_key(world["tenant"], role)
    nurse = make_user(world["tenant"], Role.FRONT_DESK)
    for response in (
        client.get(grants_url(world), headers=key.header),
        give(client, world, key, {"user_id": nurse.pk, "reason": WHY}),
    ):
        assert response.status_code == 403
        assert response["Content-Type"] == PROBLEM


def test_anonymous_is_401(client: Client, world):
    assert client.get(grants_url(world)).status_code == 401


def test_another_tenants_patient_and_grants_are_404(client: Client, world, admin):
    nurse = make_user(world["tenant"], Role.FRONT_DESK)
    grant_id = give(client, world, admin, {"user_id": nurse.pk, "reason": WHY}).json()["id"]
    other = make_tenant()
    outsider = make_api_key(other, Role.TENANT_ADMIN)
    other_nurse = make_user(other, Role.FRONT_DESK)
    for response in (
        client.get(grants_url(world), headers=outsider.header),
        client.get(grants_url(world, f"/{grant_id}"), headers=outsider.header),
        client.delete(grants_url(world, f"/{grant_id}"), headers=outsider.header),
        give(client, world, outsider, {"user_id": other_nurse.pk, "reason": WHY}),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM
    # A grant id under another patient of the same tenant is 404 too.
    normal = f"/api/v1/patients/{world['normal'].id}/access-grants/{grant_id}"
    assert client.delete(normal, headers=admin.header).status_code == 404
    with tenant_scope(world["tenant"].id):
        assert PatientAccessGrant.objects.get().revoked_at is None


class TestConsole:
    def test_a_tenant_admin_manages_the_care_team_without_seeing_the_record(
        self, client: Client, world
    ):
        tenant, secret = world["tenant"], world["secret"]
        nurse = make_user(tenant, Role.FRONT_DESK)
        nurse_client = Client()
        nurse_client.force_login(nurse)
        base = f"/admin/registration/patient/{secret.id}"
        assert nurse_client.get(f"{base}/change/").status_code == 403

        client.force_login(make_user(tenant, Role.TENANT_ADMIN))
        assert client.get(f"{base}/change/")["Location"] == f"{base}/care-team/"
        page = client.get(f"{base}/care-team/")
        assert page.status_code == 200
        assert "care-team-empty" in page.content.decode()
        assert "Okafor" not in page.content.decode()
        assert nurse.username in page.content.decode()  # offered in the member list

        added = client.post(
            f"{base}/care-team/",
            {"user": nurse.pk, "reason": WHY, "expires_at": "", "next": f"{base}/care-team/"},
        )
        assert added.status_code == 302
        assert added["Location"] == f"{base}/care-team/#care-team"
        assert nurse_client.get(f"{base}/change/").status_code == 200
        with tenant_scope(tenant.id):
            grant = PatientAccessGrant.objects.get()
            assert OutboxEvent.objects.filter(event_type="security.access-granted").count() == 1
        listed = client.get(f"{base}/care-team/").content.decode()
        assert WHY in listed
        assert f'data-grant="{grant.id}"' in listed

        revoked = client.post(
            f"{base}/care-team/{grant.id}/revoke/", {"next": "https://evil.example/"}
        )
        assert revoked["Location"] == f"{base}/care-team/#care-team"
        assert nurse_client.get(f"{base}/change/").status_code == 403
        assert "care-team-empty" in client.get(f"{base}/care-team/").content.decode()

    def test_refusals_are_shown_on_the_form_and_nothing_is_saved(self, client: Client, world):
        tenant, secret = world["tenant"], world["secret"]
        admin_user = make_user(tenant, Role.AUDITOR)
        client.force_login(admin_user)
        url = f"/admin/registration/patient/{secret.id}/care-team/"
        short = client.post(
            url, {"user": make_user(tenant, Role.FRONT_DESK).pk, "reason": "too short"}
        )
        assert short.status_code == 200
        assert "Nobody was added" in short.content.decode()
        mine = client.post(url, {"user": admin_user.pk, "reason": WHY})
        assert mine.status_code == 200
        assert "use break-glass" in mine.content.decode()
        with tenant_scope(tenant.id):
            assert not PatientAccessGrant.objects.exists()

    def test_the_panel_is_on_the_patient_page_for_managers_only(self, client: Client, world):
        tenant, secret = world["tenant"], world["secret"]
        base = f"/admin/registration/patient/{secret.id}"
        manager = make_user(tenant, Role.DATA_STEWARD, Role.TENANT_ADMIN)
        client.force_login(manager)
        restricted = client.get(f"{base}/change/")
        assert restricted.status_code == 403
        assert "care-team-form" in restricted.content.decode()
        nurse = make_user(tenant, Role.FRONT_DESK)
        with_panel = client.post(
            f"{base}/care-team/", {"user": nurse.pk, "reason": WHY, "next": f"{base}/change/"}
        )
        assert with_panel["Location"] == f"{base}/change/#care-team"
        with tenant_scope(tenant.id):  # another manager puts this one on the care team too
            care_team_grant(actor=None, patient_id=secret.id, user_id=manager.pk, reason=WHY)
        opened = client.get(f"{base}/change/").content.decode()
        assert "Okafor" in opened
        assert "care-team-form" in opened
        assert opened.count('class="care-team-row"') == 2

        client.force_login(nurse)
        detail = client.get(f"{base}/change/")
        assert detail.status_code == 200
        assert "care-team-form" not in detail.content.decode()
        assert client.get(f"{base}/care-team/").status_code == 403
        with tenant_scope(tenant.id):
            grant = PatientAccessGrant.objects.get(grantee_user=nurse)
        assert client.post(f"{base}/care-team/{grant.id}/revoke/").status_code == 403
        assert client.get(f"{base}/change/").status_code == 200  # still on the care team
