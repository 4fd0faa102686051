"""Traces: request -> service -> SQL -> outbox row -> relay -> CloudEvent -> inbox consumer.

Tracing is set up for real (`tenancy.tracing.setup_tracing`, every instrumentation) with an
in-memory exporter, and the span tree is read back. A registration request that names a
patient must leave none of the patient's details in any span.
"""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connections
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from outbox.consumer import InboxStreamConsumer
from outbox.envelope import STREAM_FIELD
from outbox.relaydb import close_all_relay_connections
from outbox.services.relay import relay_drain
from tenancy.db import tenant_scope
from tenancy.models import Role
from tenancy.tracing import (
    format_traceparent,
    setup_tracing,
    shutdown_tracing,
    tracer,
    tracing_enabled,
)
from tests.factories import make_api_key, make_tenant
from tests.integration.outbox.helpers import (
    cloudevent,
    delete_prefixed_keys,
    entitlement_data,
    stream_events,
)
from tests.integration.test_outbox import break_glass, registered
from tests.patient_builders import api_body, patient_data

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def bus(settings, relay_db) -> Iterator[redis.Redis]:
    """Private stream names on the test Redis, for the outbox and the inbox."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.OUTBOX_WAKE_ON_COMMIT = False
    settings.INBOX_STREAMS = {"licensing": f"{prefix}in.licensing"}
    settings.INBOX_DEAD_LETTER_STREAM = f"{prefix}in.dead"
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    delete_prefixed_keys(client, prefix)
    client.close()


@pytest.fixture
def spans(bus) -> Iterator[InMemorySpanExporter]:
    """Tracing set up as in production, exporting to memory; new connections are traced."""
    exporter = InMemorySpanExporter()
    connections.close_all()
    close_all_relay_connections()
    assert setup_tracing(exporter=exporter, set_global=False) is not None
    try:
        yield exporter
    finally:
        shutdown_tracing()
        connections.close_all()
        close_all_relay_connections()


def _hex(number: int, width: int) -> str:
    return f"{number:0{width}x}"


def _by_id(finished: tuple[ReadableSpan, ...]) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in finished}


def _ancestors(span: ReadableSpan, index: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in index:
        span = index[span.parent.span_id]
        names.append(span.name)
    return names


def _register(client: Client, key, body: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/api/v1/patients",
        data=json.dumps({**body, "duplicate_override": {"reason": "checked"}}),
        content_type="application/json",
        headers={**key.header, **headers},
    )


def test_a_registration_is_traced_through_outbox_relay_and_inbox(spans, bus, owner_connection):
    tenant = make_tenant()
    key = make_api_key(tenant, Role.FRONT_DESK)
    spans.clear()

    response = _register(Client(), key, api_body(patient_data()), traceparent=CALLER_TRACEPARENT)
    assert response.status_code == 201, response.content

    finished = spans.get_finished_spans()
    index = _by_id(finished)
    [server] = [s for s in finished if s.kind == SpanKind.SERVER]
    # The request continues the caller's trace, and is named by its route, not its path.
    assert _hex(server.context.trace_id, 32) == CALLER_TRACE_ID
    assert server.name == "POST api/v1/patients"
    assert server.attributes["http.route"] == "api/v1/patients"
    [service] = [s for s in finished if s.name == "patient_register"]
    assert service.parent.span_id == server.context.span_id
    statements = [s for s in finished if s.attributes.get("db.system") == "postgresql"]
    assert statements, "the SQL statements are traced"
    assert all(s.context.trace_id == server.context.trace_id for s in statements)
    inside_service = [s for s in statements if "patient_register" in _ancestors(s, index)]
    assert any("INSERT INTO" in str(s.attributes["db.statement"]) for s in inside_service)
    inserts = [str(s.attributes["db.statement"]) for s in inside_service]
    assert all("%s" in sql for sql in inserts if sql.startswith("INSERT"))  # parametrised

    # The outbox row carries the trace context of the service that wrote it.
    [(row_traceparent, header_traceparent)] = owner_connection.execute(
        "SELECT traceparent, headers ->> 'traceparent' FROM outbox_outboxevent"
    ).fetchall()
    assert row_traceparent == header_traceparent
    _, trace_id, span_id, flags = row_traceparent.split("-")
    assert trace_id == CALLER_TRACE_ID
    assert span_id == _hex(service.context.span_id, 16)
    assert flags == "01"

    # The relay publishes the event in a span of its own, a child of the service that wrote
    # the row, linked to the relay's batch; the CloudEvent names that publish span.
    spans.clear()
    assert relay_drain().published == 1
    stream = f"{settings.OUTBOX_STREAM_PREFIX}patient"
    finished = spans.get_finished_spans()
    [batch] = [s for s in finished if s.name == "outbox relay batch"]
    assert batch.attributes["messaging.batch.message_count"] == 1
    assert [
        (_hex(link.context.trace_id, 32), _hex(link.context.span_id, 16)) for link in batch.links
    ] == [(trace_id, span_id)]
    [publish] = [s for s in finished if s.name == f"publish {stream}"]
    assert publish.kind == SpanKind.PRODUCER
    assert _hex(publish.context.trace_id, 32) == CALLER_TRACE_ID
    assert _hex(publish.parent.span_id, 16) == span_id  # the service that wrote the row
    assert [link.context.span_id for link in publish.links] == [batch.context.span_id]
    [published] = stream_events(bus, stream)
    assert publish.attributes["messaging.message.id"] == published["id"]
    assert publish.attributes["cloudevents.event_type"] == "patient.registered"
    assert publish.status.is_ok
    publish_traceparent = f"00-{CALLER_TRACE_ID}-{_hex(publish.context.span_id, 16)}-01"
    assert published["traceparent"] == publish_traceparent

    # A consumer of that event answers with a message of its own, continuing the same trace:
    # the inbox's consumer span is a child of the context the message names.
    spans.clear()
    bus.xadd(
        settings.INBOX_STREAMS["licensing"],
        {
            STREAM_FIELD: cloudevent(
                tenant_id=tenant.id,
                event_type="licensing.entitlement-changed",
                data=entitlement_data(tenant.id),
                traceparent=published["traceparent"],
            )
        },
    )
    consumer = InboxStreamConsumer(client=bus, consumer="tracing-test")
    assert consumer.consume().processed == 1
    finished = spans.get_finished_spans()
    [process] = [s for s in finished if s.name == "inbox process licensing.entitlement-changed"]
    assert process.kind == SpanKind.CONSUMER
    assert _hex(process.context.trace_id, 32) == CALLER_TRACE_ID
    assert process.parent.span_id == publish.context.span_id  # request → row → publish → here
    assert process.attributes["regsvc.tenant_id"] == str(tenant.id)
    index = _by_id(finished)
    assert any(
        "inbox process licensing.entitlement-changed" in _ancestors(s, index)
        for s in finished
        if s.attributes.get("db.system") == "postgresql"
    ), "the handler's SQL runs inside the consumer span"


def test_each_event_of_a_batch_is_published_in_its_own_span(spans, bus):
    """Three events written in three traces and relayed in one batch: three publish spans, each
    a child of the span that wrote its row, each CloudEvent naming its own publish span; the
    event the bus refuses ends in an error."""
    bus.set(f"{settings.OUTBOX_STREAM_PREFIX}security", "not a stream")  # XADD fails: WRONGTYPE
    tenant = make_tenant()
    producers: dict[str, SpanContext] = {}
    for name, enqueue in (("a", registered), ("b", registered), ("c", break_glass)):
        with tracer().start_as_current_span(f"producer {name}") as span:
            with tenant_scope(tenant.id):
                event = enqueue(uuid.uuid4())
            producers[str(event.event_id)] = span.get_span_context()
    spans.clear()

    result = relay_drain()

    assert (result.batches, result.published, result.failed) == (2, 2, 1)  # then a quiet batch
    finished = spans.get_finished_spans()
    [batch] = [s for s in finished if s.name == "outbox relay batch"]
    publishes = {
        s.attributes["messaging.message.id"]: s
        for s in finished
        if s.kind == SpanKind.PRODUCER and s.name.startswith("publish ")
    }
    assert set(publishes) == set(producers)
    for event_id, publish in publishes.items():
        producer = producers[event_id]
        assert publish.context.trace_id == producer.trace_id
        assert publish.parent.span_id == producer.span_id
        assert [link.context.span_id for link in publish.links] == [batch.context.span_id]
    assert {(link.context.trace_id, link.context.span_id) for link in batch.links} == {
        (p.trace_id, p.span_id) for p in producers.values()
    }
    delivered = stream_events(bus, f"{settings.OUTBOX_STREAM_PREFIX}patient")
    assert len(delivered) == 2
    for cloud_event in delivered:
        publish = publishes[cloud_event["id"]]
        assert publish.status.is_ok
        assert cloud_event["traceparent"] == format_traceparent(publish.context)
    [refused] = [s for s in publishes.values() if s.name.endswith(".security")]
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.attributes["error.type"] == "publish_failed"


def test_an_event_of_an_unsampled_trace_gets_no_publish_span(spans, bus, owner_connection):
    """Nothing of an unsampled trace is recorded, so the relay spends nothing on it: the event
    goes out with the context stored on its row."""
    key = make_api_key(make_tenant(), Role.FRONT_DESK)
    unsampled = f"00-{CALLER_TRACE_ID}-00f067aa0ba902b7-00"
    response = _register(Client(), key, api_body(patient_data()), traceparent=unsampled)
    assert response.status_code == 201, response.content
    [(stored,)] = owner_connection.execute("SELECT traceparent FROM outbox_outboxevent")
    assert stored.startswith(f"00-{CALLER_TRACE_ID}-")
    assert stored.endswith("-00")
    spans.clear()

    assert relay_drain().published == 1

    assert not [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    [published] = stream_events(bus, f"{settings.OUTBOX_STREAM_PREFIX}patient")
    assert published["traceparent"] == stored


def _every_text(finished: tuple[ReadableSpan, ...]) -> list[str]:
    texts: list[str] = []
    for span in finished:
        texts.append(span.name)
        for attributes in [span.attributes, *[e.attributes for e in span.events]]:
            for key, value in (attributes or {}).items():
                texts.append(f"{key}={value!s}")
    return texts


def test_no_span_carries_the_patients_details(spans, bus):
    tenant = make_tenant()
    key = make_api_key(tenant, Role.FRONT_DESK)
    data = patient_data()
    body = api_body(data)
    client = Client()

    assert _register(client, key, body).status_code == 201
    # The same identifier again: the conflict's database error names the value.
    assert _register(client, key, body).status_code == 409
    search = client.get(
        "/api/v1/patients",
        {"family": "Okafor", "given": "Adaeze", "birth_date": "1987-03-14"},
        headers=key.header,
    )
    assert search.status_code == 200

    finished = spans.get_finished_spans()
    texts = "\n".join(_every_text(finished))
    assert "api/v1/patients" in texts  # the attributes are there ...
    identifier = data.identifiers[0].value
    for secret in (
        "Okafor",
        "Adaeze",
        "Grace",
        "1987-03-14",
        identifier,
        "555-0142",
        "Elm Street",
        "02118",
        "Chidi",
    ):
        assert secret.lower() not in texts.lower(), secret  # ... the patient is not
    urls = [s.attributes.get("http.url", "") for s in finished if s.kind == SpanKind.SERVER]
    assert urls
    assert all("?" not in str(url) for url in urls)


def test_tracing_is_a_no_op_without_an_endpoint(settings):
    settings.OTEL_TRACES_ENDPOINT = ""
    assert setup_tracing() is None
    assert not tracing_enabled()
    assert "opentelemetry.instrumentation.django" not in " ".join(settings.MIDDLEWARE)


def test_an_endpoint_turns_tracing_on_once_per_process(settings):
    settings.OTEL_TRACES_ENDPOINT = "http://127.0.0.1:9/v1/traces"
    settings.OTEL_SDK_DISABLED = False
    try:
        provider = setup_tracing(set_global=False)
        assert provider is not None
        assert setup_tracing(set_global=False) is provider
        assert provider.resource.attributes["service.name"] == settings.OTEL_SERVICE_NAME
        assert any("opentelemetry" in m for m in settings.MIDDLEWARE)
    finally:
        shutdown_tracing()
    assert not any("opentelemetry" in m for m in settings.MIDDLEWARE)
    settings.OTEL_SDK_DISABLED = True
    assert setup_tracing(set_global=False) is None
