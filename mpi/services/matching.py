"""Online matching: which of the tenant's patients are probably the person described.

Used by search-before-create (as registration's duplicate finder) and by `POST /api/v1/match`.
Blocking passes in PostgreSQL propose a bounded set of candidates; the pure-Python engine
(`mpi.matching`) scores each against the tenant's current model, with term-frequency weights
for common names; the grades decide what happens next (certain: link; probable and possible:
a steward reviews; certainly-not: dropped). Every candidate carries its per-field explanation.
Reads only: nothing here writes, so a match can run inside any request.
"""

from dataclasses import dataclass
from uuid import UUID

from mpi.matching.compare import DateLevel, IdentifierLevel, NameLevel
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.score import ExplanationEntry, MatchGrade, score_best_pair
from mpi.selectors.candidates import (
    DEFAULT_CANDIDATE_BOUND,
    CandidatePass,
    candidate_query,
    match_candidates,
)
from mpi.selectors.decisions import decided_partners
from mpi.selectors.frequencies import term_frequency_lookup
from mpi.selectors.models import current_match_parameters
from mpi.selectors.placeholders import tenant_placeholder_policy
from mpi.selectors.records import (
    candidate_records,
    input_records,
    record_number_systems,
    without_unshared_record_numbers,
)
from mpi.selectors.vital_status import deceased_patient_ids
from registration.services.duplicates import DuplicateCandidate
from registration.services.inputs import PatientInput
from tenancy.metrics import MATCH_DURATION, timed
from tenancy.tracing import traced

DEFAULT_COUNT = 10
MAX_COUNT = 50
# How many of the best candidates search-before-create considers.
DUPLICATE_FINDER_COUNT = 10

