"""Audit rows cannot be changed or deleted by the app role, through the ORM or raw SQL."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from tenancy.db import tenant_cursor, tenant_scope
from tenancy.models import AuditEvent
from tenancy.services.audit import audit_record
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        return tenant, audit_record(actor=None, action="probe", object_type="probe", object_id="1")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE tenancy_auditevent SET action = 'forged' WHERE id = %s",
        "DELETE FROM tenancy_auditevent WHERE id = %s",
    ],
)
def test_raw_sql_cannot_change_audit(event, statement):
    tenant, row = event
    with (
        tenant_scope(tenant.id),
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [row.id])


def test_orm_cannot_change_audit(event):
    tenant, row = event
    with tenant_scope(tenant.id):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            AuditEvent.objects.filter(id=row.id).update(action="forged")
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            row.delete()
        with (
            pytest.raises(DatabaseError, match="permission denied"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("TRUNCATE tenancy_auditevent")
        assert AuditEvent.objects.get(id=row.id).action == "probe"


def test_even_the_owner_is_stopped_by_the_trigger(owner_connection):
    owner_connection.autocommit = False
    try:
        with owner_connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tenancy_tenant (id, slug, name, is_active, created_at) "
                "VALUES (gen_random_uuid(), 'own', 'own', true, now()) RETURNING id"
            )
            tenant_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO tenancy_auditevent (tenant_id, occurred_at, action, object_type, "
                "object_id, request_id, details) VALUES (%s, now(), 'a', 'b', '', '', '{}') "
                "RETURNING id",
                [tenant_id],
            )
            event_id = cursor.fetchone()[0]
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                cursor.execute(
                    "UPDATE tenancy_auditevent SET action = 'x' WHERE id = %s", [event_id]
                )
    finally:
        owner_connection.rollback()


def test_bulk_orm_paths_cannot_change_audit(event):
    tenant, row = event
    with tenant_scope(tenant.id):
        row.action = "forged"
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            AuditEvent.objects.bulk_update([row], ["action"])
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            AuditEvent.objects.filter(id=row.id).delete()
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            row.save()
        assert AuditEvent.objects.get(id=row.id).action == "probe"


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE tenancy_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE tenancy_auditevent NO FORCE ROW LEVEL SECURITY",
        "DROP TABLE tenancy_auditevent",
    ],
)
def test_app_role_cannot_lift_the_protection(event, statement):
    tenant, _row = event
    with (
        tenant_scope(tenant.id),
        pytest.raises(DatabaseError, match=r"must be owner|permission denied"),
        transaction.atomic(),
        tenant_cursor() as cursor,
    ):
        cursor.execute(statement)


def test_app_role_cannot_grant_itself_update(event):
    """PostgreSQL only warns when a non-owner GRANTs; the UPDATE is still refused after it."""
    tenant, row = event
    with tenant_scope(tenant.id), transaction.atomic(), tenant_cursor() as cursor:
        cursor.execute("GRANT UPDATE, DELETE ON tenancy_auditevent TO PUBLIC")
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            cursor.execute(
                "UPDATE tenancy_auditevent SET action = 'forged' WHERE id = %s", [row.id]
            )
