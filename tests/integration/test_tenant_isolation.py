"""The tenant-isolation gate: tenant A can never see or touch tenant B's rows.

Everything here runs as the app database role against real PostgreSQL, through every path a
caller has: the ORM, raw SQL, the REST API, the admin console, and Celery tasks.
"""

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from config.celery import app
from registration.models import Patient, PatientIdentifier
from registration.services.inputs import IdentifierInput
from registration.services.patients import patient_register
from tenancy.db import database_tenant_setting, tenant_scope
from tenancy.errors import TenantContextError
from tenancy.models import ApiKey, AuditEvent, Membership, Role
from tenancy.services.audit import audit_record
from tenancy.tasks import tenant_usage_report
from tests.factories import make_api_key, make_tenant, make_user
from tests.patient_builders import MRN_SYSTEM, patient_data

SHARED_MRN = (IdentifierInput(system=MRN_SYSTEM, value="SAME-0001"),)


def build_two_tenants() -> dict[str, Any]:
    """Two tenants holding look-alike data: same roles, same kinds of rows."""
    world: dict[str, Any] = {}
    for name in ("a", "b"):
        tenant = make_tenant(f"iso-{name}")
        user = make_user(tenant, Role.AUDITOR, Role.TENANT_ADMIN, Role.DATA_STEWARD)
        key = make_api_key(tenant, Role.AUDITOR)
        desk = make_api_key(tenant, Role.FRONT_DESK)
        with tenant_scope(tenant.id):
            event = audit_record(
                actor=None, action="probe.created", object_type="probe", object_id="same-id"
            )
            # The same person, with the same MRN, registered in both tenants.
            patient = patient_register(actor=None, data=patient_data(identifiers=SHARED_MRN))
        world[name] = {
            "tenant": tenant,
            "user": user,
            "key": key,
            "desk": desk,
            "event": event,
            "patient": patient,
        }
    return world


@pytest.fixture
def two_tenants(db) -> dict[str, Any]:
    """Both tenants, inside the test's rolled-back transaction."""
    return build_two_tenants()


def _tenant_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' "
            "AND NOT a.attisdropped ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
class TestOrm:
    def test_reads_only_own_rows(self, two_tenants):
        a, b = two_tenants["a"], two_tenants["b"]
        with tenant_scope(a["tenant"].id):
            ids = set(AuditEvent.objects.values_list("id", flat=True))
            assert a["event"].id in ids
            assert b["event"].id not in ids
            assert not AuditEvent.objects.filter(id=b["event"].id).exists()
            assert {m.tenant_id for m in Membership.objects.all()} == {a["tenant"].id}
            assert list(Patient.objects.values_list("id", flat=True)) == [a["patient"].id]
            assert PatientIdentifier.objects.filter(value="SAME-0001").count() == 1

    def test_cannot_update_or_delete_other_tenant(self, two_tenants):
        a, b = two_tenants["a"], two_tenants["b"]
        with tenant_scope(a["tenant"].id):
            assert ApiKey.objects.filter(id=b["key"].id).update(name="stolen") == 0
            assert ApiKey.objects.filter(id=b["key"].id).delete()[0] == 0
        with tenant_scope(b["tenant"].id):
            assert ApiKey.objects.get(id=b["key"].id).name != "stolen"

    def test_cannot_insert_rows_tagged_with_other_tenant(self, two_tenants):
        a, b = two_tenants["a"], two_tenants["b"]
        with (
            tenant_scope(a["tenant"].id),
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
        ):
            ApiKey.objects.create(tenant_id=b["tenant"].id, name="x", prefix="p1", secret_hash="h")

    def test_cannot_move_own_row_to_other_tenant(self, two_tenants):
        a, b = two_tenants["a"], two_tenants["b"]
        with (
            tenant_scope(a["tenant"].id),
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
        ):
            ApiKey.objects.filter(id=a["key"].id).update(tenant_id=b["tenant"].id)


@pytest.mark.django_db
class TestRawSql:
    def test_select_update_delete_insert(self, two_tenants):
        a, b = two_tenants["a"], two_tenants["b"]
        with tenant_scope(a["tenant"].id), connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM tenancy_apikey WHERE tenant_id = %s", [b["tenant"].id]
            )
            assert cursor.fetchone()[0] == 0
            cursor.execute("UPDATE tenancy_apikey SET name = 'x' WHERE id = %s", [b["key"].id])
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM tenancy_membership WHERE tenant_id = %s", [b["tenant"].id])
            assert cursor.rowcount == 0
            with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
                cursor.execute(
                    "INSERT INTO tenancy_auditevent (tenant_id, occurred_at, action, object_type, "
                    "object_id, request_id, details) VALUES (%s, now(), 'x', 'x', '', '', '{}')",
                    [b["tenant"].id],
                )

    def test_cannot_switch_role_or_bypass(self, two_tenants):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            assert cursor.fetchone() == (False, False)
            # With row_security off, a query that RLS would filter must fail, not leak.
            with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():  # noqa: PT012 - both statements are the scenario
                cursor.execute("SET LOCAL row_security = off")
                cursor.execute("SELECT count(*) FROM tenancy_apikey")

    def test_no_tenant_set_reads_nothing(self, two_tenants):
        tables = _tenant_tables()
        assert {"tenancy_auditevent", "tenancy_apikey", "tenancy_membership"} <= set(tables)
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - catalog names
                assert cursor.fetchone()[0] == 0, table
        # ...while the rows really are there for whoever holds the tenant.
        with tenant_scope(two_tenants["a"]["tenant"].id):
            assert AuditEvent.objects.count() >= 1
            assert Membership.objects.count() == 3


