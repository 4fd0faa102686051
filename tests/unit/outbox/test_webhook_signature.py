"""HMAC signatures of the inbox webhook."""

import pytest

from outbox.errors import WebhookAuthenticationError
from outbox.webhook import webhook_signature, webhook_verify

BODY = b'{"id": "1"}'
NOW = 1_800_000_000


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.INBOX_WEBHOOK_SECRETS = {"licensing": ["s1", "s2"]}  # pragma: allowlist secret
    settings.INBOX_WEBHOOK_MAX_SKEW_SECONDS = 300


def sign(secret: str = "s2", timestamp: int = NOW, body: bytes = BODY) -> str:
    return webhook_signature(secret=secret, timestamp=str(timestamp), body=body)


def test_a_valid_signature_with_either_rotating_secret_passes():
    for secret in ("s1", "s2"):
        webhook_verify(
            sender="licensing", timestamp=str(NOW), signature=sign(secret), body=BODY, now=NOW + 299
        )
    assert sign().startswith("sha256=")
    assert len(sign()) == len("sha256=") + 64


@pytest.mark.parametrize(
    ("sender", "timestamp", "signature", "body"),
    [
        ("licensing", str(NOW), sign("wrong"), BODY),
        ("licensing", str(NOW), sign(), b'{"id": "2"}'),
        ("licensing", str(NOW - 301), sign(timestamp=NOW - 301), BODY),
        ("licensing", "soon", sign(), BODY),
        ("licensing", None, sign(), BODY),
        ("licensing", str(NOW), None, BODY),
        ("civil-registry", str(NOW), sign(), BODY),
    ],
)
def test_anything_else_is_refused_the_same_way(sender, timestamp, signature, body):
    with pytest.raises(WebhookAuthenticationError, match="could not be verified"):
        webhook_verify(sender=sender, timestamp=timestamp, signature=signature, body=body, now=NOW)
