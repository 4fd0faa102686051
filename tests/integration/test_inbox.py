"""The idempotent inbox, against the real PostgreSQL and Redis (streams and the webhook).

A message is recorded once per (source, id) and processed in the same transaction; it is
acknowledged only after that commits. Redelivery is harmless, a crash between commit and ack
is harmless, a poison message is parked without holding back the others, transient failures
are retried, and every message runs in the tenant it names.
"""

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from outbox.consumer import InboxStreamConsumer
from outbox.envelope import STREAM_FIELD, parse_incoming
from outbox.errors import OutboxUsageError
from outbox.handlers import InboxContext, handler_for, register_handler, unregister_handler
from outbox.models import InboxMessage, InboxStatus
from outbox.selectors.inbox import inbox_message_list
from outbox.services.inbox import (
    InboxOutcome,
    inbox_prune_all_tenants,
    inbox_receive,
    inbox_redrive,
)
from outbox.tasks import inbox_consume_task, inbox_prune_task
from outbox.tracing import current_traceparent
from outbox.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from tenancy.db import current_tenant_id, database_tenant_setting, tenant_scope
from tenancy.models import AuditEvent, ModuleEntitlement, Role
from tests.conftest import owner_conninfo
from tests.factories import make_tenant, make_user
from tests.integration.outbox.helpers import (
    DEATH,
    LICENSING,
    cloudevent,
    death_data,
    delete_prefixed_keys,
    entitlement_data,
)

