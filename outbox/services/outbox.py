"""Writing events: the outbox row is part of the producer's own transaction."""

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from outbox.errors import EventSchemaError, OutboxUsageError
from outbox.metrics import metrics_client
from outbox.models import OutboxEvent
from outbox.registry import validate_payload
from outbox.tracing import event_traceparent
from tenancy.db import current_tenant_id
from tenancy.principal import Principal, current_request_id

logger = logging.getLogger(__name__)

WAKE_KEY_SUFFIX = "_wake"
WAKE_KEY_TTL_MS = 30_000


def outbox_enqueue(
    *,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str | UUID,
    payload: Mapping[str, Any],
    schema_version: int = 1,
    actor: Principal | None = None,
    shard_key: str | None = None,
) -> OutboxEvent:
    """Record an event in the caller's tenant transaction, to be published once it commits.

    Call it from a service, inside `tenant_scope` and in the same transaction as the change the
    event announces: if that transaction rolls back, so does the event. `tenant_id` and
    `occurred_at` are filled in when the payload omits them; the payload is then validated
    against the schema of `event_type` v`schema_version`, so a wrong payload fails the producer
    loudly. Events with the same `shard_key` (default: the aggregate) are published in the
    order they were enqueued.
    """
    if not transaction.get_connection().in_atomic_block:
        raise OutboxUsageError("outbox_enqueue must run inside the producer's transaction.")
    tenant_id = current_tenant_id()
    data = dict(payload)
    if str(data.setdefault("tenant_id", str(tenant_id))) != str(tenant_id):
        raise EventSchemaError(f"{event_type}: payload tenant_id is not the current tenant.")
    now = timezone.now()
    data.setdefault("occurred_at", now.isoformat())
    validate_payload(event_type, schema_version, data)
    traceparent = event_traceparent()
    # The headers keep a copy of the traceparent for one release: the previous relay reads it
    # from there (expand/contract; drop the copy once every relay reads the column).
    headers = {"traceparent": traceparent, "requestid": current_request_id()}
    if actor is not None:
        headers["actor"] = actor.label
    event = OutboxEvent.objects.create(
        tenant_id=tenant_id,
        event_type=event_type,
        schema_version=schema_version,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        shard_key=shard_key or f"{aggregate_type}:{aggregate_id}",
        payload=data,
        headers={k: v for k, v in headers.items() if v},
        traceparent=traceparent,
        created_at=now,
        scheduled_at=now,
    )
    if settings.OUTBOX_WAKE_ON_COMMIT:
        transaction.on_commit(outbox_wake_relay, robust=True)
    return event


def outbox_enqueue_many(
    *,
    event_type: str,
    aggregate_type: str,
    items: Iterable[tuple[str | UUID, Mapping[str, Any]]],
    schema_version: int = 1,
    actor: Principal | None = None,
) -> int:
    """Record one event per (aggregate id, payload) with one INSERT: for bulk producers.

    The same rules as `outbox_enqueue` — inside the producer's transaction and tenant scope,
    every payload validated against its schema, one shard per aggregate — for loads that write
    thousands of aggregates per transaction. Returns how many events were recorded.
    """
    if not transaction.get_connection().in_atomic_block:
        raise OutboxUsageError("outbox_enqueue_many must run inside the producer's transaction.")
    tenant_id = current_tenant_id()
    now = timezone.now()
    traceparent = event_traceparent()
    headers = {"traceparent": traceparent, "requestid": current_request_id()}
    if actor is not None:
        headers["actor"] = actor.label
    headers = {k: v for k, v in headers.items() if v}
    rows = []
    for aggregate_id, payload in items:
        data = {"tenant_id": str(tenant_id), "occurred_at": now.isoformat(), **payload}
        if str(data["tenant_id"]) != str(tenant_id):
            raise EventSchemaError(f"{event_type}: payload tenant_id is not the current tenant.")
        validate_payload(event_type, schema_version, data)
        rows.append(
            OutboxEvent(
                tenant_id=tenant_id,
                event_type=event_type,
                schema_version=schema_version,
                aggregate_type=aggregate_type,
                aggregate_id=str(aggregate_id),
                shard_key=f"{aggregate_type}:{aggregate_id}",
                payload=data,
                headers=headers,
                traceparent=traceparent,
                created_at=now,
                scheduled_at=now,
            )
        )
    OutboxEvent.objects.bulk_create(rows, batch_size=5000)
    if rows and settings.OUTBOX_WAKE_ON_COMMIT:
        transaction.on_commit(outbox_wake_relay, robust=True)
    return len(rows)


def outbox_wake_relay() -> bool:
    """Ask a worker to drain the outbox now, unless a relay task is already on it.

    Runs after the producer commits. The wake key (`SET NX PX`) says "a relay task is queued or
    running"; only the commit that sets it sends a Celery task, so a burst of commits costs one
    task, never one per event. The task keeps draining (and polling briefly) while events keep
    coming, deletes the key, then drains once more — so a commit that found the key set is
    always picked up. The key expires by itself if its task is lost; the beat sweep drains
    whatever is left. Returns whether a task was sent.
    """
    from outbox.tasks import relay_drain_task  # noqa: PLC0415 - tasks import this module

    try:
        if not metrics_client().set(wake_key(), b"1", nx=True, px=WAKE_KEY_TTL_MS):
            return False
        relay_drain_task.apply_async(ignore_result=True)
    except (redis.RedisError, OSError) as exc:
        logger.warning("outbox relay wake-up not sent: %s", type(exc).__name__)
        return False
    return True


def wake_key() -> str:
    """The Redis key that debounces relay wake-ups."""
    return f"{settings.OUTBOX_STREAM_PREFIX}{WAKE_KEY_SUFFIX}"
