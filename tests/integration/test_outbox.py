"""The transactional outbox and its relay, against the real PostgreSQL and Redis.

Every change other systems care about must reach the bus exactly as the database says it
happened: never an event for a rolled-back change, never a lost event, per-aggregate order
kept — with two relays racing, with the bus down, with a relay killed mid-batch, and with an
event that can never be published (dead after N attempts, holding back only its own shard).
"""

import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.test import Client

from outbox import metrics
from outbox.errors import EventSchemaError, OutboxUsageError
from outbox.models import OutboxEvent, OutboxStatus
from outbox.registry import envelope_errors, schema_errors
from outbox.relaydb import APPLICATION_NAME, relay_connection
from outbox.selectors.outbox import outbox_event_list
from outbox.services.outbox import (
    outbox_enqueue,
    outbox_enqueue_many,
    outbox_wake_relay,
    wake_key,
)
from outbox.services.relay import (
    backoff_seconds,
    outbox_gauges,
    outbox_metrics_refresh,
    outbox_prune,
    outbox_redrive,
    relay_batch,
    relay_drain,
)
from outbox.tasks import metrics_refresh_task, outbox_prune_task, relay_drain_task
from outbox.tracing import trace_context
from tenancy.db import tenant_scope
from tenancy.errors import TenantContextError
from tenancy.principal import Principal
from tests.factories import make_tenant
from tests.integration.outbox.helpers import (
    ReplyHoldingProxy,
    delete_prefixed_keys,
    private_redis,
    stream_events,
    subprocess_env,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def bus(settings) -> Any:
    """The test Redis as the bus, under a stream prefix of this test's own."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.OUTBOX_WAKE_ON_COMMIT = False
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    delete_prefixed_keys(client, prefix)
    client.close()


def _stream(family: str = "patient") -> str:
    return f"{settings.OUTBOX_STREAM_PREFIX}{family}"


def registered(patient_id: uuid.UUID | None = None, **kwargs: Any) -> OutboxEvent:
    """Enqueue patient.registered for a (new) patient in the current tenant."""
    patient_id = patient_id or uuid.uuid4()
    return outbox_enqueue(
        event_type="patient.registered",
        aggregate_type="patient",
        aggregate_id=patient_id,
        payload={"patient_id": str(patient_id), "version": 1},
        **kwargs,
    )


def updated(patient_id: uuid.UUID, version: int) -> OutboxEvent:
    """Enqueue patient.updated for `patient_id` at `version`."""
    return outbox_enqueue(
        event_type="patient.updated",
        aggregate_type="patient",
        aggregate_id=patient_id,
        payload={"patient_id": str(patient_id), "version": version, "changed_fields": ["name"]},
    )


def break_glass(patient_id: uuid.UUID) -> OutboxEvent:
    """Enqueue security.break-glass-used (another stream) for `patient_id`."""
    return outbox_enqueue(
        event_type="security.break-glass-used",
        aggregate_type="patient",
        aggregate_id=patient_id,
        payload={
            "grant_id": str(uuid.uuid4()),
            "patient_id": str(patient_id),
            "actor": "user:7",
            "expires_at": "2026-01-15T10:30:00+00:00",
        },
    )


def statuses(owner_connection) -> dict[str, int]:
    rows = owner_connection.execute(
        "SELECT status, count(*) FROM outbox_outboxevent GROUP BY status"
    ).fetchall()
    return dict(rows)


def assert_per_shard_order(events: list[dict[str, Any]]) -> None:
    """First deliveries of each (tenant, subject) come in outbox id order (dupes ignored)."""
    seen: set[str] = set()
    last: dict[tuple[str, str], int] = {}
    for event in events:
        if event["id"] in seen:
            continue
        seen.add(event["id"])
        shard = (event["tenantid"], event["subject"])
        sequence = int(event["sequence"])
        assert sequence > last.get(shard, 0), f"shard {shard} out of order"
        last[shard] = sequence


class TestEnqueue:
    def test_refuses_to_run_outside_a_transaction(self, committed_db):
        with pytest.raises(OutboxUsageError):
            registered()

    @pytest.mark.django_db
    def test_refuses_to_run_without_a_tenant(self):
        with transaction.atomic(), pytest.raises(TenantContextError):
            registered()

    @pytest.mark.django_db
    def test_a_wrong_payload_fails_the_producer_without_echoing_values(self):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            with pytest.raises(EventSchemaError) as excinfo:
                outbox_enqueue(
                    event_type="patient.registered",
                    aggregate_type="patient",
                    aggregate_id="x",
                    payload={"patient_id": "SECRET-VALUE", "version": 0, "family": "Smith"},
                )
            detail = excinfo.value.detail
            assert "$.patient_id: not a valid uuid" in detail
            assert "$.version: fails minimum" in detail
            assert "unexpected properties family" in detail
            assert "SECRET" not in detail
            assert "Smith" not in detail
            with pytest.raises(EventSchemaError, match="No schema registered"):
                outbox_enqueue(
                    event_type="patient.exploded",
                    aggregate_type="patient",
                    aggregate_id="x",
                    payload={},
                )
            with pytest.raises(EventSchemaError, match="not the current tenant"):
                outbox_enqueue(
                    event_type="patient.registered",
                    aggregate_type="patient",
                    aggregate_id="x",
                    payload={
                        "patient_id": str(uuid.uuid4()),
                        "version": 1,
                        "tenant_id": str(uuid.uuid4()),
                    },
                )
            assert not OutboxEvent.objects.exists()

    @pytest.mark.django_db
    def test_row_carries_shard_headers_and_filled_in_payload(self):
        tenant = make_tenant()
        patient_id = uuid.uuid4()
        actor = Principal(tenant_id=tenant.id, roles=frozenset({"front_desk"}), user_id=42)
        with tenant_scope(tenant.id), trace_context(TRACEPARENT):
            event = registered(patient_id, actor=actor)
            merged = outbox_enqueue(
                event_type="patient.merged",
                aggregate_type="patient",
                aggregate_id=patient_id,
                shard_key="person:E-1",
                payload={
                    "merge_id": str(uuid.uuid4()),
                    "survivor_id": str(patient_id),
                    "subsumed_id": str(uuid.uuid4()),
                    "survivor_version": 2,
                    "subsumed_version": 3,
                },
            )
            assert list(
                outbox_event_list(aggregate_type="patient", aggregate_id=str(patient_id))
            ) == [
                event,
                merged,
            ]
        assert event.shard_key == f"patient:{patient_id}"
        assert merged.shard_key == "person:E-1"
        assert event.payload["tenant_id"] == str(tenant.id)
        assert event.payload["occurred_at"]
        assert event.headers["actor"] == "user:42"
        trace_id = TRACEPARENT.split("-")[1]
        assert event.headers["traceparent"].split("-")[1] == trace_id
        assert event.headers["traceparent"] != merged.headers["traceparent"]  # own span each
        assert event.status == OutboxStatus.PENDING
        assert schema_errors("patient.registered", 1, event.payload) == []

    @pytest.mark.django_db
    def test_the_app_role_cannot_mark_or_delete_events(self):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            event = registered()
            for write in (
                lambda: OutboxEvent.objects.filter(id=event.id).update(status="published"),
                lambda: OutboxEvent.objects.filter(id=event.id).delete(),
            ):
                with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                    write()

    @pytest.mark.django_db
    def test_events_are_isolated_by_tenant(self):
        a, b = make_tenant(), make_tenant()
        with tenant_scope(a.id):
            event = registered()
        with tenant_scope(b.id):
            assert not OutboxEvent.objects.filter(id=event.id).exists()
        with tenant_scope(a.id):
            assert OutboxEvent.objects.filter(id=event.id).exists()


class TestRelay:
    def test_a_rolled_back_transaction_publishes_nothing(self, relay_db, bus, owner_connection):
        tenant = make_tenant()

        def change_that_fails() -> None:
            with tenant_scope(tenant.id):
                registered()
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            change_that_fails()
        assert relay_drain().published == 0
        assert statuses(owner_connection) == {}
        assert bus.xlen(_stream()) == 0

    def test_a_committed_transaction_publishes_exactly_its_events(
        self, relay_db, bus, owner_connection
    ):
        tenant, other = make_tenant(), make_tenant()
        first, second = uuid.uuid4(), uuid.uuid4()
        with tenant_scope(tenant.id), trace_context(TRACEPARENT):
            produced = [registered(first), updated(first, 2), registered(second)]
            glass = break_glass(first)
        with tenant_scope(other.id):
            registered()
            transaction.set_rollback(True)

        result = relay_drain()

        assert (result.fetched, result.published, result.failed) == (4, 4, 0)
        events = stream_events(bus, _stream())
        assert [e["id"] for e in events] == [str(e.event_id) for e in produced]
        [security] = stream_events(bus, _stream("security"))
        assert security["id"] == str(glass.event_id)
        for event, row in zip([*events, security], [*produced, glass], strict=True):
            assert envelope_errors(event) == []
            assert event["specversion"] == "1.0"
            assert event["source"] == settings.OUTBOX_EVENT_SOURCE
            assert event["type"] == row.event_type
            assert event["subject"] == row.aggregate_id
            assert event["tenantid"] == str(tenant.id)
            assert event["sequence"] == str(row.id)
            assert event["dataschema"].endswith(f"{row.event_type}.v1.json")
            assert event["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
            assert event["data"] == row.payload
            assert schema_errors(row.event_type, 1, event["data"]) == []
        assert statuses(owner_connection) == {"published": 4}
        assert relay_drain().published == 0  # published once, never again

    def test_per_shard_order_holds_with_two_relays_racing(self, relay_db, bus, owner_connection):
        tenants = [make_tenant(), make_tenant()]
        patients = {t.id: [uuid.uuid4() for _ in range(8)] for t in tenants}
        for version in range(1, 26):
            for tenant in tenants:
                with tenant_scope(tenant.id):
                    for patient_id in patients[tenant.id]:
                        updated(patient_id, version)
        start = threading.Barrier(2)
        published = [0, 0]
        errors: list[BaseException] = []

        def relay(index: int) -> None:
            try:
                start.wait()
                while (result := relay_batch(batch_size=5)).fetched:
                    published[index] += result.published
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                errors.append(exc)

        workers = [threading.Thread(target=relay, args=(i,)) for i in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert not errors
        relay_drain()  # whatever the last exits left (a shard the other relay still held)

        events = stream_events(bus, _stream())
        assert len(events) == 400
        assert len({e["id"] for e in events}) == 400  # never published twice
        assert all(published), "both relays published"
        assert_per_shard_order(events)
        versions: dict[tuple[str, str], list[int]] = defaultdict(list)
        for event in events:
            versions[(event["tenantid"], event["subject"])].append(event["data"]["version"])
        assert all(v == list(range(1, 26)) for v in versions.values())
        assert statuses(owner_connection) == {"published": 400}

    def test_bus_down_loses_nothing_and_delivers_when_it_returns(
        self, relay_db, bus, settings, owner_connection, tmp_path: Path
    ):
        tenant = make_tenant()
        patient_ids = [uuid.uuid4() for _ in range(3)]
        with private_redis(tmp_path) as server:
            settings.OUTBOX_BUS_URL = server.url
            with tenant_scope(tenant.id):
                for version in range(1, 8):
                    for patient_id in patient_ids:
                        updated(patient_id, version)
            server.stop()

            down = relay_drain()
            assert down.bus_unavailable
            assert down.published == 0
            rows = owner_connection.execute(
                "SELECT status, attempts FROM outbox_outboxevent"
            ).fetchall()
            assert rows == [("pending", 0)] * 21  # delayed, never charged or dead-lettered

            server.start()
            back = relay_drain()
            assert back.published == 21
            client = redis.Redis.from_url(server.url)
            try:
                events = stream_events(client, _stream())
            finally:
                client.close()
        assert len(events) == 21
        assert_per_shard_order(events)
        assert statuses(owner_connection) == {"published": 21}

    def test_a_relay_killed_waiting_for_the_bus_loses_nothing(
        self, relay_db, bus, settings, owner_connection, tmp_path: Path
    ):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            _many_updates(patients=5, versions=40)
        with private_redis(tmp_path) as server:
            settings.OUTBOX_BUS_URL = server.url
            server.pause()  # the relay locks its batch, then waits for the frozen bus
            _kill_relay_mid_batch(lambda: _relay_holds_locks(owner_connection))
            _wait_for_relay_gone(owner_connection)
            assert statuses(owner_connection) == {"pending": 200}  # its batch was never marked
            server.resume()
            result = relay_drain()
            client = redis.Redis.from_url(server.url)
            try:
                events = stream_events(client, _stream())
            finally:
                client.close()
        assert result.published == 200
        assert {e["id"] for e in events} == _event_ids(owner_connection)
        assert_per_shard_order(events)
        assert statuses(owner_connection) == {"published": 200}

    def test_a_relay_killed_after_publishing_redelivers_and_loses_nothing(
        self, relay_db, bus, settings, owner_connection
    ):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            _many_updates(patients=5, versions=40)
        redis_port = bus.connection_pool.connection_kwargs["port"]
        proxy = ReplyHoldingProxy(redis_port)
        try:
            # Redis executes the relay's XADDs, but the replies never reach the relay: it has
            # published its batch and waits, uncommitted -- and is killed there.
            database = bus.connection_pool.connection_kwargs.get("db", 0)
            settings.OUTBOX_BUS_URL = f"{proxy.url[: proxy.url.rindex('/')]}/{database}"
            _kill_relay_mid_batch(lambda: bus.xlen(_stream()) >= 50)
        finally:
            proxy.close()
        _wait_for_relay_gone(owner_connection)
        settings.OUTBOX_BUS_URL = settings.REDIS_URL
        on_bus_before = stream_events(bus, _stream())
        assert len(on_bus_before) == 50  # the killed relay's whole batch reached the bus ...
        assert statuses(owner_connection) == {"pending": 200}  # ... but its marks rolled back

        assert relay_drain().published == 200
        events = stream_events(bus, _stream())
        assert len(events) == 250  # the batch is delivered twice: at least once, never lost
        assert {e["id"] for e in events} == _event_ids(owner_connection)
        assert_per_shard_order(events)  # consumers dedupe by id and see each shard in order
        assert statuses(owner_connection) == {"published": 200}

    def test_dead_after_max_attempts_holding_back_only_its_shard(
        self, relay_db, bus, settings, owner_connection
    ):
        settings.OUTBOX_MAX_ATTEMPTS = 3
        settings.OUTBOX_BACKOFF_BASE_SECONDS = 0
        bus.set(_stream("security"), "not a stream")  # every XADD to it now fails: WRONGTYPE
        tenant = make_tenant()
        patient_id, bystander = uuid.uuid4(), uuid.uuid4()
        before = metrics.read_metrics()
        with tenant_scope(tenant.id):
            first, second = break_glass(patient_id), break_glass(patient_id)
            other = registered(bystander)

        result = relay_drain()

        assert result.published == 1
        assert result.dead == 2
        rows = {
            row[0]: row[1:]
            for row in owner_connection.execute(
                "SELECT event_id, status, attempts, last_error FROM outbox_outboxevent"
            )
        }
        for event in (first, second):
            status, attempts, error = rows[event.event_id]
            assert (status, attempts) == ("dead", 3)
            assert "WRONGTYPE" in error
        assert rows[other.event_id][0] == "published"
        after = metrics.read_metrics()
        key = "c|outbox_events_dead|security"
        assert int(after[key]) - int(before.get(key, 0)) == 2
        assert outbox_gauges().dead == 2

        bus.delete(_stream("security"))  # the cause is fixed; an operator re-drives
        call_command("outbox_redrive", "--event-id", str(first.event_id), stdout=_Sink())
        assert outbox_redrive() == 1
        assert relay_drain().published == 2
        assert [e["id"] for e in stream_events(bus, _stream("security"))] == [
            str(first.event_id),
            str(second.event_id),
        ]

    def test_a_failing_event_backs_off_and_holds_only_its_own_shard(
        self, relay_db, bus, settings, owner_connection
    ):
        settings.OUTBOX_BACKOFF_BASE_SECONDS = 60
        bus.set(_stream("security"), "not a stream")
        tenant = make_tenant()
        patient_id = uuid.uuid4()
        with tenant_scope(tenant.id):
            failing = break_glass(patient_id)
            behind = updated(patient_id, 2)  # same shard, healthy stream: must wait
            elsewhere = registered()
        first = relay_drain()
        assert (first.published, first.failed) == (1, 1)
        second = relay_drain()
        assert second.fetched == 0  # the shard's head is backing off
        rows = {
            row[0]: row[1:]
            for row in owner_connection.execute(
                "SELECT event_id, status, attempts, scheduled_at > now() + interval '50 seconds'"
                " FROM outbox_outboxevent"
            )
        }
        assert rows[failing.event_id] == ("pending", 1, True)
        assert rows[behind.event_id] == ("pending", 0, False)
        assert rows[elsewhere.event_id][0] == "published"
        assert backoff_seconds(1) == 60
        assert backoff_seconds(4) == 300  # capped at OUTBOX_BACKOFF_MAX_SECONDS

    def test_relay_role_reads_only_the_outbox(self, relay_db):
        conn = relay_connection()
        forbidden = (
            "SELECT 1 FROM tenancy_auditevent LIMIT 1",
            "SELECT 1 FROM outbox_inboxmessage LIMIT 1",
            "UPDATE outbox_outboxevent SET payload = '{}'",
            "INSERT INTO outbox_outboxevent (id) VALUES (1)",
        )
        for statement in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
        row = conn.execute(
            "SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (True,)
        conn.rollback()

    def test_prune_removes_only_published_rows_past_retention(
        self, relay_db, bus, owner_connection
    ):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            registered()
        relay_drain()
        with tenant_scope(tenant.id):
            registered()
        assert outbox_prune() == 0  # within the retention period
        assert outbox_prune(older_than_seconds=0, chunk=1) == 1
        assert statuses(owner_connection) == {"pending": 1}
        assert outbox_prune_task() == 0


class TestWorkerAndMetrics:
    def test_a_commit_wakes_a_worker_that_publishes(self, relay_db, bus, settings, celery_worker):
        settings.OUTBOX_WAKE_ON_COMMIT = True
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            event = registered()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not bus.xlen(_stream()):
            time.sleep(0.05)
        [published] = stream_events(bus, _stream())
        assert published["id"] == str(event.event_id)
        assert outbox_wake_relay() in {True, False}  # debounced or sent; never raises

    def test_wake_ups_are_debounced(self, relay_db, bus):
        assert outbox_wake_relay() is True
        assert outbox_wake_relay() is False  # a task is already on its way
        assert bus.exists(wake_key())

    def test_relay_task_requeues_itself_when_out_of_time(self, relay_db, bus, settings):
        settings.OUTBOX_RELAY_TIME_BUDGET_SECONDS = 0
        settings.OUTBOX_RELAY_BATCH_SIZE = 1
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            registered(), registered()
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        try:
            queued: Any = broker.llen("celery")
            assert relay_drain_task() == {"published": 1, "failed": 0, "dead": 0}
            assert broker.llen("celery") == queued + 1
        finally:
            broker.close()

    def test_gauges_and_counters_are_exported(self, relay_db, bus, settings):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            registered(), registered()
        assert metrics_refresh_task() == 2
        gauges = outbox_metrics_refresh()
        assert gauges.pending == 2
        assert gauges.oldest_pending_created_at is not None
        relay_drain()
        outbox_metrics_refresh()
        body = Client().get("/metrics").content.decode()
        assert "regsvc_outbox_metrics_up 1.0" in body
        assert 'regsvc_outbox_published_total{family="patient"} 2.0' in body
        assert "regsvc_outbox_pending 0.0" in body
        assert "regsvc_outbox_lag_seconds 0.0" in body

    def test_metrics_survive_a_redis_outage(self, db, bus, settings, tmp_path: Path):
        with private_redis(tmp_path) as server:
            settings.OUTBOX_BUS_URL = server.url
            metrics.count("outbox_published", "patient", 3)
            server.stop()
            metrics.count("outbox_published", "patient")  # logged, not raised
            body = Client().get("/metrics").content.decode()
        assert "regsvc_outbox_metrics_up 0.0" in body


def _many_updates(*, patients: int, versions: int) -> None:
    """patient.updated for `patients` patients x `versions` versions, interleaved."""
    patient_ids = [uuid.uuid4() for _ in range(patients)]
    for version in range(1, versions + 1):
        for patient_id in patient_ids:
            updated(patient_id, version)


def _event_ids(owner_connection) -> set[str]:
    return {str(i) for (i,) in owner_connection.execute("SELECT event_id FROM outbox_outboxevent")}


def _kill_relay_mid_batch(caught: Callable[[], bool]) -> None:
    """Start `manage.py outbox_relay` and SIGKILL it as soon as `caught()` says it is mid-batch."""
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "outbox_relay", "--batch-size", "50"],
        cwd=settings.BASE_DIR,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not caught() and time.monotonic() < deadline and relay.poll() is None:
            time.sleep(0.02)
        assert caught(), (
            relay.stderr.read(4000) if relay.poll() is not None and relay.stderr else ""
        )
    finally:
        relay.kill()
        relay.wait(timeout=10)
        if relay.stderr:
            relay.stderr.close()


def _relay_holds_locks(owner_connection) -> bool:
    return _wait_for_relay_locks(owner_connection, present=True, timeout=0)


def _wait_for_relay_gone(owner_connection) -> None:
    """The killed relay's backend has rolled back and released its locks."""
    assert _wait_for_relay_locks(owner_connection, present=False)


def _wait_for_relay_locks(owner_connection, *, present: bool, timeout: float = 30) -> bool:
    """Whether, within `timeout`, a relay backend holds (`present`) -- or no longer holds --
    row locks on the outbox."""
    deadline = time.monotonic() + timeout
    while True:
        (count,) = owner_connection.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.application_name = %s AND l.locktype = 'relation' AND l.granted "
            "AND l.relation = 'outbox_outboxevent'::regclass AND l.mode = 'RowShareLock'",
            [APPLICATION_NAME],
        ).fetchone()
        if bool(count) == present:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class _Sink:
    """A stdout for management commands whose output the test does not read."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


@pytest.mark.django_db
def test_enqueue_many_validates_each_payload_and_records_one_shard_per_aggregate():
    tenant = make_tenant()
    ids = [uuid.uuid4() for _ in range(3)]
    with tenant_scope(tenant.id):
        count = outbox_enqueue_many(
            event_type="patient.registered",
            aggregate_type="patient",
            items=[(pid, {"patient_id": str(pid), "version": 1}) for pid in ids],
        )
        events = list(OutboxEvent.objects.order_by("id"))
        assert count == 3
        assert [e.shard_key for e in events] == [f"patient:{pid}" for pid in ids]
        assert all(e.payload["tenant_id"] == str(tenant.id) for e in events)
        with pytest.raises(EventSchemaError), transaction.atomic():
            outbox_enqueue_many(
                event_type="patient.registered",
                aggregate_type="patient",
                items=[(ids[0], {"patient_id": "not-a-uuid", "version": 1})],
            )
        assert OutboxEvent.objects.count() == 3
    with pytest.raises(TenantContextError):  # inside the test's transaction, but no tenant
        outbox_enqueue_many(event_type="patient.registered", aggregate_type="patient", items=[])
