"""The outbox's supporting paths: commands, service clients, failure handling.

Real PostgreSQL and Redis throughout; the licensing service and the civil registry are played by
a small HTTP server on a loopback port.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import psycopg
import pytest
import redis
from django.core.management import CommandError, call_command

from outbox.clients.civil_registry import CivilRegistryClient
from outbox.clients.http import UpstreamUnavailableError, request_json
from outbox.clients.licensing import LicensingClient
from outbox.consumer import InboxStreamConsumer
from outbox.envelope import parse_incoming
from outbox.errors import PoisonMessageError, TransientMessageError
from outbox.handlers import handler_for, register_handler
from outbox.metrics import register_collector
from outbox.relaydb import relay_connection
from outbox.services import relay
from outbox.services.entitlements import entitlement_apply
from outbox.services.inbox import InboxOutcome, inbox_receive
from outbox.services.outbox import outbox_enqueue, outbox_wake_relay
from tenancy.db import tenant_scope
from tenancy.models import ModuleEntitlement
from tests.factories import make_tenant
from tests.integration.outbox.helpers import (
    LICENSING,
    cloudevent,
    delete_prefixed_keys,
    entitlement_data,
    private_redis,
)


@pytest.fixture
def bus(settings) -> Iterator[Any]:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.OUTBOX_WAKE_ON_COMMIT = False
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    delete_prefixed_keys(client, prefix)
    client.close()


class _Upstream(BaseHTTPRequestHandler):
    """Answers by path: what the licensing service / civil registry would, or failures."""

    replies: dict[str, tuple[int, bytes]] = {}

    def _answer(self) -> None:
        status, body = self.replies.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    replies: dict[str, tuple[int, bytes]] = {}
    handler = type("Handler", (_Upstream,), {"replies": replies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", replies
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_outbox_relay_command_drains(relay_db, bus):
    tenant = make_tenant()
    patient = uuid.uuid4()
    with tenant_scope(tenant.id):
        outbox_enqueue(
            event_type="patient.registered",
            aggregate_type="patient",
            aggregate_id=patient,
            payload={"patient_id": str(patient), "version": 1},
        )
    out = StringIO()
    call_command("outbox_relay", "--once", stdout=out)
    assert out.getvalue().strip() == "published 1"
    with pytest.raises(CommandError, match="--event-id"):
        call_command("outbox_redrive")


def test_entitlements_sync_applies_the_licensing_view(committed_db, upstream):
    url, replies = upstream
    tenant = make_tenant()
    windows = {
        "tenant_id": str(tenant.id),
        "entitlements": [
            {"module": "analytics", "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": None},
            {
                "module": "mpi",
                "valid_from": "2025-01-01T00:00:00+00:00",
                "valid_until": "2025-12-31T00:00:00+00:00",
            },
        ],
    }
    replies[f"/v1/tenants/{tenant.id}/entitlements"] = (200, json.dumps(windows).encode())
    out = StringIO()
    call_command("entitlements_sync", "--url", url, stdout=out)  # every active tenant
    assert out.getvalue().strip() == "changed 2"
    call_command("entitlements_sync", "--url", url, "--tenant", str(tenant.id), stdout=out)
    assert out.getvalue().strip().endswith("changed 0")  # idempotent
    with tenant_scope(tenant.id):
        assert ModuleEntitlement.objects.filter(module="analytics", valid_until=None).exists()
    with pytest.raises(CommandError, match="LICENSING_SERVICE_URL"):
        call_command("entitlements_sync")


def test_service_clients_turn_failures_into_upstream_errors(upstream):
    url, replies = upstream
    replies["/broken"] = (500, b"{}")
    replies["/garbage"] = (200, b"<html>")
    replies["/v1/tenants/00000000-0000-4000-8000-000000000000/entitlements"] = (200, b"[]")
    replies["/v1/death-queries"] = (409, b'{"detail": "busy"}')
    with pytest.raises(UpstreamUnavailableError, match="answered 500"):
        request_json("GET", f"{url}/broken")
    with pytest.raises(UpstreamUnavailableError, match="invalid JSON"):
        request_json("GET", f"{url}/garbage")
    with pytest.raises(UpstreamUnavailableError, match="did not answer"):
        request_json("GET", "http://127.0.0.1:9/nothing-listens", timeout=2)
    with pytest.raises(ValueError, match="http"):
        request_json("GET", "file:///etc/passwd")
    assert request_json("POST", f"{url}/missing", body={"a": 1}).status == 404
    with pytest.raises(UpstreamUnavailableError, match="licensing answered 200"):
        LicensingClient(url, token="").entitlements(
            uuid.UUID("00000000-0000-4000-8000-000000000000")
        )
    with pytest.raises(UpstreamUnavailableError, match="civil registry answered 409"):
        CivilRegistryClient(url, token="t").death_query(system="s", value="v")


@pytest.mark.django_db
def test_entitlement_statements_must_make_sense():
    tenant = make_tenant()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with tenant_scope(tenant.id):
        with pytest.raises(PoisonMessageError, match="time zone"):
            entitlement_apply(module="mpi", valid_from=naive, valid_until=None, origin="t")
        with pytest.raises(PoisonMessageError, match="end after it starts"):
            entitlement_apply(module="mpi", valid_from=start, valid_until=start, origin="t")
        first = entitlement_apply(module="new_mod", valid_from=start, valid_until=None, origin="t")
        again = entitlement_apply(module="new_mod", valid_from=start, valid_until=None, origin="t")
        assert (first.changed, again.changed) == (True, False)


@pytest.mark.parametrize(
    "call",
    [
        relay.relay_batch,
        lambda: relay.outbox_prune(older_than_seconds=0),
        relay.outbox_redrive,
        relay.outbox_gauges,
    ],
)
def test_a_database_error_drops_the_relay_connection(relay_db, bus, call):
    broken = relay_connection()
    broken.execute("SET lock_timeout = '1ms'")
    broken.commit()
    with psycopg.connect(relay_db) as blocker:  # holds the table so every relay statement waits
        blocker.execute("LOCK TABLE outbox_outboxevent IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            call()
    assert broken.closed
    assert relay_connection() is not broken  # the next batch starts on a fresh connection


def test_wake_up_and_metrics_tolerate_a_redis_outage(relay_db, bus, settings, tmp_path):
    with private_redis(tmp_path) as server:
        settings.OUTBOX_BUS_URL = server.url
        server.stop()
        assert outbox_wake_relay() is False
        register_collector()  # idempotent


def test_handler_failures_are_classified(committed_db, bus):
    tenant = make_tenant()
    original = handler_for(LICENSING, 1)

    def buggy(context: Any) -> None:
        raise TypeError("a bug that mentions 123-45-6789")

    def flaky(context: Any) -> None:
        raise TransientMessageError("licensing lookup timed out")

    try:
        register_handler(LICENSING, 1, buggy, replace=True)
        event = parse_incoming(
            cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id))
        )
        receipt = inbox_receive(sender="licensing", event=event)
        assert receipt.outcome == InboxOutcome.DEAD
        assert receipt.error == "TypeError in handler"  # class only: the text may hold PHI
        register_handler(LICENSING, 1, flaky, replace=True)
        retry = parse_incoming(
            cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id))
        )
        with pytest.raises(TransientMessageError, match="timed out"):
            inbox_receive(sender="licensing", event=retry)
    finally:
        register_handler(LICENSING, 1, original, replace=True)


def test_consumer_group_creation_errors_surface(bus, settings):
    stream = f"{settings.OUTBOX_STREAM_PREFIX}not-a-stream"
    bus.set(stream, "x")
    consumer = InboxStreamConsumer(client=bus, streams={"licensing": stream}, consumer="c")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        consumer.ensure_groups()
