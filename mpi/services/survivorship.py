"""Survivorship: which value a merged (or golden) record keeps for each field.

Per field: the steward's choice when given; else, when the records agree or only one has a
value, that value; else the value of the record confirmed most recently (its last update: the
record carries no per-field verification, so a record's update time is when its values were
last confirmed); lists are made most complete (both records' entries, the preferred record's
first, duplicates dropped, the other record's official names kept as `old`). Confidentiality
always keeps the more restrictive value. Pure: no queries.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from registration.models import Confidentiality, NameUse
from registration.services.inputs import NameInput, PatientInput
from tenancy.errors import FieldError, ValidationFailedError

SCALAR_FIELDS = (
    "gender",
    "birth_date",
    "language",
    "marital_status",
    "confidentiality",
    "preferred_facility",
    "mothers_maiden_name",
)
LIST_FIELDS = ("names", "telecoms", "addresses", "contacts")
FIELDS = (*SCALAR_FIELDS, *LIST_FIELDS)
SURVIVOR = "survivor"
SUBSUMED = "subsumed"
BOTH = "both"
_EMPTY: tuple[Any, ...] = ("", None, "unknown", ())


@dataclass(frozen=True, slots=True)
class Side:
    """One record taking part: its content and when it was last confirmed."""

    record: PatientInput
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FieldOutcome:
    """Where a field's merged value came from, and by which rule."""

    source: str  # survivor / subsumed / both / same
    rule: str  # steward / same / only-value / most-recent / most-complete / most-restrictive

    def as_dict(self) -> dict[str, str]:
        """The JSON shape kept in the ledger and shown in previews."""
        return {"source": self.source, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class Survivorship:
    """The merged record and, per field, how it was decided."""

    record: PatientInput
    outcomes: dict[str, FieldOutcome]


def validate_field_choices(choices: Mapping[str, str]) -> dict[str, str]:
    """The steward's choices, refused (422) for unknown fields or sides."""
    errors = []
    for field, side in choices.items():
        allowed = (SURVIVOR, SUBSUMED, BOTH) if field in LIST_FIELDS else (SURVIVOR, SUBSUMED)
        if field not in FIELDS:
            errors.append(FieldError(f"field_choices.{field}", "unknown_field", "Not a field."))
        elif side not in allowed:
            errors.append(
                FieldError(
                    f"field_choices.{field}", "invalid_choice", f"Choose one of {list(allowed)}."
                )
            )
    if errors:
        raise ValidationFailedError("Invalid field choices.", errors=errors)
    return dict(choices)


def _union(preferred: Sequence[Any], other: Sequence[Any]) -> tuple[Any, ...]:
    merged = list(preferred)
    for item in other:
        if item not in merged:
            merged.append(item)
    return tuple(merged)


def _name_key(name: NameInput) -> tuple[str, tuple[str, ...]]:
    return (name.family.casefold(), tuple(g.casefold() for g in name.given))


def _names_union(preferred: Sequence[NameInput], other: Sequence[NameInput]) -> tuple[Any, ...]:
    merged = list(preferred)
    seen = {_name_key(n) for n in preferred}
    for name in other:
        if _name_key(name) in seen:
            continue
        seen.add(_name_key(name))
        merged.append(replace(name, use=NameUse.OLD) if name.use == NameUse.OFFICIAL else name)
    return tuple(merged)


def _combine(field: str, preferred: Sequence[Any], other: Sequence[Any]) -> tuple[Any, ...]:
    return _names_union(preferred, other) if field == "names" else _union(preferred, other)


def survive(
    survivor: Side, subsumed: Side, choices: Mapping[str, str] | None = None
) -> Survivorship:
    """The merged record of two sides (identifiers are not decided here: they are all kept)."""
    choices = choices or {}
    recent_is_survivor = survivor.updated_at >= subsumed.updated_at
    values: dict[str, Any] = {}
    outcomes: dict[str, FieldOutcome] = {}
    for field in FIELDS:
        mine = getattr(survivor.record, field)
        theirs = getattr(subsumed.record, field)
        choice = choices.get(field)
        if choice is not None:
            if choice == BOTH:
                values[field] = _combine(field, mine, theirs)
            else:
                values[field] = mine if choice == SURVIVOR else theirs
            outcomes[field] = FieldOutcome(choice, "steward")
        elif mine == theirs:
            values[field] = mine
            outcomes[field] = FieldOutcome("same", "same")
        elif theirs in _EMPTY or mine in _EMPTY:
            pick_mine = theirs in _EMPTY
            values[field] = mine if pick_mine else theirs
            outcomes[field] = FieldOutcome(SURVIVOR if pick_mine else SUBSUMED, "only-value")
        elif field == "confidentiality":
            restricted = Confidentiality.RESTRICTED
            pick_mine = mine == restricted
            values[field] = restricted
            outcomes[field] = FieldOutcome(SURVIVOR if pick_mine else SUBSUMED, "most-restrictive")
        elif field in LIST_FIELDS:
            first, second = (mine, theirs) if recent_is_survivor else (theirs, mine)
            values[field] = _combine(field, first, second)
            outcomes[field] = FieldOutcome(BOTH, "most-complete")
        else:
            values[field] = mine if recent_is_survivor else theirs
            outcomes[field] = FieldOutcome(
                SURVIVOR if recent_is_survivor else SUBSUMED, "most-recent"
            )
    record = replace(survivor.record, **values)
    return Survivorship(record=record, outcomes=outcomes)


def golden_record(sides: Sequence[Side]) -> Survivorship:
    """The golden record of linked records: survivorship folded from the most recent down."""
    ordered = sorted(sides, key=lambda side: side.updated_at, reverse=True)
    result = Survivorship(record=ordered[0].record, outcomes={})
    current = ordered[0]
    for side in ordered[1:]:
        result = survive(current, side)
        current = Side(record=result.record, updated_at=current.updated_at)
    identifiers: tuple[Any, ...] = ()
    for side in ordered:
        identifiers = _union(identifiers, side.record.identifiers)
    return Survivorship(
        record=replace(result.record, identifiers=identifiers), outcomes=result.outcomes
    )