@pytest.mark.django_db
class TestRestApi:
    def test_other_tenant_object_is_404_not_403(self, two_tenants, client: Client):
        a, b = two_tenants["a"], two_tenants["b"]
        response = client.get(f"/api/v1/audit-events/{b['event'].id}", headers=a["key"].header)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not-found"
        own = client.get(f"/api/v1/audit-events/{a['event'].id}", headers=a["key"].header)
        assert own.status_code == 200
        foreign_patient = client.get(
            f"/api/v1/patients/{b['patient'].id}", headers=a["desk"].header
        )
        assert foreign_patient.status_code == 404
        assert (
            client.get(f"/api/v1/patients/{a['patient'].id}", headers=a["desk"].header).status_code
            == 200
        )
        found = client.get("/api/v1/patients?identifier=SAME-0001", headers=a["desk"].header)
        assert [row["id"] for row in found.json()["results"]] == [str(a["patient"].id)]

    def test_list_shows_only_own_rows(self, two_tenants, client: Client):
        a, b = two_tenants["a"], two_tenants["b"]
        response = client.get("/api/v1/audit-events", headers=a["key"].header)
        assert response.status_code == 200
        ids = {row["id"] for row in response.json()["results"]}
        assert a["event"].id in ids
        assert b["event"].id not in ids


@pytest.mark.django_db
class TestAdmin:
    def test_other_tenant_object_is_404(self, two_tenants, client: Client):
        a, b = two_tenants["a"], two_tenants["b"]
        client.force_login(a["user"])
        assert client.get(f"/admin/tenancy/auditevent/{a['event'].id}/change/").status_code == 200
        assert (
            client.get(f"/admin/registration/patient/{a['patient'].id}/change/").status_code == 200
        )
        assert client.get(f"/admin/tenancy/auditevent/{b['event'].id}/change/").status_code == 404
        assert client.get(f"/admin/tenancy/apikey/{b['key'].id}/change/").status_code == 404
        assert (
            client.get(f"/admin/registration/patient/{b['patient'].id}/change/").status_code == 404
        )

    def test_changelist_shows_only_own_rows(self, two_tenants, client: Client):
        a, b = two_tenants["a"], two_tenants["b"]
        client.force_login(a["user"])
        page = client.get("/admin/tenancy/apikey/").content.decode()
        assert b["key"].token.split("_")[1] not in page
        assert a["key"].token.split("_")[1] in page


class TestNoLeakAcrossRequests:
    def test_setting_dies_with_each_request_on_a_reused_connection(self, committed_db):
        world = build_two_tenants()
        client = Client()
        pids = set()
        for name in ("a", "b", "a"):
            response = client.get("/api/v1/audit-events", headers=world[name]["key"].header)
            ids = {row["id"] for row in response.json()["results"]}
            assert world[name]["event"].id in ids
            other = "b" if name == "a" else "a"
            assert world[other]["event"].id not in ids
            # The connection the request used is still open, and holds no tenant.
            assert database_tenant_setting() == ""
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.add(cursor.fetchone()[0])
        assert len(pids) == 1, "the test must exercise one reused connection"
        anonymous = client.get("/api/v1/audit-events")
        assert anonymous.status_code == 401

    def test_scope_inside_a_callers_transaction_is_cleared_on_exit(self, committed_db):
        world = build_two_tenants()
        with transaction.atomic():
            with tenant_scope(world["a"]["tenant"].id):
                assert database_tenant_setting() == str(world["a"]["tenant"].id)
            assert database_tenant_setting() == ""
            assert AuditEvent.objects.count() == 0


@app.task(name="tests.probe_tenant_setting")
def probe_tenant_setting() -> dict[str, Any]:
    """What the worker's database connection holds as tenant, outside any scope."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return {"setting": database_tenant_setting(), "pid": pid, "visible": AuditEvent.objects.count()}


class TestCeleryTasks:
    def test_task_sees_only_its_tenant_and_leaks_nothing(self, committed_db, celery_worker):
        world = build_two_tenants()
        with tenant_scope(world["b"]["tenant"].id):
            for _ in range(3):
                audit_record(actor=None, action="probe.extra", object_type="probe")
        a_id, b_id = str(world["a"]["tenant"].id), str(world["b"]["tenant"].id)
        report_a = tenant_usage_report.delay(tenant_id=a_id).get(timeout=20)
        first_probe = probe_tenant_setting.delay().get(timeout=20)
        report_b = tenant_usage_report.delay(tenant_id=b_id).get(timeout=20)
        second_probe = probe_tenant_setting.delay().get(timeout=20)
        with tenant_scope(world["a"]["tenant"].id):
            expected_a = AuditEvent.objects.count()
        with tenant_scope(world["b"]["tenant"].id):
            expected_b = AuditEvent.objects.count()
        assert report_a["audit_events"] == expected_a
        assert report_b["audit_events"] == expected_b
        assert expected_b == expected_a + 3
        assert report_a["memberships"] == report_b["memberships"] == 3
        # The same worker connection served both tenants and kept neither.
        assert first_probe == {"setting": "", "pid": first_probe["pid"], "visible": 0}
        assert second_probe == {"setting": "", "pid": first_probe["pid"], "visible": 0}

    def test_task_without_tenant_is_refused(self, committed_db, celery_worker):
        # Sent by name, as a foreign producer would: the client-side signature check is skipped.
        for kwargs in ({}, {"tenant_id": "not-a-uuid"}):
            result = app.send_task("tenancy.tenant_usage_report", kwargs=kwargs)
            with pytest.raises(TenantContextError):
                result.get(timeout=20)
