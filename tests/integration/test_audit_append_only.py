"""Audit rows cannot be changed or deleted by the app role, through the ORM or raw SQL."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from tenancy.db import tenant_scope
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
