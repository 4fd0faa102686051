"""Derived search columns, recomputed by the services on every write.

They use the MPI's pure normalisation library (`mpi.matching.normalize`, no Django), so the
registration search, the bulk loader and the matcher's candidate generation derive every key
identically: a key computed for a query always equals the key stored for the same value.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from mpi.matching.normalize import (
    fold_text,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_postal_code,
    phonetic_keys,
)
from registration.models import NameUse, TelecomSystem
from registration.services.inputs import NameInput, PatientInput

FOLDED_NAME_LENGTH = 100
GIVEN_NAMES_LENGTH = 520
PHONETIC_KEY_LENGTH = 40

_NAME_PREFERENCE = (
    NameUse.OFFICIAL,
    NameUse.USUAL,
    NameUse.TEMP,
    NameUse.NICKNAME,
    NameUse.MAIDEN,
    NameUse.OLD,
    NameUse.ANONYMOUS,
)


def fold(value: str) -> str:
    """Accent-, case- and punctuation-free form used for name search."""
    return fold_text(value)


_NAME_RANK = {str(use): rank for rank, use in enumerate(_NAME_PREFERENCE)}


def primary_name(names: tuple[NameInput, ...]) -> NameInput | None:
    """The name a patient is listed under: official first, then usual, …"""
    return min(names, key=lambda n: _NAME_RANK.get(n.use, len(_NAME_RANK)), default=None)


def sort_name(data: PatientInput) -> str:
    """`family given` of the primary name, folded, for ordering search results."""
    name = primary_name(data.names)
    if name is None:
        return ""
    return f"{fold(name.family)} {fold(' '.join(name.given))}".strip()[:220]


def telecom_key(system: str, value: str) -> str:
    """Digits of a phone, the folded address of an email, else the folded value."""
    if system in {TelecomSystem.PHONE, TelecomSystem.SMS, TelecomSystem.FAX}:
        return normalize_phone(value) or ""
    if system == TelecomSystem.EMAIL:
        return normalize_email(value) or ""
    return fold(value)[:255]


def phone_key(value: str) -> str:
    """Search form of a phone number given by a caller."""
    return normalize_phone(value) or ""


def postal_key(value: str) -> str:
    """Search form of a postal code."""
    return normalize_postal_code(value) or ""


def phonetic_key(value: str) -> str:
    """Metaphone key of a name, titles and spacing ignored ("" when nothing is left).

    Metaphone rather than NYSIIS: on the synthetic generator's family-name typos it keeps
    the same key more often (42% against 29%), and candidate generation uses it only as one
    blocking pass among several.
    """
    name = normalize_name(value)
    return phonetic_keys(name)[1][:PHONETIC_KEY_LENGTH] if name else ""


@dataclass(frozen=True, slots=True)
class NameSearchColumns:
    """The derived columns of one patient name row, as both writers store them."""

    family_folded: str
    given_folded: str
    given_names_folded: str
    family_phonetic: str
    given_phonetic: str
    birth_year: int | None


def given_names_key(given: Sequence[str]) -> str:
    """Every given name folded, space-separated: the column `given` searches match any of."""
    return " ".join(filter(None, (fold(g) for g in given)))[:GIVEN_NAMES_LENGTH]


def name_search_columns(name: NameInput, birth_date: date | None) -> NameSearchColumns:
    """Search columns of a name: folded and phonetic forms, and the patient's birth year.

    The birth year is copied onto every name row so that the matcher's blocking passes
    (phonetic key + birth year, similar names within a few years) filter one table.
    """
    given = name.given[0] if name.given else ""
    return NameSearchColumns(
        family_folded=fold(name.family)[:FOLDED_NAME_LENGTH],
        given_folded=fold(given)[:FOLDED_NAME_LENGTH],
        given_names_folded=given_names_key(name.given),
        family_phonetic=phonetic_key(name.family),
        given_phonetic=phonetic_key(given),
        birth_year=birth_year(birth_date),
    )


def birth_year(birth_date: date | None) -> int | None:
    """The year part of a birth date, the key of the year-based blocking passes."""
    return birth_date.year if birth_date else None