_GRADE_RANK = {
    MatchGrade.CERTAIN: 0,
    MatchGrade.PROBABLE: 1,
    MatchGrade.POSSIBLE: 2,
    MatchGrade.CERTAINLY_NOT: 3,
}


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """An existing patient that may be the person described, with the evidence."""

    patient_id: UUID
    probability: float
    weight: float
    grade: MatchGrade
    explanation: tuple[ExplanationEntry, ...]
    found_by: tuple[str, ...]
    # Why the engine's grade was lowered (e.g. "deceased"), if it was.
    grade_capped_by: str | None = None


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Ranked candidates, the model version that scored them, and whether blocking was cut."""

    candidates: tuple[ScoredCandidate, ...]
    model_version: str
    truncated: bool
    candidate_bound: int
    candidates_scored: int


def placeholder_policy() -> PlaceholderPolicy:
    """The tenant's placeholder values: the built-in list extended by the tenant's own."""
    return tenant_placeholder_policy()


@traced("match_patient")
@timed(MATCH_DURATION)
def match_patient(
    demographics: PatientInput,
    *,
    count: int = DEFAULT_COUNT,
    only_certain: bool = False,
    exclude_patient_id: UUID | None = None,
    candidate_bound: int = DEFAULT_CANDIDATE_BOUND,
    include_certainly_not: bool = False,
) -> MatchResult:
    """The `count` most likely patients of the current tenant for `demographics`, best first.

    Candidates graded certainly-not are left out unless `include_certainly_not` (they rank
    last); `only_certain` keeps only CERTAIN ones.
    `exclude_patient_id` matches an existing patient against the others: that patient and
    every patient a steward already decided about together with it are never proposed.
    A deceased candidate is never CERTAIN (see `mpi.selectors.vital_status`).
    """
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be within 1..{MAX_COUNT}")
    policy = placeholder_policy()
    parameters = current_match_parameters()
    found = match_candidates(
        candidate_query(demographics, policy),
        bound=candidate_bound,
        exclude_patient_id=exclude_patient_id,
    )
    patient_ids = list(found.patient_ids)
    if exclude_patient_id is not None and patient_ids:
        decided = decided_partners(exclude_patient_id)
        patient_ids = [patient_id for patient_id in patient_ids if patient_id not in decided]
    stored = candidate_records(patient_ids, policy)
    queries = input_records(demographics, policy)
    term_frequency = (
        term_frequency_lookup(
            family=[record.family for record in queries],
            given=[record.given for record in queries],
        )
        if stored.records
        else None
    )
    mrn_systems = stored.record_number_systems | record_number_systems(
        (identifier.system, identifier.type_code) for identifier in demographics.identifiers
    )
    deceased = deceased_patient_ids(stored.records.keys())
    candidates = []
    for patient_id, records in stored.records.items():
        score = score_best_pair(
            [
                without_unshared_record_numbers(query, record, mrn_systems)
                for query in queries
                for record in records
            ],
            parameters,
            term_frequency=term_frequency,
            policy=policy,
        )
        grade, capped_by = score.grade, None
        if grade is MatchGrade.CERTAIN and patient_id in deceased:
            grade, capped_by = MatchGrade.PROBABLE, "deceased"
        if only_certain and grade is not MatchGrade.CERTAIN:
            continue
        if grade is MatchGrade.CERTAINLY_NOT and not include_certainly_not:
            continue
        candidates.append(
            ScoredCandidate(
                patient_id=patient_id,
                probability=score.probability,
                weight=score.weight,
                grade=grade,
                explanation=score.explanation,
                found_by=found.found_by.get(patient_id, ()),
                grade_capped_by=capped_by,
            )
        )
    candidates.sort(
        key=lambda c: (_GRADE_RANK[c.grade], -c.weight, str(c.patient_id)),
    )
    return MatchResult(
        candidates=tuple(candidates[:count]),
        model_version=parameters.version,
        truncated=found.truncated,
        candidate_bound=found.bound,
        candidates_scored=len(stored.records),
    )


_NAMES_SIMILAR = frozenset({NameLevel.EXACT, NameLevel.ALIAS, NameLevel.CLOSE})
_DATES_SIMILAR = frozenset(
    {DateLevel.EXACT, DateLevel.ONE_COMPONENT_OFF, DateLevel.DAY_MONTH_SWAPPED}
)


def match_reasons(explanation: tuple[ExplanationEntry, ...]) -> tuple[str, ...]:
    """Short reason codes for a candidate, for people scanning a list of them.

    "identifier" (an identifier in common), "name_and_birth_date" (the same folded names and
    birth date, what the interim exact check looked for) or "similar_name_and_birth_date";
    failing those, the fields that counted in favour. The explanation holds the detail.
    """
    levels = {entry.field: entry.level for entry in explanation}
    reasons = []
    if levels.get("identifiers") == IdentifierLevel.SAME_SYSTEM_EQUAL:
        reasons.append("identifier")
    if (levels.get("family"), levels.get("given"), levels.get("birth_date")) == (
        NameLevel.EXACT,
        NameLevel.EXACT,
        DateLevel.EXACT,
    ):
        reasons.append("name_and_birth_date")
    elif (
        levels.get("family") in _NAMES_SIMILAR
        and levels.get("given") in _NAMES_SIMILAR
        and levels.get("birth_date") in _DATES_SIMILAR
    ):
        reasons.append("similar_name_and_birth_date")
    if not reasons:
        reasons = [entry.field for entry in explanation if entry.weight > 0]
    return tuple(sorted(reasons))


def _is_likely_duplicate(candidate: ScoredCandidate) -> bool:
    """Probable or better, or holding one of the identifiers being registered, whatever grade.

    An active identifier can belong to one patient only, so registration will refuse it
    anyway (409 identifier-conflict); showing its holder first tells the front desk whose
    it is, even when the rest of the record says "different person" (a mistyped MRN).
    """
    return (
        candidate.grade in {MatchGrade.CERTAIN, MatchGrade.PROBABLE}
        or CandidatePass.IDENTIFIER in candidate.found_by
    )


def mpi_duplicate_finder(data: PatientInput) -> list[DuplicateCandidate]:
    """Search-before-create through the matcher: registration's pluggable duplicate finder."""
    result = match_patient(data, count=DUPLICATE_FINDER_COUNT, include_certainly_not=True)
    return [
        DuplicateCandidate(
            patient_id=candidate.patient_id,
            matched_on=match_reasons(candidate.explanation),
            probability=candidate.probability,
            grade=str(candidate.grade),
            explanation=[entry.to_dict() for entry in candidate.explanation],
        )
        for candidate in result.candidates
        if _is_likely_duplicate(candidate)
    ]
