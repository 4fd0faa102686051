"""The event schema registry: (type, version) -> JSON Schema 2020-12, with format checking on.

Every event this service produces is validated against its schema when it is enqueued, so a
producer bug fails the producer's own transaction instead of reaching other systems; every
event it consumes is validated before its handler runs. Schemas live in `outbox/schemas/` as
`<type>.v<N>.json` and are published in docs/EVENTS.md.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from outbox.errors import EventSchemaError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ENVELOPE_SCHEMA_PATH = SCHEMA_DIR / "envelope" / "cloudevent.json"
SCHEMA_FILE_PATTERN = re.compile(
    r"^(?P<type>[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)+)\.v(?P<version>[1-9][0-9]*)\.json$"
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


def _format_checker() -> FormatChecker:
    """jsonschema's checker, with RFC 3339 `date-time` and `date` checked without extra packages.

    (jsonschema silently skips `date-time` unless an optional dependency is installed; the
    events' timestamps matter too much to leave that to the environment.)
    """
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    @checker.checks("date", raises=ValueError)
    def is_date(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return False
        date.fromisoformat(value)
        return True

    return checker


FORMAT_CHECKER = _format_checker()


@dataclass(frozen=True, slots=True)
class EventSchema:
    """One registered schema version of one event type."""

    event_type: str
    version: int
    path: Path
    document: Mapping[str, Any]
    validator: Draft202012Validator

    @property
    def family(self) -> str:
        """The event family (`patient` of `patient.registered`), which names its stream."""
        return self.event_type.split(".", 1)[0]


def describe_error(error: ValidationError) -> str:
    """A PHI-free description of a validation error: where and which rule, never the value."""
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    rule = str(error.validator)
    rule_value: Any = error.validator_value
    schema: Any = error.schema
    instance: Any = error.instance
    if rule == "required" and isinstance(instance, dict):
        missing = [name for name in rule_value if name not in instance]
        return f"{where}: missing required {', '.join(missing)}"
    if rule == "additionalProperties" and isinstance(instance, dict):
        allowed = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        extra = sorted(str(k) for k in instance if k not in allowed)
        return f"{where}: unexpected properties {', '.join(extra)}"
    if rule == "format":
        return f"{where}: not a valid {rule_value}"
    return f"{where}: fails {rule}"


def _load(path: Path) -> Mapping[str, Any]:
    document: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    return document


@cache
def registry() -> dict[tuple[str, int], EventSchema]:
    """Every schema in `outbox/schemas/`, loaded and checked once per process."""
    found: dict[tuple[str, int], EventSchema] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        match = SCHEMA_FILE_PATTERN.match(path.name)
        if match is None:
            raise ValueError(f"Schema file {path.name} is not named <type>.v<N>.json")
        document = _load(path)
        event_type, version = match["type"], int(match["version"])
        found[(event_type, version)] = EventSchema(
            event_type=event_type,
            version=version,
            path=path,
            document=document,
            validator=Draft202012Validator(document, format_checker=FORMAT_CHECKER),
        )
    return found


def schema_for(event_type: str, version: int) -> EventSchema:
    """The schema of one event type at one version; an unknown pair is a producer bug."""
    try:
        return registry()[(event_type, version)]
    except KeyError:
        raise EventSchemaError(f"No schema registered for {event_type} v{version}.") from None


def event_types() -> list[str]:
    """Every registered event type, sorted."""
    return sorted({event_type for event_type, _ in registry()})


def schema_errors(event_type: str, version: int, payload: object) -> list[str]:
    """PHI-free descriptions of every way `payload` breaks its schema ([] when valid)."""
    schema = schema_for(event_type, version)
    return sorted({describe_error(e) for e in schema.validator.iter_errors(payload)})


def validate_payload(event_type: str, version: int, payload: object) -> EventSchema:
    """Check a payload against its schema; raise EventSchemaError (PHI-free) when it fails."""
    schema = schema_for(event_type, version)
    problems = schema_errors(event_type, version, payload)
    if problems:
        raise EventSchemaError(f"{event_type} v{version}: " + "; ".join(problems))
    return schema


@cache
def envelope_validator() -> Draft202012Validator:
    """The validator of the CloudEvents envelope used on the streams."""
    return Draft202012Validator(_load(ENVELOPE_SCHEMA_PATH), format_checker=FORMAT_CHECKER)


def envelope_errors(envelope: object) -> list[str]:
    """PHI-free descriptions of every way a CloudEvents envelope is malformed."""
    return sorted({describe_error(e) for e in envelope_validator().iter_errors(envelope)})
