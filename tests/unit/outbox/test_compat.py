"""The schema compatibility rule: a published version may only narrow (produced) or widen
(consumed), and anything the checker cannot prove counts as a break."""

import json
from pathlib import Path
from typing import Any

import pytest

from outbox.compat import compatibility_problems, snapshot_problems, subschema_problems

UUID = {"type": "string", "format": "uuid"}
BASE = {
    "x-regsvc-direction": "produced",
    "type": "object",
    "additionalProperties": False,
    "required": ["patient_id", "version"],
    "properties": {
        "patient_id": UUID,
        "version": {"type": "integer", "minimum": 1},
        "channel": {"type": "string", "enum": ["console", "rest"]},
        "tags": {
            "type": "array",
            "items": {"type": "string", "maxLength": 10},
            "uniqueItems": True,
        },
    },
}


def changed(**changes) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = schema
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    return schema


@pytest.mark.parametrize(
    "current",
    [
        BASE,
        changed(title="Patient", description="annotations never matter"),
        changed(required=["patient_id", "version", "channel"]),
        changed(properties__channel__enum=["rest"]),
        changed(properties__version__minimum=2),
        changed(properties__tags__items__maxLength=5),
        changed(properties__tags=None),  # closed schema: the property is no longer allowed
    ],
)
def test_narrowing_a_produced_schema_is_compatible(current):
    assert compatibility_problems(BASE, current) == []


@pytest.mark.parametrize(
    ("current", "problem"),
    [
        (changed(required=["patient_id"]), "no longer requires version"),
        (
            changed(properties__channel__enum=["console", "rest", "fhir"]),
            "outside the published enum",
        ),
        (changed(properties__version__minimum=0), "minimum lowered"),
        (changed(properties__tags__items__maxLength=None), "maxLength raised or removed"),
        (changed(properties__patient_id__format=None), "format changed or removed"),
        (changed(properties__version__type="number"), "type widened"),
        (changed(additionalProperties=True), "now accepts values that were refused"),
        (changed(properties__extra={"type": "string"}), "now accepts values that were refused"),
        (changed(properties__tags__uniqueItems=None), "uniqueItems removed"),
        (changed(properties__tags__items=None), "items are no longer constrained"),
        (changed(properties__version__multipleOf=2), "cannot prove compatibility of multipleOf"),
        (changed(**{"x-regsvc-direction": "consumed"}), "x-regsvc-direction changed"),
    ],
)
def test_widening_a_produced_schema_is_a_break(current, problem):
    problems = compatibility_problems(BASE, current)
    assert any(problem in p for p in problems), problems


def test_consumed_schemas_may_only_widen():
    consumed = {**BASE, "x-regsvc-direction": "consumed"}
    wider = {**consumed, "required": ["patient_id"]}
    assert compatibility_problems(consumed, wider) == []
    assert compatibility_problems(wider, consumed) == ["$: no longer requires version"]


def test_an_undeclared_direction_is_refused():
    plain = {key: value for key, value in BASE.items() if key != "x-regsvc-direction"}
    assert compatibility_problems(plain, plain) == [
        "$: x-regsvc-direction must be 'produced' or 'consumed'"
    ]


def test_any_of_and_boolean_schemas():
    nullable = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
    assert subschema_problems({"type": "null"}, nullable) == []
    assert subschema_problems({"type": "string", "format": "date-time"}, nullable) == []
    assert subschema_problems(nullable, {"type": "string", "format": "date-time"}) != []
    assert subschema_problems({"type": "integer"}, nullable) == ["$: no longer fits any of anyOf"]
    assert subschema_problems({"type": "integer"}, {"type": "number"}) == []
    assert subschema_problems({"const": 3}, {"type": "integer"}) == []
    assert subschema_problems({"enum": ["a", None]}, {"type": "string"}) == ["$: type widened"]
    assert subschema_problems({"const": True}, {"enum": [True, 1.5, [], {}]}) == []
    assert subschema_problems(True, {"type": "string"}) == ["$: type widened"]
    assert subschema_problems(False, {"type": "string"}) == []
    assert subschema_problems({"type": "string"}, True) == []
    assert subschema_problems({"type": "string"}, False) == [
        "$: now accepts values that were refused"
    ]
    open_wide = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert subschema_problems({"type": "object", "properties": {"b": {}}}, open_wide) == [
        "$.a: type widened"
    ]
    keyed = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert (
        subschema_problems(
            {
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "additionalProperties": False,
            },
            keyed,
        )
        == []
    )
    assert subschema_problems(
        {"type": "object", "properties": {"n": {"type": "string"}}, "additionalProperties": False},
        keyed,
    ) == ["$.n: type widened"]


def test_snapshot_problems(tmp_path: Path):
    schemas_dir, snapshots = tmp_path / "schemas", tmp_path / "snapshots"
    schemas_dir.mkdir()
    snapshots.mkdir()
    current = schemas_dir / "patient.registered.v1.json"
    current.write_text(json.dumps(BASE))
    orphan = schemas_dir / "patient.updated.v2.json"
    orphan.write_text(json.dumps(BASE))
    (snapshots / "patient.registered.v1.json").write_text(
        json.dumps(changed(required=["patient_id", "version", "channel"]))
    )
    (snapshots / "patient.removed.v1.json").write_text(json.dumps(BASE))
    problems = snapshot_problems(
        snapshots, {("patient.registered", 1): current, ("patient.updated", 2): orphan}
    )
    assert problems == [
        "patient.removed.v1.json: a published schema version was removed",
        "patient.registered.v1.json: $: no longer requires channel",
        "patient.updated.v2.json: version 1 is missing",
        "patient.updated.v2.json: no snapshot yet (run manage.py outbox_schemas --snapshot)",
    ]
