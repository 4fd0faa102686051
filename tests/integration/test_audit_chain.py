"""The audit hash chain: sealing, verification, and detection of a database administrator's
edit, deletion or insertion (made through the owner connection, past the append-only trigger)."""

from datetime import timedelta
from itertools import pairwise

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction

from tenancy.db import tenant_scope
from tenancy.models import AuditSeal
from tenancy.services.audit import audit_record
from tenancy.services.audit_chain import audit_seal, audit_verify
from tenancy.tasks import audit_seal_task
from tests.factories import make_tenant

NOW = timedelta(0)


def _trail(tenant, count: int = 5) -> list[int]:
    with tenant_scope(tenant.id):
        return [
            audit_record(actor=None, action="probe", object_type="probe", object_id=str(n)).id
            for n in range(count)
        ]


def _as_owner(conn: psycopg.Connection, statement: str, params: list[object]) -> None:
    """What a DBA could do: lift the append-only trigger, change the table, put it back."""
    with conn.transaction():
        conn.execute(
            "ALTER TABLE tenancy_auditevent DISABLE TRIGGER tenancy_auditevent_append_only"
        )
        conn.execute(statement, params)
        conn.execute("ALTER TABLE tenancy_auditevent ENABLE TRIGGER tenancy_auditevent_append_only")


@pytest.mark.usefixtures("committed_db")
class TestChain:
    def test_sealed_chain_verifies_and_extends(self):
        tenant = make_tenant()
        _trail(tenant)
        with tenant_scope(tenant.id):
            assert audit_seal(horizon=timedelta(hours=1)) == 0  # too recent to seal yet
            sealed = audit_seal(horizon=NOW)
            assert sealed >= 5  # plus tenant.created
            assert audit_verify() == (sealed, [])
        _trail(tenant, 2)
        with tenant_scope(tenant.id):
            assert audit_seal(horizon=NOW) == 2
            assert audit_verify() == (sealed + 2, [])
            seals = list(AuditSeal.objects.order_by("seq"))
            assert [s.seq for s in seals] == list(range(1, sealed + 3))
            assert all(a.row_hash == b.prev_hash for a, b in pairwise(seals))

    def test_owner_edit_delete_and_insert_are_reported(self, owner_connection):
        tenant, other = make_tenant(), make_tenant()
        before = _trail(tenant, 3)
        gap = _trail(other, 1)[0]  # an id inside the tenant's sealed range
        after = _trail(tenant, 3)
        with tenant_scope(tenant.id):
            audit_seal(horizon=NOW)
        _as_owner(
            owner_connection,
            "UPDATE tenancy_auditevent SET details = '{\"forged\": true}' WHERE id = %s",
            [before[1]],
        )
        _as_owner(owner_connection, "DELETE FROM tenancy_auditevent WHERE id = %s", [after[0]])
        _as_owner(owner_connection, "DELETE FROM tenancy_auditevent WHERE id = %s", [gap])
        owner_connection.execute(
            "INSERT INTO tenancy_auditevent (id, tenant_id, occurred_at, action, object_type, "
            "object_id, request_id, details) VALUES (%s, %s, now(), 'slipped', 'probe', '', "
            "'', '{}')",
            [gap, tenant.id],
        )
        with tenant_scope(tenant.id):
            _verified, problems = audit_verify()
        assert sorted(problems) == sorted(
            [
                f"audit event {before[1]} was altered",
                f"audit event {after[0]} was deleted",
                f"audit event {gap} is not sealed",
            ]
        )
        with tenant_scope(other.id):
            assert audit_verify() == (0, [])
        with pytest.raises(CommandError, match="broken in 1 tenant"):
            call_command("audit_verify")
        call_command("audit_verify", "--tenant", str(other.id))

    def test_commands_seal_and_verify(self, capsys):
        tenant = make_tenant()
        _trail(tenant, 3)
        call_command("audit_seal", "--horizon", "0")
        assert "sealed 4" in capsys.readouterr().out
        call_command("audit_verify", "--tenant", str(tenant.id))
        assert "4 sealed rows verified" in capsys.readouterr().out


@pytest.mark.django_db
def test_app_role_cannot_change_seals():
    tenant = make_tenant()
    _trail(tenant, 1)
    with tenant_scope(tenant.id):
        audit_seal(horizon=NOW)
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            AuditSeal.objects.update(row_hash="0" * 64)
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            AuditSeal.objects.all().delete()


@pytest.mark.usefixtures("celery_worker")
def test_the_beat_task_seals_every_tenant(settings):
    settings.AUDIT_SEAL_HORIZON_SECONDS = 0
    first, second = make_tenant(), make_tenant()
    _trail(first, 2)
    _trail(second, 1)
    # tenant.created of each tenant, plus the trails
    assert audit_seal_task.apply_async().get(timeout=30) == 5
    for tenant, rows in ((first, 3), (second, 2)):
        with tenant_scope(tenant.id):
            assert audit_verify() == (rows, [])