WEBHOOK_SECRET = "whsec-test-only"  # pragma: allowlist secret
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def bus(settings, committed_db) -> Any:
    """Private stream names on the test Redis, and a consumer of them."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.INBOX_STREAMS = {
        "licensing": f"{prefix}in.licensing",
        "civil-registry": f"{prefix}in.civil-registry",
    }
    settings.INBOX_DEAD_LETTER_STREAM = f"{prefix}in.dead"
    settings.INBOX_CLAIM_IDLE_MS = 0
    settings.INBOX_WEBHOOK_SECRETS = {"licensing": ["old-secret", WEBHOOK_SECRET]}
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    delete_prefixed_keys(client, prefix)
    client.close()


@pytest.fixture
def consumer(bus) -> InboxStreamConsumer:
    """A consumer of the private streams."""
    return InboxStreamConsumer(client=bus, consumer="test-consumer")


def send(bus, sender: str, message: str) -> str:
    """What a sender does: XADD the CloudEvent to its stream."""
    return str(bus.xadd(settings.INBOX_STREAMS[sender], {STREAM_FIELD: message}))


def pending(bus, sender: str) -> int:
    """Messages read through the group but not acknowledged."""
    return int(
        bus.xpending(settings.INBOX_STREAMS[sender], settings.INBOX_CONSUMER_GROUP)["pending"]
    )


def entitlements(tenant, module: str = "portrait_plus") -> list[tuple[Any, Any]]:
    with tenant_scope(tenant.id):
        return list(
            ModuleEntitlement.objects.filter(module=module).values_list("valid_from", "valid_until")
        )


def audits(tenant, action: str) -> int:
    with tenant_scope(tenant.id):
        return AuditEvent.objects.filter(action=action).count()


class TestStreams:
    def test_duplicate_delivery_is_processed_once(self, bus, consumer):
        tenant = make_tenant()
        message = cloudevent(
            tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)
        )
        send(bus, "licensing", message)
        send(bus, "licensing", message)  # the sender retried: same CloudEvent id

        result = consumer.consume()

        assert (result.read, result.processed, result.duplicates) == (2, 1, 1)
        assert entitlements(tenant) == [(datetime(2026, 1, 1, tzinfo=UTC), None)]
        assert audits(tenant, "entitlement.granted") == 1
        assert pending(bus, "licensing") == 0
        with tenant_scope(tenant.id):
            [row] = inbox_message_list()
        assert (row.status, row.sender, row.event_type) == ("processed", "licensing", LICENSING)

    def test_a_crash_between_commit_and_ack_is_processed_once(self, bus, consumer):
        tenant = make_tenant()
        send(
            bus,
            "licensing",
            cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)),
        )
        consumer.ensure_groups()
        # A first worker reads the message, commits its processing, and dies before XACK.
        [(_stream, [(_entry_id, fields)])] = bus.xreadgroup(
            settings.INBOX_CONSUMER_GROUP,
            "doomed-worker",
            {settings.INBOX_STREAMS["licensing"]: ">"},
        )
        first = inbox_receive(sender="licensing", event=parse_incoming(fields[STREAM_FIELD]))
        assert first.outcome == InboxOutcome.PROCESSED
        assert pending(bus, "licensing") == 1

        # Another worker claims the orphaned message: recognised, acknowledged, not re-run.
        result = consumer.consume()

        assert (result.read, result.processed, result.duplicates) == (1, 0, 1)
        assert pending(bus, "licensing") == 0
        assert audits(tenant, "entitlement.granted") == 1
        assert len(entitlements(tenant)) == 1

    def test_a_poison_message_is_isolated(self, bus, consumer):
        tenant = make_tenant()
        good_1 = entitlement_data(tenant.id, module="alpha")
        bad = entitlement_data(tenant.id, module="Not A Module!")
        good_2 = entitlement_data(tenant.id, module="beta")
        for data in (good_1, bad, good_2):
            send(bus, "licensing", cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=data))
        secret_id = "987-65-4321"
        broken_death = {**death_data(tenant.id, value=secret_id), "date_of_death": "yesterday"}
        send(
            bus,
            "civil-registry",
            cloudevent(tenant_id=tenant.id, event_type=DEATH, data=broken_death),
        )
        send(
            bus,
            "civil-registry",
            cloudevent(tenant_id=tenant.id, event_type="civil-registry.birth-notified", data={}),
        )
        send(
            bus,
            "licensing",
            cloudevent(tenant_id=tenant.id, event_type=DEATH, data=death_data(tenant.id)),
        )

        result = consumer.consume()

        assert (result.read, result.processed, result.dead) == (6, 2, 4)
        assert pending(bus, "licensing") == pending(bus, "civil-registry") == 0
        with tenant_scope(tenant.id):
            dead = {
                m.event_type + ":" + m.sender: m.last_error
                for m in inbox_message_list(status=InboxStatus.DEAD)
            }
            assert ModuleEntitlement.objects.filter(module__in=["alpha", "beta"]).count() == 2
        assert "$.module: fails pattern" in dead[f"{LICENSING}:licensing"]
        assert "$.date_of_death: not a valid date" in dead[f"{DEATH}:civil-registry"]
        assert (
            "No handler for civil-registry.birth-notified v1"
            in dead["civil-registry.birth-notified:civil-registry"]
        )
        assert "Sender licensing may not send" in dead[f"{DEATH}:licensing"]
        assert all(
            secret_id not in error and "Not A Module" not in error for error in dead.values()
        )

    def test_messages_naming_no_tenant_go_to_the_dead_letter_stream(self, bus, consumer):
        send(
            bus,
            "licensing",
            cloudevent(
                tenant_id=uuid.uuid4(), event_type=LICENSING, data=entitlement_data(uuid.uuid4())
            ),
        )
        send(bus, "licensing", "{not json")
        bus.xadd(settings.INBOX_STREAMS["licensing"], {"something": "else"})

        result = consumer.consume()

        assert (result.read, result.dead_lettered) == (3, 3)
        assert pending(bus, "licensing") == 0
        letters = bus.xrange(settings.INBOX_DEAD_LETTER_STREAM)
        assert [fields["stream"] for _, fields in letters] == [
            settings.INBOX_STREAMS["licensing"]
        ] * 3
        assert "no known, active tenant" in letters[0][1]["error"]
        assert "not JSON" in letters[1][1]["error"]

    def test_each_message_runs_in_the_tenant_it_names(self, bus, consumer):
        a, b = make_tenant(), make_tenant()
        seen: list[tuple[Any, ...]] = []

        def probe(context: InboxContext) -> None:
            seen.append(
                (
                    context.tenant_id,
                    current_tenant_id(),
                    database_tenant_setting(),
                    current_traceparent(),
                )
            )

        original = handler_for(LICENSING, 1)
        register_handler(LICENSING, 1, probe, replace=True)
        try:
            for tenant in (a, b, a):
                send(
                    bus,
                    "licensing",
                    cloudevent(
                        tenant_id=tenant.id,
                        event_type=LICENSING,
                        data=entitlement_data(tenant.id),
                        traceparent=TRACEPARENT,
                    ),
                )
            assert consumer.consume().processed == 3
        finally:
            register_handler(LICENSING, 1, original, replace=True)
        assert [(t, c, s) for t, c, s, _ in seen] == [(t.id, t.id, str(t.id)) for t in (a, b, a)]
        assert all(trace == TRACEPARENT for *_, trace in seen)
        with psycopg.connect(owner_conninfo()) as owner:
            rows = owner.execute(
                "SELECT tenant_id, count(*) FROM outbox_inboxmessage GROUP BY 1"
            ).fetchall()
        assert dict(rows) == {a.id: 2, b.id: 1}

    def test_transient_failures_are_retried_then_parked(self, bus, consumer, settings):
        settings.INBOX_LOCK_TIMEOUT_MS = 100
        settings.INBOX_MAX_DELIVERIES = 3
        tenant = make_tenant()
        send(
            bus,
            "licensing",
            cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)),
        )
        assert consumer.consume().processed == 1
        ends = entitlement_data(tenant.id, valid_until="2026-06-30T00:00:00+00:00")
        send(bus, "licensing", cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=ends))
        with psycopg.connect(owner_conninfo()) as blocker:
            # Another transaction holds the entitlement row: the handler's lock times out.
            blocker.execute(
                "SELECT 1 FROM tenancy_moduleentitlement WHERE tenant_id = %s FOR UPDATE",
                [tenant.id],
            )
            assert consumer.consume().retried == 1
            assert pending(bus, "licensing") == 1  # not acknowledged: it will come again
            with tenant_scope(tenant.id):
                assert InboxMessage.objects.count() == 1  # nothing of the failed try was kept
            assert consumer.consume().retried == 1  # second delivery, same fate
            blocker.rollback()
        assert consumer.consume().processed == 1  # third delivery succeeds
        assert entitlements(tenant) == [
            (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))
        ]
        assert audits(tenant, "entitlement.changed") == 1

        again = entitlement_data(tenant.id, module="gamma")
        send(bus, "licensing", cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=again))
        with psycopg.connect(owner_conninfo()) as blocker:
            blocker.execute("LOCK TABLE tenancy_moduleentitlement IN EXCLUSIVE MODE")
            retried = [consumer.consume().retried for _ in range(3)]
            parked = consumer.consume()
            blocker.rollback()
        assert retried == [1, 1, 1]
        assert parked.dead == 1  # fourth delivery > INBOX_MAX_DELIVERIES: parked as dead
        assert pending(bus, "licensing") == 0
        with tenant_scope(tenant.id):
            [dead] = inbox_message_list(status=InboxStatus.DEAD)
        assert dead.last_error == "transient failures on 3 deliveries"
        with tenant_scope(tenant.id):
            assert inbox_redrive(actor=None).processed == 1  # the cause is gone: re-drive works
        assert len(entitlements(tenant, "gamma")) == 1

    def test_beat_task_consumes_and_prunes(self, bus):
        tenant = make_tenant()
        send(
            bus,
            "licensing",
            cloudevent(tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)),
        )
        assert inbox_consume_task() == 1
        assert inbox_prune_task() == 0  # within retention
        with tenant_scope(tenant.id):
            InboxMessage.objects.update(received_at=datetime(2020, 1, 1, tzinfo=UTC))
        assert inbox_prune_all_tenants() == 1

    def test_management_command_consumes(self, bus):
        tenant = make_tenant()
        send(
            bus,
            "civil-registry",
            cloudevent(tenant_id=tenant.id, event_type=DEATH, data=death_data(tenant.id)),
        )
        call_command("inbox_consume", "--once", stdout=_Sink())
        assert audits(tenant, "civil_registry.death_notified") == 1

    def test_the_inbox_refuses_to_join_a_callers_transaction(self, bus):
        tenant = make_tenant()
        event = parse_incoming(
            cloudevent(tenant_id=tenant.id, event_type=DEATH, data=death_data(tenant.id))
        )
        with tenant_scope(tenant.id), pytest.raises(OutboxUsageError):
            inbox_receive(sender="civil-registry", event=event)


class TestRedrive:
    def test_command_and_console_redrive_dead_messages(self, bus, consumer):
        tenant = make_tenant()
        admin = make_user(tenant, Role.TENANT_ADMIN)
        desk = make_user(tenant, Role.FRONT_DESK)
        installed = handler_for(DEATH, 1)  # the MPI app's (it took over from the outbox's)
        unregister_handler(DEATH, 1)  # as if the handler shipped broken
        try:
            for _ in range(3):
                send(
                    bus,
                    "civil-registry",
                    cloudevent(tenant_id=tenant.id, event_type=DEATH, data=death_data(tenant.id)),
                )
            assert consumer.consume().dead == 3
        finally:
            register_handler(DEATH, 1, installed)
        with tenant_scope(tenant.id):
            first, second, third = (
                m.id for m in inbox_message_list(status=InboxStatus.DEAD).order_by("id")
            )

        call_command(
            "inbox_redrive", "--tenant", str(tenant.id), "--id", str(first), stdout=_Sink()
        )

        client = Client()
        client.force_login(desk)
        changelist = "/admin/outbox/inboxmessage/"
        assert client.get(changelist).status_code == 403
        client.force_login(admin)
        assert client.get(changelist).status_code == 200
        response = client.post(
            changelist,
            {"action": "redrive_selected", "index": 0, "_selected_action": [second]},
            follow=True,
        )
        assert "1 processed, 0 still dead" in response.content.decode()
        with tenant_scope(tenant.id):
            statuses = dict(InboxMessage.objects.values_list("id", "status"))
            redriven = AuditEvent.objects.filter(action="inbox.redriven")
            assert {e.object_id for e in redriven} == {str(first), str(second)}
            assert {e.actor_user_id for e in redriven} == {None, admin.pk}
        assert statuses == {first: "processed", second: "processed", third: "dead"}
        call_command("inbox_redrive", stdout=_Sink())  # every tenant
        assert audits(tenant, "civil_registry.death_notified") == 3

    def test_a_redrive_that_fails_again_stays_dead(self, bus, consumer):
        tenant = make_tenant()
        send(
            bus,
            "civil-registry",
            cloudevent(tenant_id=tenant.id, event_type="civil-registry.birth-notified", data={}),
        )
        assert consumer.consume().dead == 1
        with tenant_scope(tenant.id):
            result = inbox_redrive(actor=None, sender="civil-registry")
            [message] = inbox_message_list()
        assert (result.processed, result.still_dead) == (0, 1)
        assert (message.status, message.attempts) == ("dead", 2)


class TestWebhook:
    def post(
        self,
        body: str,
        *,
        sender: str = "licensing",
        secret: str = WEBHOOK_SECRET,
        at: float | None = None,
    ) -> Any:
        timestamp = str(int(at if at is not None else time.time()))
        signature = webhook_signature(secret=secret, timestamp=timestamp, body=body.encode())
        return Client().post(
            f"/api/v1/inbox/webhooks/{sender}",
            body,
            content_type="application/cloudevents+json",
            headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature},
        )

    def test_signed_messages_are_processed_once(self, bus):
        tenant = make_tenant()
        body = cloudevent(
            tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)
        )
        first = self.post(body)
        assert first.status_code == 200
        assert first.json() == {"status": "processed", "id": json.loads(body)["id"]}
        rotated = self.post(body, secret="old-secret")  # pragma: allowlist secret
        assert rotated.json()["status"] == "duplicate"  # the rotating secret is accepted too
        assert len(entitlements(tenant)) == 1

    @pytest.mark.parametrize(
        ("sender", "secret", "skew"),
        [
            ("licensing", "wrong", 0),
            ("licensing", WEBHOOK_SECRET, -3600),
            ("civil-registry", WEBHOOK_SECRET, 0),
        ],
    )
    def test_unsigned_stale_or_unknown_senders_are_refused(self, bus, sender, secret, skew):
        tenant = make_tenant()
        body = cloudevent(
            tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)
        )
        response = self.post(body, sender=sender, secret=secret, at=time.time() + skew)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "webhook-signature"
        assert not entitlements(tenant)

    def test_missing_headers_are_refused(self, bus):
        response = Client().post(
            "/api/v1/inbox/webhooks/licensing", "{}", content_type="application/json"
        )
        assert response.status_code == 401

    def test_bad_messages_answer_problem_json_or_are_parked(self, bus):
        tenant = make_tenant()
        unknown_tenant = cloudevent(
            tenant_id=uuid.uuid4(), event_type=LICENSING, data=entitlement_data(tenant.id)
        )
        for body in ("not json", json.dumps({"specversion": "1.0"}), unknown_tenant):
            response = self.post(body)
            assert response.status_code == 400
            assert response.json()["code"] == "unattributable-message"
        poison = self.post(
            cloudevent(
                tenant_id=tenant.id, event_type=LICENSING, data={"tenant_id": str(tenant.id)}
            )
        )
        assert poison.status_code == 202
        assert poison.json()["status"] == "dead"
        assert "missing required" in poison.json()["error"]

    def test_a_transient_failure_asks_the_sender_to_retry(self, bus, settings):
        settings.INBOX_LOCK_TIMEOUT_MS = 100
        tenant = make_tenant()
        assert (
            self.post(
                cloudevent(
                    tenant_id=tenant.id, event_type=LICENSING, data=entitlement_data(tenant.id)
                )
            ).status_code
            == 200
        )
        body = cloudevent(
            tenant_id=tenant.id,
            event_type=LICENSING,
            data=entitlement_data(tenant.id, valid_until="2026-02-01T00:00:00+00:00"),
        )
        with psycopg.connect(owner_conninfo()) as blocker:
            blocker.execute(
                "SELECT 1 FROM tenancy_moduleentitlement WHERE tenant_id = %s FOR UPDATE",
                [tenant.id],
            )
            response = self.post(body)
            blocker.rollback()
        assert response.status_code == 503
        assert response.json()["code"] == "transient-failure"
        assert self.post(body).json()["status"] == "processed"


class _Sink:
    """A stdout for management commands whose output the test does not read."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
