"""Derived search columns, recomputed by the services on every write.

They use the MPI's pure normalisation library (`mpi.matching.normalize`, no Django), so the
registration search and the matcher fold text identically.
"""

from mpi.matching.normalize import (
    fold_text,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
)
from registration.models import NameUse, TelecomSystem
from registration.services.inputs import NameInput, PatientInput

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
