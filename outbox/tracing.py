"""W3C trace context (`traceparent`) carried from requests and messages into events.

The outbox row records the trace context of the work that wrote it: the active OpenTelemetry
span's (`tenancy.tracing`), or, when tracing is not set up, a span id of its own in the trace
the request or message brought (a new trace when nothing came in) — so every event can be
followed either way. The relay publishes it as the CloudEvent's `traceparent`, and the inbox
continues the trace an incoming event names.
"""

from tenancy.tracing import (
    child_traceparent,
    current_span_traceparent,
    current_traceparent,
    parse_traceparent,
)
from tenancy.tracing import incoming_trace_context as trace_context

__all__ = [
    "child_traceparent",
    "current_traceparent",
    "event_traceparent",
    "parse_traceparent",
    "trace_context",
]


def event_traceparent() -> str:
    """The traceparent to store with an event written now."""
    return current_span_traceparent() or child_traceparent()
