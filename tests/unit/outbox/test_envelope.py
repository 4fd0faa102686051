"""CloudEvents coming in (parsed by the inbox), and the names of what goes out.

The outgoing envelope is built by PostgreSQL in the relay's claiming statement; the integration
suite checks it against the envelope schema on every event it publishes.
"""

import json
import uuid

import pytest

from outbox.envelope import IncomingEvent, dataschema_uri, parse_incoming, stream_for
from outbox.errors import UnattributableMessageError
from outbox.registry import envelope_errors

TENANT = uuid.UUID("a3c1f0de-7d1b-4c55-9f3e-2b6d8e4a1c01")
ENVELOPE = {
    "specversion": "1.0",
    "id": "5b0e2c8a-1f4d-4b7e-8a9c-3d2e1f0a9b12",
    "source": "urn:test",
    "type": "patient.registered",
    "time": "2026-01-15T09:30:00+00:00",
    "subject": "p-1",
    "datacontenttype": "application/json",
    "dataschema": "https://regsvc.example/schemas/events/patient.registered.v1.json",
    "sequence": "42",
    "tenantid": str(TENANT),
    "data": {"patient_id": "p-1", "note": "caf\u00e9"},
}


def test_names_of_streams_and_schemas(settings):
    settings.OUTBOX_STREAM_PREFIX = "x."
    settings.OUTBOX_SCHEMA_BASE_URI = "https://s.example/"
    assert stream_for("patient.merged") == "x.patient"
    assert stream_for("mpi.match-candidate-created") == "x.mpi"
    assert dataschema_uri("patient.merged", 2) == "https://s.example/patient.merged.v2.json"
    assert envelope_errors(ENVELOPE) == []


def test_incoming_in_every_form():
    raw = json.dumps(ENVELOPE)
    for form in (raw, raw.encode(), ENVELOPE):
        assert parse_incoming(form) == IncomingEvent(
            message_id="5b0e2c8a-1f4d-4b7e-8a9c-3d2e1f0a9b12",
            source="urn:test",
            event_type="patient.registered",
            schema_version=1,
            tenant_id=TENANT,
            data={"patient_id": "p-1", "note": "caf\u00e9"},
            traceparent="",
            time="2026-01-15T09:30:00+00:00",
        )


def test_incoming_version_comes_from_dataschema():
    assert (
        parse_incoming({**ENVELOPE, "dataschema": "https://x.example/t.v7.json"}).schema_version
        == 7
    )
    without = {k: v for k, v in ENVELOPE.items() if k != "dataschema"}
    assert parse_incoming(without).schema_version == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe", "not JSON"),
        ("[1, 2", "not JSON"),
        ("[]", "not a valid CloudEvent"),
        (json.dumps({**ENVELOPE, "tenantid": "nope"}), "$.tenantid: not a valid uuid"),
        (json.dumps({**ENVELOPE, "data": "x"}), "$.data: fails type"),
        (json.dumps({**ENVELOPE, "specversion": "0.3"}), "$.specversion: fails const"),
    ],
)
def test_malformed_incoming_messages_cannot_be_attributed(raw, problem):
    with pytest.raises(UnattributableMessageError) as excinfo:
        parse_incoming(raw)
    assert problem in excinfo.value.detail
