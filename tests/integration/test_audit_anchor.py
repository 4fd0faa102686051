"""The audit chain head leaves the database as `audit.chain-sealed` events, and `audit_verify`
checks the chain against a published head: a database administrator who rewrites audit rows
*and* re-seals the whole chain consistently passes the plain check but not the anchored one."""

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from outbox.models import OutboxEvent
from outbox.services.audit_anchor import audit_chain_head_publish
from outbox.tasks import audit_chain_publish_task
from tenancy.db import tenant_scope
from tenancy.models import AuditSeal
from tenancy.services.audit import audit_record
from tenancy.services.audit_chain import audit_seal, audit_verify
from tests.factories import make_tenant

NOW = timedelta(0)


def _trail(tenant: Any, count: int) -> list[int]:
    with tenant_scope(tenant.id):
        return [
            audit_record(actor=None, action="probe", object_type="probe", object_id=str(n)).id
            for n in range(count)
        ]


def _anchors(tenant: Any) -> list[dict[str, Any]]:
    with tenant_scope(tenant.id):
        return [
            dict(e.payload)
            for e in OutboxEvent.objects.filter(event_type="audit.chain-sealed").order_by("id")
        ]


@pytest.mark.django_db
def test_the_head_is_announced_once_per_move():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        assert audit_chain_head_publish() is None  # nothing sealed yet
    _trail(tenant, 3)
    with tenant_scope(tenant.id):
        audit_seal(horizon=NOW)
        head = AuditSeal.objects.order_by("-seq").first()
        assert head is not None
        event = audit_chain_head_publish()
        assert event is not None
        assert event.aggregate_type == "audit"
        assert event.aggregate_id == str(tenant.id)
        assert audit_chain_head_publish() is None  # unchanged head: not announced again
    [anchor] = _anchors(tenant)
    assert (anchor["seq"], anchor["audit_event_id"], anchor["row_hash"]) == (
        head.seq,
        head.audit_event_id,
        head.row_hash,
    )
    assert anchor["tenant_id"] == str(tenant.id)
    _trail(tenant, 2)
    with tenant_scope(tenant.id):
        audit_seal(horizon=NOW)
        assert audit_chain_head_publish() is not None
    assert [a["seq"] for a in _anchors(tenant)] == [head.seq, head.seq + 2]


@pytest.mark.django_db
def test_the_task_announces_every_tenant_with_a_new_head():
    first, second, idle = make_tenant(), make_tenant(), make_tenant()
    for tenant in (first, second):
        _trail(tenant, 1)
        with tenant_scope(tenant.id):
            audit_seal(horizon=NOW)
    assert audit_chain_publish_task.apply().get() == 2
    assert audit_chain_publish_task.apply().get() == 0
    assert len(_anchors(first)) == len(_anchors(second)) == 1
    assert _anchors(idle) == []


def _rewrite_and_reseal(conn: psycopg.Connection[Any], tenant: Any, event_id: int) -> None:
    """What a DBA could do: edit a row, drop every seal, and let the sealer rebuild the chain."""
    with conn.transaction():
        conn.execute(
            "ALTER TABLE tenancy_auditevent DISABLE TRIGGER tenancy_auditevent_append_only"
        )
        conn.execute(
            "UPDATE tenancy_auditevent SET details = '{\"forged\": true}' WHERE id = %s", [event_id]
        )
        conn.execute("ALTER TABLE tenancy_auditevent ENABLE TRIGGER tenancy_auditevent_append_only")
        conn.execute("ALTER TABLE tenancy_auditseal DISABLE TRIGGER tenancy_auditseal_append_only")
        conn.execute("DELETE FROM tenancy_auditseal WHERE tenant_id = %s", [tenant.id])
        conn.execute("ALTER TABLE tenancy_auditseal ENABLE TRIGGER tenancy_auditseal_append_only")
    with tenant_scope(tenant.id):
        audit_seal(horizon=NOW)


@pytest.mark.usefixtures("committed_db")
def test_a_rewritten_chain_fails_against_the_published_head(owner_connection, capsys):
    tenant = make_tenant()
    rows = _trail(tenant, 4)
    with tenant_scope(tenant.id):
        audit_seal(horizon=NOW)
        audit_chain_head_publish()
    [anchor] = _anchors(tenant)
    head = f"{anchor['seq']}:{anchor['row_hash']}"
    call_command("audit_verify", "--tenant", str(tenant.id), "--head", head)
    assert "TAMPERED" not in capsys.readouterr().out

    _rewrite_and_reseal(owner_connection, tenant, rows[1])
    with tenant_scope(tenant.id):
        assert audit_verify()[1] == []  # internally consistent again
        assert audit_verify(head=(anchor["seq"], anchor["row_hash"]))[1] == [
            f"seal {anchor['seq']} differs from the published head (chain rewritten)"
        ]
        assert audit_verify(head=(anchor["seq"] + 50, anchor["row_hash"]))[1] == [
            f"seal {anchor['seq'] + 50} of the published head is missing"
        ]
    with pytest.raises(CommandError, match="broken in 1 tenant"):
        call_command("audit_verify", "--tenant", str(tenant.id), "--head", head)
    assert "differs from the published head" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--head", "3:" + "a" * 64], "--head needs --tenant"),
        (["--tenant", "TENANT", "--head", "3:xyz"], "SEQ:HASH"),
        (["--tenant", "TENANT", "--head", "0:" + "a" * 64], "SEQ:HASH"),
    ],
)
def test_the_head_option_is_checked(args, message):
    tenant = make_tenant()
    argv = [str(tenant.id) if a == "TENANT" else a for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("audit_verify", *argv)
