"""Message pacts for the events this service produces, verified against the real producer.

Consumer side: a sample downstream consumer (the data platform) states the shape it relies on
for each event type and proves its handler copes with it; that writes
`pacts/data-platform-registration-service.json`. Provider side: for each message in that pact,
the real producer path runs — `outbox_enqueue` in a tenant transaction, the relay through its
own database role, XADD to Redis — and the CloudEvent read back from the stream is what Pact
checks against the consumer's expectations.
"""

import json
import re
import uuid
from typing import Any

import pytest
import redis
from django.db import connections
from pact import Pact, Verifier, match

from outbox.envelope import STREAM_FIELD, stream_for
from outbox.registry import registry, schema_for
from outbox.services.outbox import outbox_enqueue
from outbox.services.relay import relay_drain
from tenancy.db import tenant_scope
from tests.contract.conftest import PACT_DIR, close_pact_helpers
from tests.contract.sample_consumers import data_platform_handle
from tests.factories import make_tenant
from tests.integration.outbox.helpers import delete_prefixed_keys

CONSUMER, PROVIDER = "data-platform", "registration-service"
PACT_FILE = PACT_DIR / f"{CONSUMER}-{PROVIDER}.json"
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
PRODUCED = sorted(
    t for (t, _), s in registry().items() if s.document["x-regsvc-direction"] == "produced"
)
AGGREGATE_ID = {
    "patient.merged": "survivor_id",
    "patient.unmerged": "survivor_id",
    "mpi.match-candidate-created": "candidate_id",
    "audit.chain-sealed": "tenant_id",
}


def description(event_type: str) -> str:
    return f"a {event_type} event"


_BY_TYPE: dict[str, Any] = {"integer": match.int, "number": match.number, "boolean": match.bool}


def _matcher(schema: dict[str, Any], value: Any) -> Any:
    """What a consumer relies on for one field: its type and format, not the example value."""
    if "enum" in schema:
        return match.regex(
            value, regex="^(" + "|".join(re.escape(v) for v in schema["enum"]) + ")$"
        )
    if schema.get("format") == "uuid":
        return match.uuid(value)
    if schema.get("format") == "date-time":
        return match.regex(value, regex=RFC3339)
    kind = schema.get("type")
    if kind == "array":
        return match.each_like(_matcher(schema["items"], value[0]), min=1)
    if kind in _BY_TYPE:
        return _BY_TYPE[kind](value)
    return match.regex(value, regex=schema["pattern"]) if "pattern" in schema else match.str(value)


def expected_event(event_type: str) -> dict[str, Any]:
    """The CloudEvent the data platform expects for `event_type`."""
    document = schema_for(event_type, 1).document
    example = document["examples"][0]
    return {
        "specversion": "1.0",
        "id": match.uuid("5b0e2c8a-1f4d-4b7e-8a9c-3d2e1f0a9b12"),
        "source": match.str("urn:regsvc:registration-service"),
        "type": event_type,
        "time": match.regex("2026-01-15T09:30:00.123456+00:00", regex=RFC3339),
        "subject": match.str(str(example.get(AGGREGATE_ID.get(event_type, "patient_id")))),
        "datacontenttype": "application/json",
        "dataschema": match.regex(
            f"https://regsvc.example/schemas/events/{event_type}.v1.json",
            regex=rf"^.+/{re.escape(event_type)}\.v1\.json$",
        ),
        "sequence": match.regex("42", regex=r"^[0-9]+$"),
        "tenantid": match.uuid(example["tenant_id"]),
        "traceparent": match.regex(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", regex=TRACEPARENT
        ),
        "data": {
            name: _matcher(document["properties"][name], value) for name, value in example.items()
        },
    }


def test_the_data_platform_handles_every_event_as_described():
    pact = Pact(CONSUMER, PROVIDER)
    for event_type in PRODUCED:
        (
            pact.upon_receiving(description(event_type), "Async")
            .with_body(expected_event(event_type), content_type="application/json")
            .with_metadata({"contentType": "application/json"})
        )
    handled: list[dict[str, Any]] = []
    pact.verify(
        lambda body, metadata: handled.append(data_platform_handle(body, metadata)), "Async"
    )
    assert sorted(h["type"] for h in handled) == PRODUCED
    pact.write_file(PACT_DIR, overwrite=True)


@pytest.fixture
def bus(settings) -> Any:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.OUTBOX_WAKE_ON_COMMIT = False
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    delete_prefixed_keys(client, prefix)
    client.close()


def test_the_producer_honours_the_data_platform_pact(relay_db, bus):
    tenant = make_tenant()

    def producer(event_type: str) -> Any:
        def produce() -> dict[str, Any]:
            try:
                payload = dict(schema_for(event_type, 1).document["examples"][0])
                payload["tenant_id"] = str(tenant.id)
                with tenant_scope(tenant.id):
                    event = outbox_enqueue(
                        event_type=event_type,
                        aggregate_type=event_type.split(".", maxsplit=1)[0],
                        aggregate_id=payload[AGGREGATE_ID.get(event_type, "patient_id")],
                        payload=payload,
                    )
                assert relay_drain().published == 1
                [body] = [
                    fields[STREAM_FIELD]
                    for _entry_id, fields in bus.xrange(stream_for(event_type))
                    if json.loads(fields[STREAM_FIELD])["id"] == str(event.event_id)
                ]
                return {
                    "contents": body.encode(),
                    "metadata": {"contentType": "application/json"},
                    "content_type": "application/json",
                }
            finally:
                connections.close_all()  # this runs in Pact's producer thread

        return produce

    verifier = (
        Verifier(PROVIDER)
        .message_handler({description(t): producer(t) for t in PRODUCED})
        .add_source(PACT_FILE)
        .set_coloured_output(enabled=False)
    )
    try:
        verifier.verify()
    except RuntimeError as exc:  # pragma: no cover - shown only when the contract breaks
        raise AssertionError(verifier.output(strip_ansi=True)) from exc
    finally:
        close_pact_helpers(verifier)
    assert json.loads(PACT_FILE.read_text())["consumer"]["name"] == CONSUMER
