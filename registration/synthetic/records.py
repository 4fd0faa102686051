"""The plain-data record the synthetic population is made of.

Kept free of Django and of any database schema so the same records can feed a COPY loader,
ndjson fixtures, unit tests and matching benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registration.synthetic.identifiers import Identifier

GENDERS = ("male", "female", "other", "unknown")
"""FHIR administrative genders used by the generator."""

MARITAL_STATUSES = ("A", "D", "I", "L", "M", "P", "S", "T", "U", "W", "UNK")
"""HL7 v3 MaritalStatus codes, plus the UNK null flavour, a record's `marital_status` may hold."""


@dataclass(frozen=True, slots=True)
class SyntheticPerson:
    """One registration record of a synthetic person.

    Several records may describe the same real-world person: they share `person_id`, and every
    record but the first (the original) names it in `duplicate_of` and lists the corruptions
    that made it differ in `corruptions`. Matching benchmarks compare predicted links against
    `person_id`; the loader ignores the truth fields (`person_id`, `duplicate_of`,
    `corruptions`) when it creates patients.
    """

    record_id: str
    person_id: str
    family: str
    given: str
    middle: str | None
    maiden_family: str | None
    gender: str
    birth_date: date | None
    identifiers: tuple[Identifier, ...]
    phones: tuple[str, ...]
    email: str | None
    line: str
    city: str
    state: str
    postal_code: str
    country: str
    language: str
    marital_status: str
    duplicate_of: str | None = None
    corruptions: tuple[str, ...] = ()

    @property
    def is_duplicate(self) -> bool:
        """Tell whether this record is an extra registration of an already-emitted person."""
        return self.duplicate_of is not None

    def identifier_value(self, system: str) -> str | None:
        """Return the value of the record's identifier in `system`, if it has one."""
        for identifier in self.identifiers:
            if identifier.system == system:
                return identifier.value
        return None
