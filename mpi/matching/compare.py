"""Field-by-field comparison of two records into discrete agreement levels.

Fellegi-Sunter scoring needs each field's agreement reduced to a small set of levels
(exact, close, far, missing, ...) whose frequencies can be learned. Every comparator here is
symmetric: comparing A with B gives the same level as comparing B with A, so the order in
which records arrive never changes a decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from mpi.matching.normalize import (
    PlaceholderPolicy,
    are_given_name_aliases,
    name_key,
    name_tokens,
    phonetic_keys,
    significant_name_tokens,
)
from mpi.matching.record import DEFAULT_PLACEHOLDER_POLICY, MatchRecord

MISSING = "MISSING"

# Jaro-Winkler similarity at or above which two different spellings count as a typo.
CLOSE_NAME_SIMILARITY = 0.92
# token_sort_ratio (0-100) at or above which two address lines with the same house number
# count as the same place written differently.
CLOSE_ADDRESS_RATIO = 85.0
POSTAL_PREFIX_LENGTH = 3


class NameLevel(StrEnum):
    """How well two family or given names agree (ALIAS applies to given names only)."""

    EXACT = "EXACT"
    ALIAS = "ALIAS"
    CLOSE = "CLOSE"
    PARTIAL = "PARTIAL"
    FAR = "FAR"
    MISSING = MISSING


class DateLevel(StrEnum):
    """How well two (possibly partial) birth dates agree."""

    EXACT = "EXACT"
    ONE_COMPONENT_OFF = "ONE_COMPONENT_OFF"
    DAY_MONTH_SWAPPED = "DAY_MONTH_SWAPPED"
    YEAR_ONLY = "YEAR_ONLY"
    FAR = "FAR"
    MISSING = MISSING


class SexLevel(StrEnum):
    """Whether two administrative sexes agree; "unknown" is missing."""

    EXACT = "EXACT"
    FAR = "FAR"
    MISSING = MISSING


class IdentifierLevel(StrEnum):
    """Whether the records share an identifier, contradict one, or have no system in common."""

    SAME_SYSTEM_EQUAL = "SAME_SYSTEM_EQUAL"
    SAME_SYSTEM_DIFFERENT = "SAME_SYSTEM_DIFFERENT"
    MISSING = MISSING


class ContactLevel(StrEnum):
    """Whether two phone numbers or e-mail addresses agree."""

    EXACT = "EXACT"
    FAR = "FAR"
    MISSING = MISSING


class LocationLevel(StrEnum):
    """How well two postal codes or address lines agree."""

    EXACT = "EXACT"
    CLOSE = "CLOSE"
    FAR = "FAR"
    MISSING = MISSING


def _level_names(*levels: StrEnum) -> tuple[str, ...]:
    """Plain level names, the form the model stores and serialises."""
    return tuple(level.value for level in levels)


# The levels each field can reach, MISSING excluded: the model learns m and u for these.
FIELD_LEVELS: dict[str, tuple[str, ...]] = {
    "family": _level_names(NameLevel.EXACT, NameLevel.CLOSE, NameLevel.PARTIAL, NameLevel.FAR),
    "given": _level_names(
        NameLevel.EXACT, NameLevel.ALIAS, NameLevel.CLOSE, NameLevel.PARTIAL, NameLevel.FAR
    ),
    "birth_date": _level_names(
        DateLevel.EXACT,
        DateLevel.ONE_COMPONENT_OFF,
        DateLevel.DAY_MONTH_SWAPPED,
        DateLevel.YEAR_ONLY,
        DateLevel.FAR,
    ),
    "sex": _level_names(SexLevel.EXACT, SexLevel.FAR),
    "identifiers": _level_names(
        IdentifierLevel.SAME_SYSTEM_EQUAL, IdentifierLevel.SAME_SYSTEM_DIFFERENT
    ),
    "phone": _level_names(ContactLevel.EXACT, ContactLevel.FAR),
    "postal_code": _level_names(LocationLevel.EXACT, LocationLevel.CLOSE, LocationLevel.FAR),
    "address": _level_names(LocationLevel.EXACT, LocationLevel.CLOSE, LocationLevel.FAR),
    "email": _level_names(ContactLevel.EXACT, ContactLevel.FAR),
}
FIELDS: tuple[str, ...] = tuple(FIELD_LEVELS)

ComparedValue = str | tuple[str, ...] | None


@dataclass(frozen=True)
class FieldComparison:
    """The level one field reached, with the normalized values that were compared."""

    field: str
    level: StrEnum
    left: ComparedValue
    right: ComparedValue


@dataclass(frozen=True)
class RecordComparison:
    """Every field's comparison for one pair of records, in FIELDS order."""

    fields: tuple[FieldComparison, ...]

    def level_vector(self) -> dict[str, str]:
        """Field -> level name: the only thing scoring and training need to know."""
        return {comparison.field: str(comparison.level) for comparison in self.fields}

    def for_field(self, field_name: str) -> FieldComparison:
        """The comparison of one field; KeyError for a field the engine does not compare."""
        for comparison in self.fields:
            if comparison.field == field_name:
                return comparison
        raise KeyError(field_name)


