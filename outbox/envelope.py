"""CloudEvents 1.0 structured JSON: how events look on the bus, going out and coming in.

Outgoing envelopes are built by PostgreSQL in the relay's claiming statement (the hot path:
no JSON is parsed or re-encoded in Python; see `outbox.services.relay`), with the attributes
named here. Incoming envelopes are parsed and checked before anything is stored.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings

from outbox.errors import UnattributableMessageError
from outbox.registry import envelope_errors

STREAM_FIELD = "cloudevent"
_VERSION_IN_SCHEMA_URI = re.compile(r"\.v([1-9][0-9]*)\.json$")


def dataschema_uri(event_type: str, version: int) -> str:
    """Where the schema of `event_type` at `version` is published."""
    return f"{settings.OUTBOX_SCHEMA_BASE_URI}{event_type}.v{version}.json"


def stream_for(event_type: str) -> str:
    """The Redis Stream of an event's family: `patient.registered` -> `<prefix>patient`."""
    return f"{settings.OUTBOX_STREAM_PREFIX}{event_type.split('.', 1)[0]}"


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A received CloudEvent that names a tenant and carries a JSON object as data."""

    message_id: str
    source: str
    event_type: str
    schema_version: int
    tenant_id: UUID
    data: dict[str, Any]
    traceparent: str = ""
    time: str = ""


def parse_incoming(raw: str | bytes | Mapping[str, Any]) -> IncomingEvent:
    """Parse a structured-mode CloudEvent; raise UnattributableMessageError when malformed.

    Only the envelope is checked here; `data` is checked against its schema by the inbox, once
    the message can be recorded in its tenant's inbox.
    """
    if isinstance(raw, Mapping):
        envelope: Any = dict(raw)
    else:
        try:
            envelope = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise UnattributableMessageError("The message is not JSON.") from None
    problems = envelope_errors(envelope)
    if problems:
        raise UnattributableMessageError(
            "The message is not a valid CloudEvent: " + "; ".join(problems)
        )
    version_match = _VERSION_IN_SCHEMA_URI.search(str(envelope.get("dataschema", "")))
    return IncomingEvent(
        message_id=envelope["id"],
        source=envelope["source"],
        event_type=envelope["type"],
        schema_version=int(version_match[1]) if version_match else 1,
        tenant_id=UUID(envelope["tenantid"]),
        data=envelope["data"],
        traceparent=str(envelope.get("traceparent", "")),
        time=str(envelope.get("time", "")),
    )
