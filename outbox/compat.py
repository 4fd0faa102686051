"""Schema compatibility: may a published schema version change this way without a new version?

A published `<type>.v<N>.json` is a promise. For an event this service *produces*, consumers
validate against the version they know, so a change is compatible only if every payload valid
under the new text was valid under the published one (the schema may only narrow). For an
event it *consumes*, senders produce against the published text, so the schema may only widen.
Each schema declares which it is with `"x-regsvc-direction": "produced" | "consumed"`.

`subschema_problems(narrow, wide)` is a conservative structural check of "every instance valid
under `narrow` is valid under `wide`" over the keywords the schemas use; a keyword it cannot
reason about counts as a problem when it differs, so an unprovable change fails (publish a new
version instead).
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ANNOTATIONS = frozenset(
    {"title", "description", "examples", "$comment", "$id", "$schema", "default", "deprecated"}
)
HANDLED = frozenset(
    {
        "type",
        "const",
        "enum",
        "format",
        "pattern",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "anyOf",
    }
)
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")
DIRECTION_KEY = "x-regsvc-direction"


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return {declared} if isinstance(declared, str) else set(declared)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_within(narrow: set[str], wide: set[str]) -> bool:
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _strip(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ANNOTATIONS and not k.startswith("x-")}


def subschema_problems(narrow: Any, wide: Any, path: str = "$") -> list[str]:
    """Why an instance valid under `narrow` might be invalid under `wide` ([] = provably not)."""
    if wide is True or narrow is False:
        return []
    if wide is False:
        return [f"{path}: now accepts values that were refused"]
    if narrow is True:
        narrow = {}
    narrow, wide = _strip(narrow), _strip(wide)
    if narrow == wide:
        return []
    if "anyOf" in narrow:
        rest = {k: v for k, v in narrow.items() if k != "anyOf"}
        return [
            problem
            for index, branch in enumerate(narrow["anyOf"])
            for problem in subschema_problems(
                {**rest, **_strip(branch)}, wide, f"{path}|anyOf[{index}]"
            )
        ]
    problems: list[str] = []
    if "anyOf" in wide:
        rest = {k: v for k, v in wide.items() if k != "anyOf"}
        if not any(not subschema_problems(narrow, branch, path) for branch in wide["anyOf"]):
            problems.append(f"{path}: no longer fits any of anyOf")
        wide = rest
    problems += _unknown_keywords(narrow, wide, path)
    problems += _value_keywords(narrow, wide, path)
    problems += _bounds(narrow, wide, path)
    problems += _object_keywords(narrow, wide, path)
    if "items" in wide:
        if "items" not in narrow:
            problems.append(f"{path}: items are no longer constrained")
        else:
            problems += subschema_problems(narrow["items"], wide["items"], f"{path}[]")
    return problems


def _unknown_keywords(narrow: Mapping[str, Any], wide: Mapping[str, Any], path: str) -> list[str]:
    return [
        f"{path}: cannot prove compatibility of {keyword}"
        for keyword in sorted((set(narrow) | set(wide)) - HANDLED)
        if narrow.get(keyword) != wide.get(keyword)
    ]


def _value_keywords(narrow: Mapping[str, Any], wide: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    narrow_types, wide_types = _types(narrow), _types(wide)
    narrow_values = [narrow["const"]] if "const" in narrow else narrow.get("enum")
    if narrow_types is None and narrow_values is not None:
        narrow_types = {_json_type(v) for v in narrow_values}
    if wide_types is not None and (
        narrow_types is None or not _type_within(narrow_types, wide_types)
    ):
        problems.append(f"{path}: type widened")
    if "const" in wide or "enum" in wide:
        allowed = [wide["const"]] if "const" in wide else wide["enum"]
        if narrow_values is None or any(v not in allowed for v in narrow_values):
            problems.append(f"{path}: allows values outside the published enum/const")
    problems += [
        f"{path}: {keyword} changed or removed"
        for keyword in ("format", "pattern")
        if keyword in wide and narrow.get(keyword) != wide[keyword]
    ]
    if wide.get("uniqueItems") and not narrow.get("uniqueItems"):
        problems.append(f"{path}: uniqueItems removed")
    return problems


def _bounds(narrow: Mapping[str, Any], wide: Mapping[str, Any], path: str) -> list[str]:
    lowered = [
        f"{path}: {keyword} lowered or removed"
        for keyword in LOWER_BOUNDS
        if keyword in wide and (keyword not in narrow or narrow[keyword] < wide[keyword])
    ]
    raised = [
        f"{path}: {keyword} raised or removed"
        for keyword in UPPER_BOUNDS
        if keyword in wide and (keyword not in narrow or narrow[keyword] > wide[keyword])
    ]
    return lowered + raised


def _object_keywords(narrow: Mapping[str, Any], wide: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    missing = sorted(set(wide.get("required", [])) - set(narrow.get("required", [])))
    if missing:
        problems.append(f"{path}: no longer requires {', '.join(missing)}")
    narrow_props: Mapping[str, Any] = narrow.get("properties", {})
    wide_props: Mapping[str, Any] = wide.get("properties", {})
    narrow_extra = narrow.get("additionalProperties", True)
    wide_extra = wide.get("additionalProperties", True)
    for name, wide_schema in wide_props.items():
        if name in narrow_props:
            problems += subschema_problems(narrow_props[name], wide_schema, f"{path}.{name}")
        else:
            problems += subschema_problems(narrow_extra, wide_schema, f"{path}.{name}")
    for name, narrow_schema in narrow_props.items():
        if name not in wide_props:
            problems += subschema_problems(narrow_schema, wide_extra, f"{path}.{name}")
    if wide_extra is not True and ("properties" in wide or "additionalProperties" in wide):
        problems += subschema_problems(narrow_extra, wide_extra, f"{path}.*")
    return problems


def compatibility_problems(published: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Why `current` may not replace `published` under the same version ([] = it may)."""
    direction = published.get(DIRECTION_KEY)
    if current.get(DIRECTION_KEY) != direction:
        return [f"$: {DIRECTION_KEY} changed"]
    if direction == "produced":
        return subschema_problems(current, published)
    if direction == "consumed":
        return subschema_problems(published, current)
    return [f"$: {DIRECTION_KEY} must be 'produced' or 'consumed'"]


def snapshot_problems(snapshot_dir: Path, schemas: Mapping[tuple[str, int], Path]) -> list[str]:
    """Compare every registered schema with its committed snapshot (see tests/contract)."""
    problems: list[str] = []
    snapshots = {path.name: path for path in snapshot_dir.glob("*.json")}
    current_names = {f"{event_type}.v{version}.json" for event_type, version in schemas}
    problems += [
        f"{name}: a published schema version was removed"
        for name in sorted(set(snapshots) - current_names)
    ]
    for (event_type, version), path in sorted(schemas.items()):
        name = f"{event_type}.v{version}.json"
        if version > 1 and (event_type, version - 1) not in schemas:
            problems.append(f"{name}: version {version - 1} is missing")
        if name not in snapshots:
            problems.append(f"{name}: no snapshot yet (run manage.py outbox_schemas --snapshot)")
            continue
        published = json.loads(snapshots[name].read_text(encoding="utf-8"))
        current = json.loads(path.read_text(encoding="utf-8"))
        problems += [f"{name}: {p}" for p in compatibility_problems(published, current)]
    return problems
