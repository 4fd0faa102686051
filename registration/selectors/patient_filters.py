"""Conditions on patients for parameterised searches (the FHIR / PDQm search).

Each builder returns a `Q` on Patient that reads the derived search columns (folded names,
normalised phone and postal code) through their indexes; the caller ANDs and ORs them. Row-
level security keeps every condition inside the caller's tenant.
"""

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.db.models import CharField, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Upper
from django.db.models.lookups import StartsWith

from registration.models import (
    Patient,
    PatientAddress,
    PatientIdentifier,
    PatientName,
    PatientTelecom,
)
from registration.selectors.patients import with_children
from registration.services.search_keys import fold, telecom_key


class TextMatch(StrEnum):
    """How a string parameter compares (FHIR string search and its modifiers)."""

    STARTS = "starts"  # default: case- and accent-insensitive prefix
    EXACT = "exact"  # :exact: the stored value, exactly
    CONTAINS = "contains"  # :contains: anywhere (trigram index)


def _folded(column: str, value: str, how: TextMatch) -> Q:
    text = fold(value)
    if how is TextMatch.CONTAINS:
        return Q(**{f"{column}_folded__contains": text})
    return Q(**{f"{column}_folded__startswith": text})


def _given_condition(value: str, how: TextMatch) -> Q:
    """Any given name matches: a word prefix (or, :contains, anywhere) of the folded given
    names; :exact, one given name exactly as stored. The trigram index serves all three."""
    text = fold(value)
    if how is TextMatch.EXACT:
        return Q(given_names_folded__contains=text) & Q(given__contains=[value])
    if how is TextMatch.CONTAINS:
        return Q(given_names_folded__contains=text)
    return Q(given_names_folded__startswith=text) | Q(given_names_folded__contains=f" {text}")


def name_condition(part: str, value: str, how: TextMatch) -> Q:
    """A name part (`family`, `given`, or `name` = either) matches `value`.

    `given` compares every given name, not only the first; `:exact` also requires the stored
    text to be exactly `value`.
    """
    names = PatientName.objects.filter(patient=OuterRef("pk"))
    columns = ("family", "given") if part == "name" else (part,)
    condition = Q()
    for column in columns:
        if column == "given":
            condition |= _given_condition(value, how)
        elif how is TextMatch.EXACT:
            condition |= Q(family_folded=fold(value), family=value)
        else:
            condition |= _folded(column, value, how)
    return Q(Exists(names.filter(condition)))


def identifier_condition(system: str | None, value: str | None) -> Q:
    """An active identifier with this system and/or value (`None`: any)."""
    identifiers = PatientIdentifier.objects.filter(patient=OuterRef("pk"), retired_at__isnull=True)
    if system is not None:
        identifiers = identifiers.filter(system=system)
    if value is not None:
        identifiers = identifiers.filter(value=value)
    return Q(Exists(identifiers))


def telecom_condition(system: str | None, value: str) -> Q:
    """A contact point equal to `value` once normalised (digits of a phone, folded e-mail)."""
    systems = (system,) if system else ("phone", "email", "url")
    keys = {telecom_key(s, value) for s in systems} - {""}
    telecoms = PatientTelecom.objects.filter(patient=OuterRef("pk"), value_normalized__in=keys)
    if system:
        telecoms = telecoms.filter(system=system)
    return Q(Exists(telecoms))


ADDRESS_COLUMNS = ("city", "district", "state", "postal_code", "country")


def address_condition(column: str | None, value: str, how: TextMatch) -> Q:
    """An address whose `column` (or, for None, any part of it) matches `value`."""
    addresses = PatientAddress.objects.filter(patient=OuterRef("pk"))
    if column == "city" and how is TextMatch.STARTS:
        # Prefix on upper(city): the form the (tenant, upper(city)) index holds.
        condition = Q(city_upper__startswith=value.upper())
        addresses = addresses.annotate(city_upper=Upper("city"))
    elif column is not None:
        condition = _text(column, value, how)
    else:
        addresses = addresses.annotate(
            all_lines=Func(
                F("lines"), Value(" "), function="array_to_string", output_field=CharField()
            )
        )
        condition = _text("all_lines", value, how)
        for part in ADDRESS_COLUMNS:
            condition |= _text(part, value, how)
    return Q(Exists(addresses.filter(condition)))


def mothers_maiden_name_condition(value: str, how: TextMatch) -> Q:
    """The mother's maiden name matches `value` (case-insensitive; :exact as stored)."""
    if how is TextMatch.STARTS:
        # Prefix on upper(...): the form the (tenant, upper(mothers_maiden_name)) index holds.
        return Q(StartsWith(Upper("mothers_maiden_name"), value.upper()))
    return _text("mothers_maiden_name", value, how)


def _text(column: str, value: str, how: TextMatch) -> Q:
    if how is TextMatch.EXACT:
        return Q(**{column: value})
    if how is TextMatch.CONTAINS:
        return Q(**{f"{column}__icontains": value})
    return Q(**{f"{column}__istartswith": value})


def birth_date_condition(prefix: str, low: date, high: date) -> Q:
    """The birth date compared with the range [low, high] a (partial) date stands for."""
    conditions = {
        "eq": Q(birth_date__gte=low, birth_date__lte=high),
        "ne": Q(birth_date__lt=low) | Q(birth_date__gt=high),
        "gt": Q(birth_date__gt=high),
        "lt": Q(birth_date__lt=low),
        "ge": Q(birth_date__gte=low),
        "le": Q(birth_date__lte=high),
    }
    return conditions[prefix]


def id_condition(ids: Sequence[UUID]) -> Q:
    """One of these patients."""
    return Q(id__in=list(ids))


def _reversed(column: str) -> str:
    return column[1:] if column.startswith("-") else f"-{column}"


def reversed_order(order_by: Sequence[str]) -> tuple[str, ...]:
    """The same order backwards (PostgreSQL puts NULLs last ascending and first descending, so
    flipping every column's direction reverses the whole order, NULLs included)."""
    return tuple(_reversed(column) for column in order_by)


def keyset_after(order_by: Sequence[str], values: Sequence[Any]) -> Q:
    """Patients strictly after the row whose sort values are `values`, in `order_by` (which
    ends with the unique id): keyset paging, no offset, whatever the depth."""
    condition = Q(pk__in=[])
    same = Q()
    for column, value in zip(order_by, values, strict=True):
        name = column.removeprefix("-")
        descending = column.startswith("-")
        if value is None:
            # NULLs come last ascending (nothing after them) and first descending.
            beyond = Q(**{f"{name}__isnull": False}) if descending else Q(pk__in=[])
            equal = Q(**{f"{name}__isnull": True})
        else:
            beyond = Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
            if not descending:
                beyond |= Q(**{f"{name}__isnull": True})
            equal = Q(**{name: value})
        condition |= same & beyond
        same &= equal
    return condition


def patients_where(
    conditions: Sequence[Q], *, order_by: Sequence[str], with_records: bool = True
) -> QuerySet[Patient]:
    """The tenant's patients meeting every condition, in a stable order (id last)."""
    patients = Patient.objects.filter(*conditions).order_by(*order_by)
    return with_children(patients) if with_records else patients
