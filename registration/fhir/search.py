"""PDQm (ITI-78) Patient search: the declared parameters, their parsing, and the query.

`SEARCH_PARAMETERS` is the single declaration: the CapabilityStatement lists it, the parser
accepts exactly it (anything else is a 400, never silently ignored), and each entry carries
the function that turns one value into a condition.
"""

import re
from calendar import monthrange
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from django.db.models import Q

from registration.selectors.patient_filters import (
    TextMatch,
    address_condition,
    birth_date_condition,
    id_condition,
    identifier_condition,
    mothers_maiden_name_condition,
    name_condition,
    telecom_condition,
)
from tenancy.errors import DomainError, FieldError

SPEC = "http://hl7.org/fhir/SearchParameter/"


class SearchParameterError(DomainError):
    """An unknown, unsupported or malformed search parameter (400)."""

    code = "invalid-request"
    title = "Invalid search"
    status = 400


def _bad(parameter: str, message: str) -> SearchParameterError:
    return SearchParameterError(
        f"Search parameter {parameter}: {message}",
        errors=[FieldError(parameter, "invalid", message)],
    )


Builder = Callable[[str, str | None], Q]


@dataclass(frozen=True, slots=True)
class SearchParameter:
    """One supported search parameter: what it is, and how a value becomes a condition."""

    name: str
    type: str
    definition: str
    documentation: str
    build: Builder
    modifiers: tuple[str, ...] = ()


def _text_match(name: str, modifier: str | None) -> TextMatch:
    if modifier is None:
        return TextMatch.STARTS
    if modifier in {"exact", "contains"}:
        return TextMatch(modifier)
    raise _bad(name, f"modifier :{modifier} is not supported.")


def _require_no_modifier(name: str, modifier: str | None) -> None:
    if modifier is not None:
        raise _bad(name, f"modifier :{modifier} is not supported.")


def _name(part: str) -> Builder:
    def build(value: str, modifier: str | None) -> Q:
        return name_condition(part, value, _text_match(part, modifier))

    return build


def _address(column: str | None, parameter: str) -> Builder:
    def build(value: str, modifier: str | None) -> Q:
        return address_condition(column, value, _text_match(parameter, modifier))

    return build


def _mothers_maiden_name(value: str, modifier: str | None) -> Q:
    return mothers_maiden_name_condition(value, _text_match("mothersMaidenName", modifier))


def _identifier(value: str, modifier: str | None) -> Q:
    _require_no_modifier("identifier", modifier)
    if "|" not in value:
        return identifier_condition(None, value)
    system, _, code = value.partition("|")
    if not system and not code:
        raise _bad("identifier", "give system|value, system|, |value or value.")
    return identifier_condition(system or None, code or None)


def _telecom(value: str, modifier: str | None) -> Q:
    _require_no_modifier("telecom", modifier)
    system, separator, code = value.partition("|")
    if not separator:
        system, code = "", value
    if not code:
        raise _bad("telecom", "give a value (system|value or value).")
    return telecom_condition(system or None, code)


def _id(value: str, modifier: str | None) -> Q:
    _require_no_modifier("_id", modifier)
    try:
        return id_condition([UUID(value)])
    except ValueError as exc:
        raise _bad("_id", "not a Patient id of this server.") from exc


def _active(value: str, modifier: str | None) -> Q:
    _require_no_modifier("active", modifier)
    if value not in {"true", "false"}:
        raise _bad("active", "must be true or false.")
    return Q(active=value == "true")


def _gender(value: str, modifier: str | None) -> Q:
    _require_no_modifier("gender", modifier)
    if value not in {"male", "female", "other", "unknown"}:
        raise _bad("gender", "must be male, female, other or unknown.")
    return Q(gender=value)


_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def date_range(value: str) -> tuple[str, date, date]:
    """`[prefix]YYYY[-MM[-DD]]` as (prefix, first day, last day) of what it stands for."""
    match = _DATE.match(value)
    if match is None:
        raise _bad("birthdate", "use [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD]].")
    prefix, year, month, day = match.groups()
    try:
        if day:
            low = high = date(int(year), int(month), int(day))
        elif month:
            low = date(int(year), int(month), 1)
            high = date(int(year), int(month), monthrange(int(year), int(month))[1])
        else:
            low, high = date(int(year), 1, 1), date(int(year), 12, 31)
    except ValueError as exc:
        raise _bad("birthdate", "not a calendar date.") from exc
    return prefix or "eq", low, high


def _birthdate(value: str, modifier: str | None) -> Q:
    _require_no_modifier("birthdate", modifier)
    return birth_date_condition(*date_range(value))


_TEXT = ("exact", "contains")

