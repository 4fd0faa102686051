"""Receiving events: record (source, message id) once and process it in the same transaction.

`inbox_receive` is what every transport calls (the Redis Stream consumer, the webhook). It
opens the message's tenant scope, inserts the inbox row with `ON CONFLICT DO NOTHING` — a
redelivered message finds its row and does nothing — and runs the handler in a savepoint of
that same transaction. A handler that fails for good rolls back its own work only: the row is
kept as dead, with a PHI-free error, for `inbox_redrive`. A transient failure rolls everything
back and raises TransientMessageError, so the transport redelivers later. The transport
acknowledges a message only after this returns, i.e. after the commit.
"""

import json
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from opentelemetry.trace import Span, SpanKind

from outbox import metrics
from outbox.envelope import IncomingEvent
from outbox.errors import (
    OutboxUsageError,
    PoisonMessageError,
    TransientMessageError,
    UnattributableMessageError,
)
from outbox.handlers import InboxContext, handler_for
from outbox.models import InboxMessage, InboxStatus
from outbox.registry import schema_errors
from outbox.tracing import trace_context
from tenancy.db import current_tenant_id, tenant_scope
from tenancy.errors import DomainError
from tenancy.models import Tenant
from tenancy.principal import Principal
from tenancy.services.audit import audit_record
from tenancy.tracing import continued_span

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientMessageError,
    OperationalError,
    InterfaceError,
    redis.RedisError,
)

INSERT_ONCE_SQL = """
INSERT INTO outbox_inboxmessage
    (tenant_id, source, message_id, sender, event_type, schema_version, payload, headers,
     status, attempts, last_error, received_at, processed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, 1, %s, now(), %s)
ON CONFLICT (tenant_id, source, message_id) DO NOTHING
RETURNING id
"""


class InboxOutcome(StrEnum):
    """What receiving one message came to."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class InboxReceipt:
    """The outcome, the inbox row, and (for a dead message) its PHI-free error."""

    outcome: InboxOutcome
    inbox_message_id: int | None
    error: str = ""


def _error_text(exc: BaseException) -> str:
    """PHI-free: DomainError details are PHI-free by contract; anything else by class only."""
    if isinstance(exc, DomainError):
        return f"{exc.code}: {exc.detail}"[:1000]
    return f"{type(exc).__name__} in handler"


def _require_own_transaction() -> None:
    if transaction.get_connection().in_atomic_block:
        raise OutboxUsageError("The inbox commits per message: call it outside a transaction.")


def _require_tenant(tenant_id: UUID) -> None:
    if not Tenant.objects.filter(id=tenant_id, is_active=True).exists():
        raise UnattributableMessageError("The message names no known, active tenant.")


def _context(inbox_message_id: int, sender: str, event: IncomingEvent) -> InboxContext:
    return InboxContext(
        inbox_message_id=inbox_message_id,
        sender=sender,
        source=event.source,
        message_id=event.message_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        tenant_id=event.tenant_id,
        data=event.data,
    )


def _run_handler(context: InboxContext) -> None:
    """Check the message against what its sender may send and its schema, then handle it."""
    if not context.event_type.startswith(f"{context.sender}."):
        raise PoisonMessageError(f"Sender {context.sender} may not send {context.event_type}.")
    if str(context.data.get("tenant_id", context.tenant_id)) != str(context.tenant_id):
        raise PoisonMessageError("The data's tenant_id differs from the envelope's tenant.")
    handler = handler_for(context.event_type, context.schema_version)
    problems = schema_errors(context.event_type, context.schema_version, context.data)
    if problems:
        raise PoisonMessageError("Invalid data: " + "; ".join(problems))
    handler(context)


def _process(context: InboxContext) -> str:
    """Run the handler in a savepoint; return '' on success or the error of a poison message."""
    try:
        with transaction.atomic():
            _run_handler(context)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure is permanent: park the message
        return _error_text(exc)
    return ""


def _set_lock_timeout() -> None:
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)", [f"{settings.INBOX_LOCK_TIMEOUT_MS}ms"]
        )


def _insert_once(
    sender: str, event: IncomingEvent, *, status: InboxStatus, error: str = ""
) -> int | None:
    """Insert the inbox row unless (tenant, source, id) exists; its id, or None if it did."""
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            INSERT_ONCE_SQL,
            [
                str(current_tenant_id()),
                event.source,
                event.message_id,
                sender,
                event.event_type,
                event.schema_version,
                json.dumps(event.data),
                json.dumps({"traceparent": event.traceparent} if event.traceparent else {}),
                status.value,
                error,
                timezone.now() if status == InboxStatus.PROCESSED else None,
            ],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _process_span(sender: str, event: IncomingEvent) -> AbstractContextManager[Span]:
    """The consumer span of one message: it continues the trace the sender's event names."""
    return continued_span(
        f"inbox process {event.event_type}",
        traceparent=event.traceparent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "redis",
            "messaging.operation.type": "process",
            "messaging.destination.name": sender,
            "messaging.message.id": event.message_id,
            "cloudevents.event_type": event.event_type,
            "regsvc.tenant_id": str(event.tenant_id),
        },
    )


