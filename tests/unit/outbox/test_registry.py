"""The event schema registry: every schema loads, its examples validate, formats are checked,
and errors never echo the values that failed (they may be PHI)."""

import pytest

from outbox.errors import EventSchemaError
from outbox.registry import (
    envelope_errors,
    event_types,
    registry,
    schema_errors,
    schema_for,
    validate_payload,
)

PRODUCED = {
    "patient.registered",
    "patient.updated",
    "patient.deactivated",
    "patient.identifier-added",
    "patient.merged",
    "patient.unmerged",
    "patient.vital-status-changed",
    "mpi.match-candidate-created",
    "security.break-glass-used",
    "security.access-granted",
    "security.access-revoked",
    "audit.chain-sealed",
}
CONSUMED = {"civil-registry.death-notified", "licensing.entitlement-changed"}


def test_every_event_type_has_a_v1_schema_with_a_valid_example():
    assert set(event_types()) == PRODUCED | CONSUMED
    for (event_type, version), schema in registry().items():
        assert version == 1
        direction = "consumed" if event_type in CONSUMED else "produced"
        assert schema.document["x-regsvc-direction"] == direction
        assert schema.document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema.document["$id"].endswith(f"{event_type}.v1.json")
        examples = schema.document["examples"]
        assert examples
        for example in examples:
            assert schema_errors(event_type, 1, example) == []
        assert schema.family == event_type.split(".")[0]


def test_produced_payloads_are_closed_so_no_field_slips_in():
    for (event_type, _), schema in registry().items():
        assert schema.document["additionalProperties"] is False, event_type


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("patient_id", "not-a-uuid", "$.patient_id: not a valid uuid"),
        ("occurred_at", "2026-01-15T09:30:00", "$.occurred_at: not a valid date-time"),
        ("occurred_at", "2026-13-15T09:30:00Z", "$.occurred_at: not a valid date-time"),
        ("occurred_at", "yesterday", "$.occurred_at: not a valid date-time"),
        ("version", "1", "$.version: fails type"),
        ("identifier_ids", ["x"], "$.identifier_ids[0]: fails type"),
    ],
)
def test_formats_are_checked_and_errors_hide_values(field, value, problem):
    example = dict(schema_for("patient.registered", 1).document["examples"][0])
    example[field] = value
    problems = schema_errors("patient.registered", 1, example)
    assert problems == [problem]
    assert all(str(value) not in p for p in problems if isinstance(value, str) and len(value) > 3)


def test_dates_and_utc_designator():
    example = dict(schema_for("civil-registry.death-notified", 1).document["examples"][0])
    assert (
        schema_errors(
            "civil-registry.death-notified", 1, {**example, "registered_at": "2026-01-15T09:00:00Z"}
        )
        == []
    )
    assert schema_errors(
        "civil-registry.death-notified", 1, {**example, "date_of_death": "2026-02-30"}
    ) == ["$.date_of_death: not a valid date"]
    assert schema_errors(
        "civil-registry.death-notified", 1, {**example, "date_of_death": "14/01/2026"}
    ) == ["$.date_of_death: not a valid date"]


def test_validate_payload_raises_with_every_problem():
    with pytest.raises(EventSchemaError) as excinfo:
        validate_payload("patient.updated", 1, {"patient_id": "SSN-123-45-6789", "ssn": "x"})
    detail = excinfo.value.detail
    assert "missing required" in detail
    assert "unexpected properties ssn" in detail
    assert "123-45" not in detail
    with pytest.raises(EventSchemaError, match=r"No schema registered for patient\.updated v9"):
        validate_payload("patient.updated", 9, {})
    assert validate_payload(
        "patient.updated", 1, schema_for("patient.updated", 1).document["examples"][0]
    )


def test_envelope_errors():
    assert envelope_errors({}) == [
        "$: missing required specversion, id, source, type, tenantid, data"
    ]
    assert "$.specversion: fails const" in envelope_errors({"specversion": "0.3"})