SEARCH_PARAMETERS: tuple[SearchParameter, ...] = (
    SearchParameter("_id", "token", f"{SPEC}Resource-id", "Logical id (a UUID).", _id),
    SearchParameter("active", "token", f"{SPEC}Patient-active", "true or false.", _active),
    SearchParameter(
        "family",
        "string",
        f"{SPEC}individual-family",
        "Family name; prefix, case- and accent-insensitive.",
        _name("family"),
        _TEXT,
    ),
    SearchParameter(
        "given",
        "string",
        f"{SPEC}individual-given",
        "First given name; prefix, case- and accent-insensitive.",
        _name("given"),
        _TEXT,
    ),
    SearchParameter(
        "name",
        "string",
        f"{SPEC}Patient-name",
        "Family or first given name.",
        _name("name"),
        _TEXT,
    ),
    SearchParameter(
        "identifier",
        "token",
        f"{SPEC}Patient-identifier",
        "system|value, system| (any value of the system), |value or value; active ones.",
        _identifier,
    ),
    SearchParameter(
        "telecom",
        "token",
        f"{SPEC}individual-telecom",
        "[system|]value, compared normalised (digits of a phone, folded e-mail).",
        _telecom,
    ),
    SearchParameter(
        "birthdate",
        "date",
        f"{SPEC}individual-birthdate",
        "Prefixes eq, ne, gt, lt, ge, le; YYYY, YYYY-MM or YYYY-MM-DD.",
        _birthdate,
    ),
    SearchParameter(
        "address",
        "string",
        f"{SPEC}individual-address",
        "Any part of an address (lines, city, district, state, postal code, country).",
        _address(None, "address"),
        _TEXT,
    ),
    SearchParameter(
        "address-city",
        "string",
        f"{SPEC}individual-address-city",
        "City.",
        _address("city", "address-city"),
        _TEXT,
    ),
    SearchParameter(
        "address-postalcode",
        "string",
        f"{SPEC}individual-address-postalcode",
        "Postal code.",
        _address("postal_code", "address-postalcode"),
        _TEXT,
    ),
    SearchParameter(
        "address-state",
        "string",
        f"{SPEC}individual-address-state",
        "State or province.",
        _address("state", "address-state"),
        _TEXT,
    ),
    SearchParameter(
        "address-country",
        "string",
        f"{SPEC}individual-address-country",
        "Country (ISO 3166 alpha-2 as stored).",
        _address("country", "address-country"),
        _TEXT,
    ),
    SearchParameter(
        "gender", "token", f"{SPEC}individual-gender", "Administrative gender.", _gender
    ),
    SearchParameter(
        "mothersMaidenName",
        "string",
        f"{SPEC}patient-extensions-Patient-mothersMaidenName",
        "Mother's maiden name (extension patient-mothersMaidenName); prefix, case-insensitive.",
        _mothers_maiden_name,
        _TEXT,
    ),
)
PARAMETERS_BY_NAME = {p.name: p for p in SEARCH_PARAMETERS}

# Result parameters (not filters).
SORT_KEYS = {
    "family": ("sort_name",),
    "birthdate": ("birth_date",),
    "_lastUpdated": ("updated_at",),
    "_id": ("id",),
}
DEFAULT_COUNT = 20
MAX_COUNT = 100
PAGE_TOKEN = "_page_token"  # noqa: S105 - the name of a query parameter, not a secret
RESULT_PARAMETERS = frozenset({"_count", "_sort", "_total", "_summary", "_format", PAGE_TOKEN})


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """A parsed search: conditions (AND), order, page size, total and summary modes."""

    conditions: tuple[Q, ...]
    order_by: tuple[str, ...]
    count: int
    total: str
    summary_count: bool
    canonical: tuple[tuple[str, str], ...] = field(default=())
    page_token: str | None = None


def _conditions(name: str, values: Sequence[str]) -> list[Q]:
    base, _, modifier = name.partition(":")
    parameter = PARAMETERS_BY_NAME.get(base)
    if parameter is None:
        raise _bad(base, "not supported by this server.")
    if modifier and modifier not in parameter.modifiers:
        raise _bad(base, f"modifier :{modifier} is not supported.")
    conditions = []
    for value in values:  # repeated parameters: AND
        alternatives = [v for v in value.split(",") if v]  # commas: OR
        if not alternatives:
            raise _bad(base, "empty value.")
        either = Q()
        for alternative in alternatives:
            either |= parameter.build(alternative, modifier or None)
        conditions.append(either)
    return conditions


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise _bad(name, "give it once.")
    return values[0]


def _count(text: str | None) -> int:
    if text is None:
        return DEFAULT_COUNT
    if not text.isdigit() or int(text) > MAX_COUNT:
        raise _bad("_count", f"an integer from 0 to {MAX_COUNT}.")
    return int(text)


def _order(text: str | None) -> tuple[str, ...]:
    if not text:
        return ("sort_name", "id")
    order: list[str] = []
    for key in text.split(","):
        descending = key.startswith("-")
        columns = SORT_KEYS.get(key.removeprefix("-"))
        if columns is None:
            raise _bad("_sort", f"sort by {', '.join(SORT_KEYS)} (prefix - to reverse).")
        order.extend(f"-{c}" if descending else c for c in columns)
    if "id" not in order and "-id" not in order:
        order.append("id")
    return tuple(order)


def parse_search(params: Mapping[str, Sequence[str]]) -> PatientQuery:
    """Parse query (or form) parameters; anything unknown or malformed is a 400."""
    conditions: list[Q] = []
    canonical: list[tuple[str, str]] = []
    for name in sorted(params):
        if name in RESULT_PARAMETERS:
            continue
        conditions.extend(_conditions(name, params[name]))
        canonical.extend((name, value) for value in params[name])
    total = _single(params, "_total") or "none"
    if total not in {"none", "estimate", "accurate"}:
        raise _bad("_total", "none, estimate or accurate.")
    summary = _single(params, "_summary")
    if summary not in {None, "count", "false"}:
        raise _bad("_summary", "only count and false are supported.")
    fmt = _single(params, "_format")
    if fmt is not None:
        canonical.append(("_format", fmt))
    count = _count(_single(params, "_count"))
    sort = _single(params, "_sort")
    if sort:
        canonical.append(("_sort", sort))
    if total != "none":
        canonical.append(("_total", total))
    return PatientQuery(
        conditions=tuple(conditions),
        order_by=_order(sort),
        count=count,
        total=total,
        summary_count=summary == "count",
        canonical=tuple(canonical),
        page_token=_single(params, PAGE_TOKEN),
    )
