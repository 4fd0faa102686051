"""HMAC signatures of the inbox webhook, for senders that cannot write to our Redis.

A sender signs `<unix timestamp>.<raw body>` with HMAC-SHA256 and its shared secret and sends
`X-Regsvc-Timestamp` and `X-Regsvc-Signature: sha256=<hex>`. The timestamp bounds replays to
`INBOX_WEBHOOK_MAX_SKEW_SECONDS`; a replay inside that window is a duplicate, which the inbox
ignores anyway. Several secrets may be configured per sender while one rotates.
"""

import hashlib
import hmac
import time

from django.conf import settings

from outbox.errors import WebhookAuthenticationError

TIMESTAMP_HEADER = "X-Regsvc-Timestamp"
SIGNATURE_HEADER = "X-Regsvc-Signature"
SCHEME = "sha256="


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value a sender computes (and this service checks)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def webhook_verify(
    *,
    sender: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> None:
    """Accept the call or raise WebhookAuthenticationError (one message for every reason)."""
    secrets = settings.INBOX_WEBHOOK_SECRETS.get(sender, [])
    refused = WebhookAuthenticationError("The webhook signature could not be verified.")
    if not secrets or not timestamp or not signature:
        raise refused
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise refused from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > settings.INBOX_WEBHOOK_MAX_SKEW_SECONDS:
        raise refused
    if not any(
        hmac.compare_digest(webhook_signature(secret=s, timestamp=timestamp, body=body), signature)
        for s in secrets
    ):
        raise refused
