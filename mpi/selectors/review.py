"""Reads of the review queue: the pairs a steward works, best first, and one pair to compare."""

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.db.models import Prefetch, Q, QuerySet

from mpi.models import CandidateStatus, MatchCandidate, PatientMerge
from registration.models import Patient, PatientIdentifier
from tenancy.errors import NotFoundError

UNASSIGNED = "-"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Queue criteria; all given must hold. `assignee` "-" means unassigned."""

    status: str = CandidateStatus.OPEN
    grade: str = ""
    facility: str = ""
    min_age: int | None = None
    max_age: int | None = None
    assignee: str = ""


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _patients() -> QuerySet[Patient]:
    return Patient.objects.prefetch_related(
        "names",
        Prefetch("identifiers", queryset=PatientIdentifier.objects.order_by("retired_at", "id")),
    )


def candidate_queue(
    criteria: QueueFilter, *, today: date, with_patients: bool = True
) -> QuerySet[MatchCandidate]:
    """Candidates meeting the criteria, most probable first (then oldest), with both patients
    (names and identifiers prefetched) unless `with_patients` is false."""
    pairs = MatchCandidate.objects.all()
    if criteria.status:
        pairs = pairs.filter(status=criteria.status)
    if criteria.grade:
        pairs = pairs.filter(grade=criteria.grade)
    if criteria.facility:
        pairs = pairs.filter(
            Q(patient_low__preferred_facility=criteria.facility)
            | Q(patient_high__preferred_facility=criteria.facility)
        )
    if criteria.min_age is not None or criteria.max_age is not None:
        born = Q()
        if criteria.min_age is not None:
            born &= Q(birth_date__lte=_years_before(today, criteria.min_age))
        if criteria.max_age is not None:
            born &= Q(birth_date__gt=_years_before(today, criteria.max_age + 1))
        ages = Patient.objects.filter(born).values("id")
        pairs = pairs.filter(Q(patient_low__in=ages) | Q(patient_high__in=ages))
    if criteria.assignee == UNASSIGNED:
        pairs = pairs.filter(assignee="")
    elif criteria.assignee:
        pairs = pairs.filter(assignee=criteria.assignee)
    pairs = pairs.order_by("-probability", "created_at", "id")
    if not with_patients:
        return pairs
    return pairs.prefetch_related(
        Prefetch("patient_low", queryset=_patients()),
        Prefetch("patient_high", queryset=_patients()),
    )


def candidate_get(*, candidate_id: UUID) -> MatchCandidate:
    """One candidate with both patients, or NotFoundError (also for other tenants')."""
    candidate = (
        MatchCandidate.objects.filter(id=candidate_id)
        .prefetch_related(
            Prefetch("patient_low", queryset=_patients()),
            Prefetch("patient_high", queryset=_patients()),
        )
        .first()
    )
    if candidate is None:
        raise NotFoundError("No such candidate.")
    return candidate


def candidate_next(
    *, after: MatchCandidate, criteria: QueueFilter, today: date, step: int = 1
) -> UUID | None:
    """The pair `step` places after `after` in the queue (-1: before), wrapping around; the
    console's skip, next and previous. None when the queue holds no other pair."""
    ids = list(
        candidate_queue(criteria, today=today, with_patients=False).values_list("id", flat=True)[
            :500
        ]
    )
    others = [i for i in ids if i != after.id]
    if not others:
        return None
    if after.id not in ids:
        return others[0]
    return ids[(ids.index(after.id) + step) % len(ids)]


def merge_get(*, merge_id: UUID) -> PatientMerge:
    """One merge ledger entry, or NotFoundError."""
    merge = PatientMerge.objects.filter(id=merge_id).first()
    if merge is None:
        raise NotFoundError("No such merge.")
    return merge


def merges_of_patient(*, patient_id: UUID) -> QuerySet[PatientMerge]:
    """The merges a patient took part in, newest first."""
    return PatientMerge.objects.filter(
        Q(survivor_id=patient_id) | Q(subsumed_id=patient_id)
    ).order_by("-merged_at")
