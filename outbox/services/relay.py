"""The relay: moves committed outbox rows onto the bus, per shard, in order, at least once.

It runs through the relay's own database role (see `outbox.relaydb`), the only role that reads
across tenants. One batch is one transaction and, when all goes well, one statement:

1. lock the *head* (oldest pending row) of up to `batch_size` due shards with
   `SELECT … FOR UPDATE SKIP LOCKED` — a shard whose head another relay holds is skipped, and
   a row whose shard has an older pending row is never a head, so two relays never publish
   the same shard at once;
2. take the pending rows of the locked shards in id order (an index lookup per shard, at most
   a tenth of the batch from any one shard), mark them published and return each one's
   CloudEvent, built by PostgreSQL (`UPDATE … RETURNING`);
3. publish them with pipelined XADD (one round trip, or one per change of stream within a
   shard), never sending a shard's later events after one of its failures;
4. put back what did not reach the bus: the first failure of each shard is charged an attempt
   (exponential backoff on its `scheduled_at`; dead after `OUTBOX_MAX_ATTEMPTS`), which holds
   back that shard only; the rest of that shard returns to pending untouched;
5. commit, releasing the locks.

A crash before 5 rolls the marks back, so the rows are published again: consumers dedupe by
the CloudEvent id. A bus that cannot be reached rolls the batch back without charging
attempts, so an outage delays events and never dead-letters them.
"""

import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from django.conf import settings
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from outbox import metrics
from outbox.models import OutboxStatus
from outbox.publisher import BusUnavailableError, Outgoing, Publisher, publisher_for
from outbox.registry import registry
from outbox.relaydb import discard_relay_connection, relay_connection
from tenancy.tracing import (
    context_from_traceparent,
    format_traceparent,
    parse_traceparent,
    span_context_of,
    tracer,
    tracing_enabled,
)

logger = logging.getLogger(__name__)

TABLE = "outbox_outboxevent"
# A batch's span links to the trace of each event it carries, up to the SDK's limit.
MAX_SPAN_LINKS = 128

# The CloudEvent of a row as JSON text, built where the row is: no JSON is parsed or encoded in
# Python. Values that may need escaping go through to_json(); the optional extensions vanish
# when NULL (concat skips NULLs); `data` is the stored payload's own text.
_ENVELOPE = """concat(
    '{"specversion":"1.0","id":"', u.event_id,
    '","source":', to_json(%(source)s::text),
    ',"type":', to_json(u.event_type),
    ',"time":', to_json(u.created_at),
    ',"subject":', to_json(u.aggregate_id),
    ',"datacontenttype":"application/json","dataschema":',
    to_json(%(schema_base)s::text || u.event_type || '.v' || u.schema_version || '.json'),
    ',"sequence":"', u.id, '","tenantid":"', u.tenant_id, '"',
    ',"traceparent":' || to_json(coalesce(nullif(u.traceparent, ''),
                                          nullif(u.headers ->> 'traceparent', ''))),
    ',"tracestate":' || to_json(nullif(u.headers ->> 'tracestate', '')),
    ',"requestid":' || to_json(nullif(u.headers ->> 'requestid', '')),
    ',"actor":' || to_json(nullif(u.headers ->> 'actor', '')),
    ',"data":', u.payload::text, '}')"""

CLAIM_SQL = f"""
WITH heads AS MATERIALIZED (
    SELECT o.tenant_id, o.shard_key
      FROM {TABLE} o
     WHERE o.status = 'pending'
       AND o.scheduled_at <= now()
       AND NOT EXISTS (
             SELECT 1 FROM {TABLE} p
              WHERE p.tenant_id = o.tenant_id
                AND p.shard_key = o.shard_key
                AND p.status = 'pending'
                AND p.id < o.id)
     ORDER BY o.id
     LIMIT %(limit)s
       FOR UPDATE OF o SKIP LOCKED
), batch AS MATERIALIZED (
    SELECT e.id
      FROM heads h
     CROSS JOIN LATERAL (
           SELECT x.id FROM {TABLE} x
            WHERE x.tenant_id = h.tenant_id AND x.shard_key = h.shard_key
              AND x.status = 'pending'
            ORDER BY x.id
            LIMIT %(per_shard)s) e
     ORDER BY e.id
     LIMIT %(limit)s
)
UPDATE {TABLE} u
   SET status = 'published', published_at = now()
  FROM batch b
 WHERE u.id = b.id
RETURNING u.id, u.tenant_id, u.shard_key, u.attempts, u.event_type, u.event_id,
          %(prefix)s::text || split_part(u.event_type, '.', 1), {_ENVELOPE},
          coalesce(nullif(u.traceparent, ''), u.headers ->> 'traceparent')
"""  # noqa: S608 - interpolates only the constant table name and envelope expression

