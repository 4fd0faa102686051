"""W3C trace context (`traceparent`) carried from requests and messages into events.

No tracing library is wired in yet, so this keeps the one thing the outbox and inbox need: the
incoming `traceparent` (from an HTTP request or a received message) is remembered for the unit
of work, and every event it produces carries the same trace id with a span id of its own. When
nothing came in, a new trace starts, so every event can still be followed.
"""

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

TRACEPARENT_PATTERN = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16

_current: ContextVar[str] = ContextVar("outbox_traceparent", default="")


def parse_traceparent(value: str | None) -> str:
    """The value when it is a well-formed version-00 traceparent, else ''."""
    if not value:
        return ""
    candidate = value.strip().lower()
    match = TRACEPARENT_PATTERN.match(candidate)
    if match is None or match[1] == _INVALID_TRACE_ID or match[2] == _INVALID_SPAN_ID:
        return ""
    return candidate


def current_traceparent() -> str:
    """The traceparent of the running request or message ('' when none came in)."""
    return _current.get()


@contextmanager
def trace_context(traceparent: str | None) -> Iterator[str]:
    """Run the block with `traceparent` (if well-formed) as the current trace context."""
    token = _current.set(parse_traceparent(traceparent))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def child_traceparent(parent: str | None = None) -> str:
    """A traceparent for a new span: same trace and flags as `parent`, or a new sampled trace."""
    parsed = parse_traceparent(parent if parent is not None else current_traceparent())
    span_id = secrets.token_hex(8)
    match = TRACEPARENT_PATTERN.match(parsed)
    if match is None:
        return f"00-{secrets.token_hex(16)}-{span_id}-01"
    return f"00-{match[1]}-{span_id}-{match[3]}"
