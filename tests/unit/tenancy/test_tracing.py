"""Tracing helpers: W3C context, the PHI-safe span processor, service and consumer spans."""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tenancy import tracing
from tenancy.phi import phi_values_register, phi_values_reset
from tenancy.tracing import (
    PhiSafeSpanProcessor,
    child_traceparent,
    context_from_traceparent,
    continued_span,
    current_trace_ids,
    current_traceparent,
    format_traceparent,
    incoming_trace_context,
    span_context_of,
    strip_query,
    traced,
)

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def exporter(monkeypatch) -> InMemorySpanExporter:
    """A private provider behind tenancy.tracing.tracer(), spans cleaned as in production."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PhiSafeSpanProcessor(SimpleSpanProcessor(memory)))
    monkeypatch.setattr(tracing._state, "provider", provider)
    return memory


def test_query_strings_are_stripped():
    assert strip_query("http://h/api/v1/patients?family=okafor#x") == "http://h/api/v1/patients"
    assert strip_query("/api/v1/patients") == "/api/v1/patients"


def test_spans_are_cleaned_before_export(exporter):
    phi_values_register(["MRN884213"])
    try:
        with (
            pytest.raises(ValueError, match="MRN884213"),
            tracing.tracer().start_as_current_span(
                "work",
                attributes={
                    "http.url": "http://h/p?birth_date=1987-03-14",
                    "http.target": "/p?name=okafor",
                    "url.query": "name=okafor",
                    "app.birth_date": "1987-03-14",
                    "http.route": "p",
                },
            ),
        ):
            raise ValueError("Key (value)=(MRN884213) exists; born 1987-03-14")
    finally:
        phi_values_reset()
    [span] = exporter.get_finished_spans()
    assert dict(span.attributes) == {
        "http.url": "http://h/p",
        "http.target": "/p",
        "http.route": "p",
    }
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert (
        event.attributes["exception.message"] == "Key (value)=([redacted]) exists; born [redacted]"
    )
    assert "MRN884213" not in event.attributes["exception.stacktrace"]
    assert "1987-03-14" not in event.attributes["exception.stacktrace"]


def test_clean_spans_pass_unchanged(exporter):
    with tracing.tracer().start_as_current_span("clean", attributes={"http.route": "p"}):
        pass
    [span] = exporter.get_finished_spans()
    assert span.name == "clean"
    assert dict(span.attributes) == {"http.route": "p"}


def test_services_are_spans_without_arguments(exporter):
    @traced("patient_register")
    def register(*, name: str) -> str:
        return name.upper()

    assert register(name="okafor") == "OKAFOR"
    [span] = exporter.get_finished_spans()
    assert span.name == "patient_register"
    assert "okafor" not in str(dict(span.attributes)).lower()


def test_a_consumer_span_continues_the_message_trace_and_links_the_active_span(exporter):
    with tracing.tracer().start_as_current_span("webhook request") as request:
        with continued_span("inbox process x", traceparent=PARENT, kind=SpanKind.CONSUMER):
            assert current_traceparent().split("-")[1] == PARENT.split("-")[1]
        active = trace.get_current_span()
        assert active is request
    spans = {s.name: s for s in exporter.get_finished_spans()}
    process = spans["inbox process x"]
    assert format_traceparent(process.context).split("-")[1] == PARENT.split("-")[1]
    assert f"{process.parent.span_id:016x}" == PARENT.split("-")[2]
    assert [link.context.span_id for link in process.links] == [request.get_span_context().span_id]


def test_a_message_without_trace_context_gets_a_child_of_the_active_span(exporter):
    with (
        tracing.tracer().start_as_current_span("task") as task,
        continued_span("inbox process x", traceparent="junk"),
    ):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["inbox process x"].parent.span_id == task.get_span_context().span_id


def test_without_an_sdk_the_incoming_context_is_used():
    assert tracing._state.provider is None
    assert current_trace_ids() == ("", "")
    with incoming_trace_context(PARENT):
        assert current_traceparent() == PARENT
        assert current_trace_ids() == tuple(PARENT.split("-")[1:3])
        child = child_traceparent()
        assert child.split("-")[1] == PARENT.split("-")[1]
        assert child.split("-")[2] != PARENT.split("-")[2]
    with continued_span("no-op", traceparent=PARENT) as span:
        assert not span.is_recording()


def test_traceparent_conversions():
    linked = span_context_of(PARENT)
    assert linked is not None
    assert format_traceparent(linked) == PARENT
    assert span_context_of("00-bad") is None
    assert context_from_traceparent(None) is None
    assert format_traceparent(trace.INVALID_SPAN_CONTEXT) == ""