UNCLAIM_SQL = f"""
UPDATE {TABLE} SET status = 'pending', published_at = NULL WHERE id = ANY(%s)
"""  # noqa: S608 - constant table name

MARK_FAILED_SQL = f"""
UPDATE {TABLE}
   SET attempts = attempts + 1,
       last_error = %(error)s,
       published_at = NULL,
       status = CASE WHEN attempts + 1 >= %(max_attempts)s THEN 'dead' ELSE 'pending' END,
       scheduled_at = now() + make_interval(secs => %(delay)s)
 WHERE id = %(id)s
RETURNING status
"""  # noqa: S608 - constant table name

PRUNE_SQL = f"""
DELETE FROM {TABLE} WHERE id IN (
    SELECT id FROM {TABLE}
     WHERE status = 'published' AND published_at < now() - make_interval(secs => %s)
     LIMIT %s)
"""  # noqa: S608 - constant table name

GAUGES_SQL = f"""
SELECT count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'dead'),
       extract(epoch FROM min(created_at) FILTER (WHERE status = 'pending'))::float8
  FROM {TABLE}
 WHERE status IN ('pending', 'dead')
"""  # noqa: S608 - constant table name

REDRIVE_SQL = f"""
UPDATE {TABLE}
   SET status = 'pending', attempts = 0, scheduled_at = now(), last_error = ''
 WHERE status = 'dead' AND (%(all)s OR event_id = ANY(%(event_ids)s))
RETURNING id
"""  # noqa: S608 - constant table name


@dataclass
class RelayResult:
    """What one batch (or a whole drain) did."""

    fetched: int = 0
    published: int = 0
    failed: int = 0
    dead: int = 0
    batches: int = 0
    bus_unavailable: bool = False
    out_of_time: bool = False

    def add(self, other: "RelayResult") -> None:
        """Accumulate a batch into a drain's total."""
        self.fetched += other.fetched
        self.published += other.published
        self.failed += other.failed
        self.dead += other.dead
        self.batches += other.batches
        self.bus_unavailable = self.bus_unavailable or other.bus_unavailable
        self.out_of_time = self.out_of_time or other.out_of_time


def backoff_seconds(attempt: int) -> float:
    """Delay before attempt `attempt + 1`: base * 2^(attempt-1), capped."""
    base = float(settings.OUTBOX_BACKOFF_BASE_SECONDS)
    return float(min(settings.OUTBOX_BACKOFF_MAX_SECONDS, base * 2 ** max(0, attempt - 1)))


def default_publisher() -> Publisher:
    """The configured bus."""
    return publisher_for(settings.OUTBOX_BUS_URL, settings.OUTBOX_STREAM_MAXLEN)


# Columns of CLAIM_SQL's RETURNING.
_ID, _TENANT, _SHARD, _ATTEMPTS, _TYPE, _EVENT_ID, _STREAM, _BODY, _TRACEPARENT = range(9)


def _publish_in_waves(publisher: Publisher, rows: Sequence[Sequence[Any]]) -> dict[int, str | None]:
    """Publish each shard's rows in order and stop a shard at its first failure.

    One round trip (a pipeline) per wave; a wave takes, from every shard still going, its next
    run of rows bound for the same stream — so usually the whole batch is one wave. A failed
    event is never followed by a later event of its shard (on another stream) in the same
    batch. Returns the outcome (None, or an error) of every row sent, by index; unsent rows
    are absent.
    """
    streams_of: dict[Any, str] = {}
    if all(streams_of.setdefault((r[_TENANT], r[_SHARD]), r[_STREAM]) == r[_STREAM] for r in rows):
        # Usual case: every shard stays on one stream, so the batch is one wave.
        errors = publisher.publish_batch([Outgoing(r[_STREAM], r[_BODY]) for r in rows])
        return dict(enumerate(errors))
    queues: dict[Any, deque[int]] = defaultdict(deque)
    for index, row in enumerate(rows):
        queues[(row[_TENANT], row[_SHARD])].append(index)
    outcomes: dict[int, str | None] = {}
    blocked: set[Any] = set()
    while True:
        wave: list[int] = []
        for shard, queue in queues.items():
            if shard in blocked or not queue:
                continue
            stream = rows[queue[0]][_STREAM]
            while queue and rows[queue[0]][_STREAM] == stream:
                wave.append(queue.popleft())
        if not wave:
            return outcomes
        errors = publisher.publish_batch([Outgoing(rows[i][_STREAM], rows[i][_BODY]) for i in wave])
        for index, error in zip(wave, errors, strict=True):
            outcomes[index] = error
            if error is not None:
                blocked.add((rows[index][_TENANT], rows[index][_SHARD]))


