"""Search-before-create: which existing patients a new registration probably duplicates.

The finder is pluggable: registration ships an exact finder (same identifier, or same folded
family + given name + birth date); the MPI app, which sits above registration, registers its
probabilistic matcher at start-up through `register_duplicate_finder`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Q

from registration.models import PatientIdentifier, PatientName
from registration.services.inputs import PatientInput
from registration.services.search_keys import fold


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    """An existing patient that may be the person being registered, and why."""

    patient_id: UUID
    matched_on: tuple[str, ...]
    probability: float | None = None
    grade: str | None = None
    explanation: list[dict[str, Any]] = field(default_factory=list)


DuplicateFinder = Callable[[PatientInput], list[DuplicateCandidate]]


def exact_duplicate_finder(data: PatientInput) -> list[DuplicateCandidate]:
    """Active patients sharing an active identifier, or folded full name and birth date."""
    reasons: dict[UUID, set[str]] = {}
    identifier_filter = Q()
    for identifier in data.identifiers:
        identifier_filter |= Q(system=identifier.system, value=identifier.value)
    if identifier_filter:
        for patient_id in PatientIdentifier.objects.filter(
            identifier_filter, retired_at__isnull=True, patient__active=True
        ).values_list("patient_id", flat=True):
            reasons.setdefault(patient_id, set()).add("identifier")
    if data.birth_date is not None:
        name_filter = Q()
        for name in data.names:
            family, given = fold(name.family), fold(name.given[0]) if name.given else ""
            if family and given:
                name_filter |= Q(family_folded=family, given_folded=given)
        if name_filter:
            for patient_id in PatientName.objects.filter(
                name_filter, patient__birth_date=data.birth_date, patient__active=True
            ).values_list("patient_id", flat=True):
                reasons.setdefault(patient_id, set()).add("name_and_birth_date")
    return [
        DuplicateCandidate(patient_id=pid, matched_on=tuple(sorted(why)))
        for pid, why in sorted(reasons.items(), key=lambda item: (-len(item[1]), str(item[0])))
    ]


_finder: DuplicateFinder = exact_duplicate_finder


def register_duplicate_finder(finder: DuplicateFinder) -> None:
    """Swap in another finder (the MPI's matcher); called once from an AppConfig.ready()."""
    global _finder  # noqa: PLW0603 - one process-wide strategy, set at start-up
    _finder = finder


def find_likely_duplicates(data: PatientInput) -> list[DuplicateCandidate]:
    """Candidates for `data` in the current tenant, most likely first."""
    return _finder(data)