def _names_close(left: str, right: str) -> bool:
    """Same name give or take a typo, a sound-alike spelling, or a reordering of parts."""
    first, second = sorted((name_key(left), name_key(right)))
    if JaroWinkler.similarity(first, second) >= CLOSE_NAME_SIMILARITY:
        return True
    if any(
        left_key and left_key == right_key
        for left_key, right_key in zip(phonetic_keys(first), phonetic_keys(second), strict=True)
    ):
        return True
    left_parts, right_parts = significant_name_tokens(left), significant_name_tokens(right)
    return len(left_parts) > 1 and left_parts == right_parts


def _names_agree(left: str | None, right: str | None) -> bool:
    """Exactly or closely the same name; unknown names never agree."""
    if left is None or right is None:
        return False
    return name_key(left) == name_key(right) or _names_close(left, right)


def _names_transposed(left: MatchRecord, right: MatchRecord) -> bool:
    """Whether one record has the given and family names in each other's place."""
    return _names_agree(left.family, right.given) and _names_agree(left.given, right.family)


def compare_family(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare family names, treating compound surnames part by part."""
    if left.family is None or right.family is None:
        level = NameLevel.MISSING
    elif name_key(left.family) == name_key(right.family):
        level = NameLevel.EXACT
    elif _names_close(left.family, right.family):
        level = NameLevel.CLOSE
    elif significant_name_tokens(left.family) & significant_name_tokens(
        right.family
    ) or _names_transposed(left, right):
        level = NameLevel.PARTIAL
    else:
        level = NameLevel.FAR
    return FieldComparison("family", level, left.family, right.family)


def _shared_name_parts(left: str, right: str) -> bool:
    """Whether two compound given names share a part longer than an initial."""
    return bool(
        {part for part in name_tokens(left) if len(part) > 1}
        & {part for part in name_tokens(right) if len(part) > 1}
    )


def _initial_matches(left: str, right: str) -> bool:
    """Whether one name is a lone initial that starts the other ("J" and "John")."""
    shorter, longer = sorted((name_key(left), name_key(right)), key=lambda key: (len(key), key))
    return len(shorter) == 1 and longer.startswith(shorter)


def _given_matches_middle(left: MatchRecord, right: MatchRecord) -> bool:
    """Whether either record's given name is the other's middle name (people go by either)."""
    return _names_agree(left.given, right.middle) or _names_agree(right.given, left.middle)


def compare_given(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare given names, recognising nicknames, initials and middle names used as first."""
    if left.given is None or right.given is None:
        level = NameLevel.MISSING
    elif name_key(left.given) == name_key(right.given):
        level = NameLevel.EXACT
    elif are_given_name_aliases(left.given, right.given):
        level = NameLevel.ALIAS
    elif _names_close(left.given, right.given):
        level = NameLevel.CLOSE
    elif (
        _shared_name_parts(left.given, right.given)
        or _initial_matches(left.given, right.given)
        or _given_matches_middle(left, right)
        or _names_transposed(left, right)
    ):
        level = NameLevel.PARTIAL
    else:
        level = NameLevel.FAR
    return FieldComparison("given", level, left.given, right.given)


def compare_birth_date(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare birth dates, recognising single-component typos and day/month swaps."""
    left_date, right_date = left.birth_date, right.birth_date
    left_text = None if left_date is None else left_date.isoformat()
    right_text = None if right_date is None else right_date.isoformat()
    if left_date is None or right_date is None:
        return FieldComparison("birth_date", DateLevel.MISSING, left_text, right_text)
    pairs = (
        (left_date.year, right_date.year),
        (left_date.month, right_date.month),
        (left_date.day, right_date.day),
    )
    if left_date.is_complete and right_date.is_complete:
        differing = sum(left_part != right_part for left_part, right_part in pairs)
        if differing == 0:
            level = DateLevel.EXACT
        elif (
            left_date.year == right_date.year
            and left_date.month == right_date.day
            and left_date.day == right_date.month
        ):
            level = DateLevel.DAY_MONTH_SWAPPED
        elif differing == 1:
            level = DateLevel.ONE_COMPONENT_OFF
        else:
            level = DateLevel.FAR
    elif all(
        left_part is None or right_part is None or left_part == right_part
        for left_part, right_part in pairs
    ):
        level = DateLevel.YEAR_ONLY
    else:
        level = DateLevel.FAR
    return FieldComparison("birth_date", level, left_text, right_text)


def compare_sex(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare administrative sex; "unknown" carries no information."""
    known = {"male", "female", "other"}
    if left.sex not in known or right.sex not in known:
        level = SexLevel.MISSING
    elif left.sex == right.sex:
        level = SexLevel.EXACT
    else:
        level = SexLevel.FAR
    return FieldComparison("sex", level, left.sex, right.sex)


def _identifiers_by_system(record: MatchRecord) -> dict[str, set[str]]:
    """Group a record's identifier values by issuing system."""
    grouped: dict[str, set[str]] = {}
    for system, value in record.identifiers:
        grouped.setdefault(system, set()).add(value)
    return grouped


def _listed(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """A sorted tuple for explanations, or None when there is nothing to show."""
    return tuple(sorted(values)) or None


def compare_identifiers(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare identifiers system by system; a shared system with different values contradicts.

    Identifiers from different systems (an MRN against an SSN) say nothing either way.
    """
    left_by_system, right_by_system = _identifiers_by_system(left), _identifiers_by_system(right)
    shared_systems = left_by_system.keys() & right_by_system.keys()
    if not shared_systems:
        level = IdentifierLevel.MISSING
    elif any(left_by_system[system] & right_by_system[system] for system in shared_systems):
        level = IdentifierLevel.SAME_SYSTEM_EQUAL
    else:
        level = IdentifierLevel.SAME_SYSTEM_DIFFERENT
    return FieldComparison(
        "identifiers",
        level,
        _listed(tuple(f"{system}|{value}" for system, value in left.identifiers)),
        _listed(tuple(f"{system}|{value}" for system, value in right.identifiers)),
    )


def compare_phone(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare phone numbers: any number in common is agreement."""
    if not left.phones or not right.phones:
        level = ContactLevel.MISSING
    elif set(left.phones) & set(right.phones):
        level = ContactLevel.EXACT
    else:
        level = ContactLevel.FAR
    return FieldComparison("phone", level, _listed(left.phones), _listed(right.phones))


def compare_postal_code(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare postal codes; a shared 3-character prefix means the same area."""
    left_code, right_code = left.postal_code, right.postal_code
    if left_code is None or right_code is None:
        level = LocationLevel.MISSING
    elif left_code == right_code:
        level = LocationLevel.EXACT
    elif (
        min(len(left_code), len(right_code)) >= POSTAL_PREFIX_LENGTH
        and left_code[:POSTAL_PREFIX_LENGTH] == right_code[:POSTAL_PREFIX_LENGTH]
    ):
        level = LocationLevel.CLOSE
    else:
        level = LocationLevel.FAR
    return FieldComparison("postal_code", level, left_code, right_code)


def _house_numbers(address: str) -> frozenset[str]:
    """The numeric parts of an address line (house and apartment numbers)."""
    return frozenset(token for token in address.split() if token.isdigit())


def compare_address(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare address lines; close means same numbers and nearly the same words."""
    left_line, right_line = left.address_line, right.address_line
    if left_line is None or right_line is None:
        level = LocationLevel.MISSING
    elif left_line == right_line:
        level = LocationLevel.EXACT
    elif (
        _house_numbers(left_line) == _house_numbers(right_line)
        and fuzz.token_sort_ratio(*sorted((left_line, right_line))) >= CLOSE_ADDRESS_RATIO
    ):
        level = LocationLevel.CLOSE
    else:
        level = LocationLevel.FAR
    return FieldComparison("address", level, left_line, right_line)


def compare_email(left: MatchRecord, right: MatchRecord) -> FieldComparison:
    """Compare e-mail addresses."""
    if left.email is None or right.email is None:
        level = ContactLevel.MISSING
    elif left.email == right.email:
        level = ContactLevel.EXACT
    else:
        level = ContactLevel.FAR
    return FieldComparison("email", level, left.email, right.email)


Comparator = Callable[[MatchRecord, MatchRecord], FieldComparison]

COMPARATORS: dict[str, Comparator] = {
    "family": compare_family,
    "given": compare_given,
    "birth_date": compare_birth_date,
    "sex": compare_sex,
    "identifiers": compare_identifiers,
    "phone": compare_phone,
    "postal_code": compare_postal_code,
    "address": compare_address,
    "email": compare_email,
}


def compare_records(
    left: MatchRecord, right: MatchRecord, *, policy: PlaceholderPolicy | None = None
) -> RecordComparison:
    """Compare every field of two records, placeholders counting as missing.

    The tenant's placeholder policy is applied again here so that records built without
    `MatchRecord.from_raw` cannot smuggle a placeholder in as evidence.
    """
    active_policy = policy or DEFAULT_PLACEHOLDER_POLICY
    left_clean = left.without_placeholders(active_policy)
    right_clean = right.without_placeholders(active_policy)
    return RecordComparison(
        tuple(COMPARATORS[field_name](left_clean, right_clean) for field_name in FIELDS)
    )
