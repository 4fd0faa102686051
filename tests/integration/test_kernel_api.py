"""The kernel's HTTP surface: authentication, roles, errors, health, console tenant switch."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tenancy.db import tenant_scope
from tenancy.errors import NotFoundError, ValidationFailedError
from tenancy.models import ApiKey, AuditEvent, Role
from tenancy.principal import Principal
from tenancy.services.credentials import api_key_authenticate, api_key_create, api_key_revoke
from tests.factories import make_api_key, make_tenant, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return make_tenant()


class TestApiKeys:
    def test_token_is_shown_once_and_only_its_hash_is_stored(self, tenant):
        with tenant_scope(tenant.id):
            issued = api_key_create(actor=None, name=" ci ", role=Role.INTEGRATOR)
            stored = ApiKey.objects.get(id=issued.api_key.id)
        assert stored.name == "ci"
        secret = issued.token.split("_", 2)[2]
        assert secret not in stored.secret_hash
        assert len(stored.secret_hash) == 64

    def test_authenticate_and_revoke(self, tenant):
        key = make_api_key(tenant, Role.AUDITOR)
        principal = api_key_authenticate(token=key.token)
        assert principal == Principal(
            tenant_id=tenant.id, roles=frozenset({"auditor"}), api_key_id=key.id
        )
        with tenant_scope(tenant.id):
            assert ApiKey.objects.get(id=key.id).last_used_at is not None
            api_key_revoke(actor=None, api_key_id=key.id)
            api_key_revoke(actor=None, api_key_id=key.id)  # idempotent
            assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1
        assert api_key_authenticate(token=key.token) is None

    @pytest.mark.parametrize(
        "token", ["", "garbage", "rsk_nope", "xyz_abc_def", "rsk_000000000000_wrong"]
    )
    def test_malformed_or_unknown_tokens_are_refused(self, tenant, token):
        make_api_key(tenant)
        assert api_key_authenticate(token=token) is None

    def test_wrong_secret_for_a_real_prefix_is_refused(self, tenant):
        key = make_api_key(tenant)
        prefix = key.token.split("_")[1]
        assert api_key_authenticate(token=f"rsk_{prefix}_not-the-secret") is None

    def test_last_used_is_stamped_at_most_once_a_minute(self, tenant):
        key = make_api_key(tenant)
        api_key_authenticate(token=key.token)
        with tenant_scope(tenant.id):
            first = ApiKey.objects.get(id=key.id).last_used_at
        api_key_authenticate(token=key.token)
        with tenant_scope(tenant.id):
            assert ApiKey.objects.get(id=key.id).last_used_at == first
            ApiKey.objects.filter(id=key.id).update(
                last_used_at=timezone.now() - timedelta(minutes=5)
            )
        before = timezone.now()
        api_key_authenticate(token=key.token)
        with tenant_scope(tenant.id):
            refreshed = ApiKey.objects.get(id=key.id).last_used_at
        assert first is not None
        assert refreshed is not None
        assert refreshed >= before

    def test_a_key_used_within_the_minute_costs_one_query_and_no_write(
        self, tenant, django_assert_num_queries
    ):
        key = make_api_key(tenant)
        # The lookup, then the stamp in its own scope: savepoint, set_config, UPDATE, release,
        # and the setting cleared again (the test runs inside a transaction).
        with django_assert_num_queries(6):
            api_key_authenticate(token=key.token)
        with tenant_scope(tenant.id):
            stamped = ApiKey.objects.get(id=key.id).last_used_at
        with django_assert_num_queries(1):  # the lookup alone: it returns the stamp
            assert api_key_authenticate(token=key.token) is not None
        with tenant_scope(tenant.id):
            assert ApiKey.objects.get(id=key.id).last_used_at == stamped

    def test_invalid_input_and_unknown_key(self, tenant):
        with tenant_scope(tenant.id):
            with pytest.raises(ValidationFailedError) as info:
                api_key_create(actor=None, name="", role="wizard")
            assert {e.field for e in info.value.errors} == {"name", "role"}
            with pytest.raises(NotFoundError):
                api_key_revoke(actor=None, api_key_id=tenant.id)

    def test_key_of_a_deactivated_tenant_stops_working(self, tenant):
        key = make_api_key(tenant)
        type(tenant).objects.filter(id=tenant.id).update(is_active=False)
        assert api_key_authenticate(token=key.token) is None


class TestRestAuthAndErrors:
    def test_anonymous_is_401_problem(self, client: Client):
        response = client.get("/api/v1/audit-events")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
        assert response.json()["code"] == "not-authenticated"

    def test_bad_key_is_401_never_anonymous(self, client: Client):
        response = client.get("/api/v1/audit-events", HTTP_AUTHORIZATION="Api-Key rsk_x_y")
        assert response.status_code == 401
        assert response.json()["code"] == "authentication-failed"

    def test_wrong_role_is_403(self, client: Client, tenant):
        key = make_api_key(tenant, Role.FRONT_DESK)
        response = client.get("/api/v1/audit-events", headers=key.header)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    def test_session_user_with_role(self, client: Client, tenant):
        client.force_login(make_user(tenant, Role.AUDITOR))
        assert client.get("/api/v1/audit-events").status_code == 200

    def test_session_user_without_membership_is_403(self, client: Client):
        client.force_login(make_user(None))
        assert client.get("/api/v1/audit-events").status_code == 403

    def test_filters_are_validated_and_applied(self, client: Client, tenant):
        key = make_api_key(tenant, Role.AUDITOR)
        response = client.get(
            "/api/v1/audit-events?action=api_key.created&object_type=api_key", headers=key.header
        )
        assert [row["object_id"] for row in response.json()["results"]] == [str(key.id)]
        assert (
            client.get(f"/api/v1/audit-events?object_id={key.id}", headers=key.header).json()[
                "results"
            ][0]["action"]
            == "api_key.created"
        )
        too_long = client.get("/api/v1/audit-events?action=" + "x" * 65, headers=key.header)
        assert too_long.status_code == 400
        assert too_long.json()["errors"][0]["field"] == "action"

    def test_unknown_api_url_is_problem_json(self, client: Client):
        response = client.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"

    def test_unknown_console_url_is_html_404(self, client: Client):
        response = client.get("/not-a-page")
        assert response.status_code == 404
        assert "problem" not in response["Content-Type"]

    def test_request_id_is_echoed_or_generated(self, client: Client):
        assert (
            client.get("/healthz", headers={"X-Request-ID": "abc-123"})["X-Request-ID"] == "abc-123"
        )
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert generated["X-Request-ID"] != "bad id with spaces"
        assert len(generated["X-Request-ID"]) == 32

    def test_audit_rows_carry_the_request_id(self, client: Client, tenant):
        user = make_user(tenant, Role.TENANT_ADMIN)
        client.force_login(user)
        client.post(
            "/admin/tenancy/apikey/add/",
            {"name": "from console", "role": "integrator"},
            headers={"X-Request-ID": "req-console-1"},
        )
        with tenant_scope(tenant.id):
            event = AuditEvent.objects.get(action="api_key.created", request_id="req-console-1")
        assert event.actor_user_id == user.pk


class TestHealth:
    def test_liveness(self, client: Client):
        assert client.get("/healthz").json() == {"status": "ok"}

    def test_readiness(self, client: Client):
        response = client.get("/readyz")
        assert response.status_code == 200, response.json()
        assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}

    def test_readiness_fails_when_redis_is_unreachable(self, client: Client, settings):
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["redis"] == "ConnectionError"

    def test_probes_refuse_writes(self, client: Client):
        assert client.post("/healthz").status_code == 405


class TestConsole:
    def test_api_key_is_created_through_the_service_and_shown_once(self, client: Client, tenant):
        client.force_login(make_user(tenant, Role.TENANT_ADMIN))
        response = client.post(
            "/admin/tenancy/apikey/add/", {"name": "lab feed", "role": "integrator"}, follow=True
        )
        shown = [str(m) for m in response.context["messages"]]
        assert any("rsk_" in m for m in shown)
        with tenant_scope(tenant.id):
            api_key = ApiKey.objects.get(name="lab feed")
        token = next(m for m in shown if "rsk_" in m).split(": ")[-1]
        principal = api_key_authenticate(token=token)
        assert principal is not None
        assert principal.api_key_id == api_key.id
        # Not shown again on the key's page.
        page = client.get(f"/admin/tenancy/apikey/{api_key.id}/change/").content.decode()
        assert token not in page

    def test_revoke_action(self, client: Client, tenant):
        key = make_api_key(tenant)
        client.force_login(make_user(tenant, Role.TENANT_ADMIN))
        client.post(
            "/admin/tenancy/apikey/",
            {"action": "revoke_selected", "_selected_action": [str(key.id)]},
        )
        assert api_key_authenticate(token=key.token) is None

    def test_roles_decide_what_the_console_shows(self, client: Client, tenant):
        client.force_login(make_user(tenant, Role.FRONT_DESK))
        assert client.get("/admin/tenancy/auditevent/").status_code == 403
        assert client.get("/admin/tenancy/apikey/").status_code == 403
        index = client.get("/admin/").content.decode()
        assert "Audit events" not in index

    def test_auditor_reads_but_cannot_change(self, client: Client, tenant):
        client.force_login(make_user(tenant, Role.AUDITOR))
        assert client.get("/admin/tenancy/auditevent/").status_code == 200
        assert client.get("/admin/tenancy/membership/").status_code == 403
        assert client.get("/admin/tenancy/apikey/add/").status_code == 403

    def test_tenant_admin_sees_members_and_entitlements(self, client: Client, tenant):
        client.force_login(make_user(tenant, Role.TENANT_ADMIN))
        assert client.get("/admin/tenancy/membership/").status_code == 200
        page = client.get("/admin/tenancy/moduleentitlement/").content.decode()
        assert "registration" in page
        assert "break_glass" in page

    def test_switch_between_own_tenants_only(self, client: Client):
        first, second, foreign = make_tenant(), make_tenant(), make_tenant()
        user = make_user(first, Role.AUDITOR)
        with tenant_scope(second.id):
            from tenancy.services.tenants import membership_grant

            membership_grant(actor=None, user=user, role=Role.AUDITOR)
        client.force_login(user)
        page = client.get("/admin/").content.decode()
        assert first.name in page
        assert second.name in page
        assert foreign.name not in page
        assert (
            client.post("/admin/tenant/switch/", {"tenant_id": str(foreign.id)}).status_code == 400
        )
        response = client.post(
            "/admin/tenant/switch/", {"tenant_id": str(second.id), "next": "https://evil.example/"}
        )
        assert response.status_code == 302
        assert response["Location"] == "/admin/"
        assert client.session["active_tenant_id"] == str(second.id)

    def test_platform_superuser_sees_tenants_read_only(self, client: Client, tenant):
        admin_user = make_user(None)
        admin_user.is_superuser = True
        admin_user.save()
        client.force_login(admin_user)
        assert client.get("/admin/tenancy/tenant/").status_code == 200
        assert client.get("/admin/tenancy/tenant/add/").status_code == 403
        client.force_login(make_user(tenant, Role.TENANT_ADMIN))
        assert client.get("/admin/tenancy/tenant/").status_code == 403


def test_metrics_are_exposed_for_prometheus(client: Client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"python_info" in response.content