def relay_batch(
    *, batch_size: int | None = None, publisher: Publisher | None = None
) -> RelayResult:
    """Publish one batch of due shards (one transaction); see the module docstring."""
    limit = batch_size or settings.OUTBOX_RELAY_BATCH_SIZE
    publisher = publisher or default_publisher()
    result = RelayResult(batches=1)
    conn = relay_connection()
    published: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    params = {
        "limit": limit,
        "per_shard": max(10, limit // 10),
        "source": settings.OUTBOX_EVENT_SOURCE,
        "schema_base": settings.OUTBOX_SCHEMA_BASE_URI,
        "prefix": settings.OUTBOX_STREAM_PREFIX,
    }
    try:
        with conn.transaction():
            rows = sorted(conn.execute(CLAIM_SQL, params).fetchall())  # RETURNING has no order
            result.fetched = len(rows)
            if not rows:
                return result
            with _batch_span(rows) as span, _event_spans(rows, span) as events:
                rows = events.rows
                try:
                    outcomes = _publish_in_waves(publisher, rows)
                except BusUnavailableError as exc:
                    logger.warning("outbox relay: bus unavailable (%s); batch left pending", exc)
                    result.bus_unavailable = True
                    span.set_attribute("error.type", "bus_unavailable")
                    events.outcomes = dict.fromkeys(range(len(rows)), "bus_unavailable")
                    raise _Rollback from exc
                events.outcomes = outcomes
                _settle(conn, rows, outcomes, published=published, failed=failed, dead=dead)
                span.set_attribute("regsvc.outbox.published", sum(published.values()))
                span.set_attribute("regsvc.outbox.failed", sum(failed.values()))
    except _Rollback:
        return result
    except psycopg.Error:
        discard_relay_connection()
        raise
    result.published, result.failed, result.dead = (
        sum(published.values()),
        sum(failed.values()),
        sum(dead.values()),
    )
    metrics.count_many(
        {
            **{("outbox_published", f): n for f, n in published.items()},
            **{("outbox_publish_failures", f): n for f, n in failed.items()},
            **{("outbox_events_dead", f): n for f, n in dead.items()},
        }
    )
    return result


def _settle(
    conn: psycopg.Connection[Any],
    rows: Sequence[Sequence[Any]],
    outcomes: dict[int, str | None],
    *,
    published: Counter[str],
    failed: Counter[str],
    dead: Counter[str],
) -> None:
    """Count what reached the bus; charge each failing shard's first failure; put back the
    rest of a failing shard and whatever was not sent."""
    unclaim: list[int] = []
    charged: set[Any] = set()
    for index, row in enumerate(rows):
        family = row[_TYPE].split(".", 1)[0]
        if index not in outcomes:
            unclaim.append(row[_ID])  # held back behind its shard's failure
            continue
        error = outcomes[index]
        if error is None:
            published[family] += 1
            continue
        failed[family] += 1
        shard = (row[_TENANT], row[_SHARD])
        if shard in charged:
            unclaim.append(row[_ID])  # the shard's first failure is charged
            continue
        charged.add(shard)
        if _mark_failed(conn, row, error=error) == OutboxStatus.DEAD:
            dead[family] += 1
    if unclaim:
        conn.execute(UNCLAIM_SQL, [unclaim])


@contextmanager
def _batch_span(rows: Sequence[Sequence[Any]]) -> Iterator[Span]:
    """One span per batch (the relay's own work: claim, publish, settle), linked to the trace
    context of every event it carries; each event also gets a span of its own (`_event_spans`)."""
    with tracer().start_as_current_span(
        "outbox relay batch",
        attributes={
            "messaging.system": "redis",
            "messaging.batch.message_count": len(rows),
        },
    ) as span:
        if span.is_recording():
            for row in rows[:MAX_SPAN_LINKS]:
                linked = span_context_of(row[_TRACEPARENT])
                if linked is not None:
                    span.add_link(linked, {"messaging.message.id": str(row[_EVENT_ID])})
        yield span


@dataclass
class _EventSpans:
    """The rows as sent (each CloudEvent naming its own publish span) and, once known, what
    became of each: None (on the bus), an error, or absent (held back behind its shard)."""

    rows: list[Sequence[Any]]
    outcomes: dict[int, str | None] | None = None


@contextmanager
def _event_spans(rows: Sequence[Sequence[Any]], batch: Span) -> Iterator[_EventSpans]:
    """A PRODUCER span per event, a child of the context stored on its outbox row (the service
    that wrote it), linked to the batch. The CloudEvent is sent with that span's `traceparent`,
    so a trace reads request → service → publish of this event → consumer. The spans end when
    the outcome of the batch is known (an error status for a failed or unsent event).

    With tracing off, and for events whose trace is not sampled (nothing of it is recorded),
    there is no span and the event goes out with its stored context: a span costs the relay
    about 0.3 ms (docs/OBSERVABILITY.md), several times what publishing the event costs."""
    if not tracing_enabled():
        yield _EventSpans(rows=list(rows))
        return
    batch_link = [Link(batch.get_span_context())] if batch.get_span_context().is_valid else []
    publisher = tracer()
    spans: dict[int, Span] = {}
    sent: list[Sequence[Any]] = []
    for index, row in enumerate(rows):
        stored = parse_traceparent(row[_TRACEPARENT])
        if stored and not int(stored[-2:], 16) & 1:  # the trace is not sampled
            sent.append(row)
            continue
        # No stored context: the event's span goes under the batch.
        parent = context_from_traceparent(stored) or trace.set_span_in_context(batch)
        span = publisher.start_span(
            f"publish {row[_STREAM]}",
            context=parent,
            kind=SpanKind.PRODUCER,
            links=batch_link,
            attributes={
                "messaging.system": "redis",
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": row[_STREAM],
                "messaging.message.id": str(row[_EVENT_ID]),
                "cloudevents.event_id": str(row[_EVENT_ID]),
                "cloudevents.event_type": row[_TYPE],
                "regsvc.tenant_id": str(row[_TENANT]),
            },
        )
        spans[index] = span
        sent.append(_with_traceparent(row, format_traceparent(span.get_span_context())))
    state = _EventSpans(rows=sent)
    try:
        yield state
    finally:
        outcomes = state.outcomes or {}
        for index, span in spans.items():
            if index not in outcomes:
                span.set_attribute("error.type", "not_sent")
                span.set_status(Status(StatusCode.ERROR, "not sent (held back or aborted)"))
            elif outcomes[index] is not None:
                span.set_attribute("error.type", "publish_failed")
                span.set_status(Status(StatusCode.ERROR, "publish failed"))
            span.end()


def _with_traceparent(row: Sequence[Any], traceparent: str) -> Sequence[Any]:
    """`row` whose CloudEvent names `traceparent` instead of the stored context (unchanged
    when tracing is off: then the event carries the outbox row's context, as stored)."""
    if not traceparent or not row[_TRACEPARENT]:
        return row
    # The envelope's attributes precede `data`, so the first match is the envelope's own.
    body = str(row[_BODY]).replace(
        f'"traceparent":"{row[_TRACEPARENT]}"', f'"traceparent":"{traceparent}"', 1
    )
    return (*row[:_BODY], body, *row[_BODY + 1 :])


class _Rollback(Exception):  # noqa: N818 - control flow, never escapes this module
    """Leave `conn.transaction()` by rolling back (the bus was unreachable)."""


def _mark_failed(conn: psycopg.Connection[Any], row: Sequence[Any], *, error: str) -> str:
    attempts = row[_ATTEMPTS] + 1
    marked = conn.execute(
        MARK_FAILED_SQL,
        {
            "id": row[_ID],
            "error": error[:1000],
            "max_attempts": settings.OUTBOX_MAX_ATTEMPTS,
            "delay": backoff_seconds(attempts),
        },
    ).fetchone()
    status = str(marked[0]) if marked else OutboxStatus.PENDING
    if status == OutboxStatus.DEAD:
        logger.error(
            "outbox event dead after %s attempts: id=%s type=%s tenant=%s error=%s",
            attempts,
            row[_EVENT_ID],
            row[_TYPE],
            row[_TENANT],
            error,
        )
    else:
        logger.warning(
            "outbox publish failed (attempt %s): id=%s type=%s error=%s",
            attempts,
            row[_EVENT_ID],
            row[_TYPE],
            error,
        )
    return status


def relay_drain(
    *,
    batch_size: int | None = None,
    time_budget: float | None = None,
    publisher: Publisher | None = None,
) -> RelayResult:
    """Publish batches until nothing is due, the bus is unreachable, or the time budget ends."""
    budget = settings.OUTBOX_RELAY_TIME_BUDGET_SECONDS if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    total = RelayResult()
    while True:
        result = relay_batch(batch_size=batch_size, publisher=publisher)
        total.add(result)
        if result.fetched == 0 or result.bus_unavailable:
            return total
        if time.monotonic() >= deadline:
            total.out_of_time = True
            return total


def relay_linger(*, time_budget: float, linger: float, poll: float) -> RelayResult:
    """Drain, and keep polling every `poll` seconds until `linger` seconds pass with nothing due.

    Keeps one relay busy through a steady stream of commits (latency: one poll interval)
    instead of a task per burst. Stops early when the bus is unreachable or time runs out.
    """
    deadline = time.monotonic() + time_budget
    total = RelayResult()
    quiet_since: float | None = None
    while (remaining := deadline - time.monotonic()) > 0:
        result = relay_drain(time_budget=remaining)
        total.add(result)
        if result.bus_unavailable:
            return total
        if result.fetched:
            quiet_since = None
            continue
        now = time.monotonic()
        quiet_since = quiet_since if quiet_since is not None else now
        if now - quiet_since >= linger:
            return total
        time.sleep(min(poll, max(0.0, deadline - now)))
    total.out_of_time = True
    return total


def outbox_prune(*, older_than_seconds: float | None = None, chunk: int = 10_000) -> int:
    """Delete published rows past the retention period, in chunks; returns how many."""
    seconds = (
        settings.OUTBOX_RETENTION_HOURS * 3600 if older_than_seconds is None else older_than_seconds
    )
    conn = relay_connection()
    deleted = 0
    try:
        while True:
            with conn.transaction():
                count = conn.execute(PRUNE_SQL, [seconds, chunk]).rowcount
            deleted += count
            if count < chunk:
                return deleted
    except psycopg.Error:
        discard_relay_connection()
        raise


def outbox_redrive(*, event_ids: Iterable[UUID] | None = None) -> int:
    """Put dead events back to pending (all of them, or those with `event_ids`)."""
    ids = [str(i) for i in event_ids] if event_ids is not None else []
    conn = relay_connection()
    try:
        with conn.transaction():
            rows = conn.execute(
                REDRIVE_SQL, {"all": event_ids is None, "event_ids": ids}
            ).fetchall()
    except psycopg.Error:
        discard_relay_connection()
        raise
    logger.info("outbox re-drive: %s dead events back to pending", len(rows))
    return len(rows)


@dataclass(frozen=True)
class OutboxGauges:
    """The cross-tenant state of the outbox."""

    pending: int
    dead: int
    oldest_pending_created_at: float | None


def outbox_gauges() -> OutboxGauges:
    """Count pending and dead rows and find the oldest pending one (cheap: partial indexes)."""
    conn = relay_connection()
    try:
        with conn.transaction():
            row = conn.execute(GAUGES_SQL).fetchone() or (0, 0, None)
    except psycopg.Error:
        discard_relay_connection()
        raise
    return OutboxGauges(pending=int(row[0]), dead=int(row[1]), oldest_pending_created_at=row[2])


def outbox_metrics_refresh(*, publisher: Publisher | None = None) -> OutboxGauges:
    """Cap the streams' length (`OUTBOX_STREAM_MAXLEN`, approximate) and return the backlog as
    the relay sees it. (`/metrics` counts the backlog itself at scrape time: see
    `outbox.metrics.BacklogCollector`.)"""
    gauges = outbox_gauges()
    families = sorted(
        {s.family for s in registry().values() if s.document["x-regsvc-direction"] == "produced"}
    )
    (publisher or default_publisher()).trim(
        [f"{settings.OUTBOX_STREAM_PREFIX}{f}" for f in families]
    )
    return gauges
