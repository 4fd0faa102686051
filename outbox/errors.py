"""Errors of the outbox and inbox, in the project's DomainError hierarchy."""

from tenancy.errors import DomainError


class OutboxUsageError(DomainError):
    """`outbox_enqueue` was called where its guarantee cannot hold (no transaction)."""

    code = "outbox-usage"
    title = "Outbox used outside a transaction"
    status = 500


class EventSchemaError(DomainError):
    """An event does not match its registered schema: the producer has a bug.

    `detail` names the failing JSON path and keyword only, never the offending value (it may be
    PHI).
    """

    code = "event-schema"
    title = "Event does not match its schema"
    status = 500


class PoisonMessageError(DomainError):
    """A received message can never be processed as it is (invalid, unknown, or refused).

    The inbox parks it as dead with this error; `detail` must not carry PHI.
    """

    code = "poison-message"
    title = "Message cannot be processed"
    status = 422


class TransientMessageError(DomainError):
    """Processing a received message failed for a reason that may pass (retry later)."""

    code = "transient-failure"
    title = "Temporarily unable to process the message"
    status = 503


class UnattributableMessageError(DomainError):
    """A received message names no known, active tenant, so no tenant's inbox can hold it."""

    code = "unattributable-message"
    title = "Message cannot be attributed to a tenant"
    status = 400


class WebhookAuthenticationError(DomainError):
    """A webhook call's sender or HMAC signature could not be verified."""

    code = "webhook-signature"
    title = "Webhook signature invalid"
    status = 401