def inbox_receive(*, sender: str, event: IncomingEvent) -> InboxReceipt:
    """Record and process one message exactly once; see the module docstring.

    Raises UnattributableMessageError when the tenant is unknown (no inbox can hold it) and
    TransientMessageError when processing should be retried later.
    """
    _require_own_transaction()
    try:
        _require_tenant(event.tenant_id)
        with (
            _process_span(sender, event),
            trace_context(event.traceparent),
            tenant_scope(event.tenant_id),
        ):
            _set_lock_timeout()
            row_id = _insert_once(sender, event, status=InboxStatus.PROCESSED)
            if row_id is None:
                receipt = InboxReceipt(InboxOutcome.DUPLICATE, None)
            else:
                error = _process(_context(row_id, sender, event))
                if error:
                    InboxMessage.objects.filter(id=row_id).update(
                        status=InboxStatus.DEAD, last_error=error, processed_at=None
                    )
                    receipt = InboxReceipt(InboxOutcome.DEAD, row_id, error)
                else:
                    receipt = InboxReceipt(InboxOutcome.PROCESSED, row_id)
    except TRANSIENT_ERRORS as exc:
        metrics.count("inbox_retries", sender)
        logger.warning(
            "inbox: transient failure, left for redelivery: sender=%s id=%s error=%s",
            sender,
            event.message_id,
            type(exc).__name__,
        )
        if isinstance(exc, TransientMessageError):
            raise
        raise TransientMessageError(type(exc).__name__) from exc
    _after_commit(sender, event, receipt)
    return receipt


def inbox_give_up(*, sender: str, event: IncomingEvent, error: str) -> InboxReceipt:
    """Park a message that failed transiently too often as dead (unless already recorded)."""
    _require_own_transaction()
    _require_tenant(event.tenant_id)
    with trace_context(event.traceparent), tenant_scope(event.tenant_id):
        row_id = _insert_once(sender, event, status=InboxStatus.DEAD, error=error[:1000])
    receipt = (
        InboxReceipt(InboxOutcome.DEAD, row_id, error)
        if row_id is not None
        else InboxReceipt(InboxOutcome.DUPLICATE, None)
    )
    _after_commit(sender, event, receipt)
    return receipt


def _after_commit(sender: str, event: IncomingEvent, receipt: InboxReceipt) -> None:
    counter = {
        InboxOutcome.PROCESSED: "inbox_processed",
        InboxOutcome.DUPLICATE: "inbox_duplicates",
        InboxOutcome.DEAD: "inbox_messages_dead",
    }[receipt.outcome]
    metrics.count(counter, sender)
    if receipt.outcome == InboxOutcome.DEAD:
        logger.error(
            "inbox message dead: sender=%s type=%s id=%s tenant=%s error=%s",
            sender,
            event.event_type,
            event.message_id,
            event.tenant_id,
            receipt.error,
        )


@dataclass
class RedriveResult:
    """How a re-drive went."""

    processed: int = 0
    still_dead: int = 0


def inbox_redrive(
    *, actor: Principal | None, message_ids: list[int] | None = None, sender: str | None = None
) -> RedriveResult:
    """Process the current tenant's dead messages again (all, or `message_ids`), each audited.

    Runs in the caller's tenant scope. Each message gets its own savepoint: one that still
    fails stays dead with its new error, the others are processed.
    """
    result = RedriveResult()
    with transaction.atomic():
        dead = InboxMessage.objects.select_for_update().filter(status=InboxStatus.DEAD)
        if message_ids is not None:
            dead = dead.filter(id__in=message_ids)
        if sender is not None:
            dead = dead.filter(sender=sender)
        for message in dead.order_by("id"):
            context = InboxContext(
                inbox_message_id=message.id,
                sender=message.sender,
                source=message.source,
                message_id=message.message_id,
                event_type=message.event_type,
                schema_version=message.schema_version,
                tenant_id=message.tenant_id,
                data=dict(message.payload),
            )
            with trace_context(str(message.headers.get("traceparent", ""))):
                try:
                    error = _process(context)
                except TRANSIENT_ERRORS as exc:
                    error = f"transient: {type(exc).__name__}"
            message.attempts += 1
            message.last_error = error
            if error:
                result.still_dead += 1
            else:
                message.status = InboxStatus.PROCESSED
                message.processed_at = timezone.now()
                result.processed += 1
            message.save(update_fields=["attempts", "last_error", "status", "processed_at"])
            audit_record(
                actor=actor,
                action="inbox.redriven",
                object_type="inbox_message",
                object_id=str(message.id),
                details={"outcome": message.status, "event_type": message.event_type},
            )
    if result.processed:
        metrics.count("inbox_processed", "redrive", result.processed)
    return result


def inbox_prune(*, older_than: timedelta | None = None) -> int:
    """Delete the current tenant's processed messages past retention (dead ones stay)."""
    age = older_than or timedelta(days=settings.INBOX_RETENTION_DAYS)
    deleted, _ = InboxMessage.objects.filter(
        status=InboxStatus.PROCESSED, received_at__lt=timezone.now() - age
    ).delete()
    return deleted


def inbox_prune_all_tenants(*, older_than: timedelta | None = None) -> int:
    """Prune every tenant's inbox, one tenant scope each."""
    total = 0
    for tenant_id in Tenant.objects.values_list("id", flat=True):
        with tenant_scope(tenant_id):
            total += inbox_prune(older_than=older_than)
    return total
