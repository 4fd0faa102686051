"""Fellegi-Sunter scoring: turn a pair's comparison levels into a probability and a grade.

Each field contributes log2(m/u) bits of evidence for the level it reached; missing fields
contribute nothing. The sum, shifted by the prior odds, gives the match probability, which
the tenant's thresholds turn into a grade. Every decision carries a per-field explanation so
that a data steward can see why two records were (or were not) linked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mpi.matching.compare import (
    COMPARATORS,
    FIELDS,
    MISSING,
    ComparedValue,
    FieldComparison,
    NameLevel,
    RecordComparison,
    compare_records,
)
from mpi.matching.model import JsonValue, ModelParameters, default_parameters
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.record import DEFAULT_PLACEHOLDER_POLICY, MatchRecord

# (field, normalized value) -> share of the tenant's records holding that exact value,
# or None when unknown.
TermFrequencyLookup = Callable[[str, str], float | None]

# Fields whose exact agreement is worth less when the value is common ("smith").
TERM_FREQUENCY_FIELDS = frozenset({"family", "given"})


class MatchGrade(StrEnum):
    """What the service does with a scored pair."""

    CERTAIN = "CERTAIN"  # link automatically
    PROBABLE = "PROBABLE"  # very likely; a steward confirms
    POSSIBLE = "POSSIBLE"  # review queue
    CERTAINLY_NOT = "CERTAINLY_NOT"  # different people


def _json_value(value: ComparedValue) -> JsonValue:
    """A compared value in JSON form (tuples become lists)."""
    if isinstance(value, tuple):
        return list[JsonValue](value)
    return value


@dataclass(frozen=True)
class TermFrequencyAdjustment:
    """How a common or rare name changed the u probability of an exact agreement."""

    value: str
    frequency: float
    u_before: float
    u_after: float

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready form."""
        return {
            "value": self.value,
            "frequency": self.frequency,
            "u_before": self.u_before,
            "u_after": self.u_after,
        }


@dataclass(frozen=True)
class ExplanationEntry:
    """One field's contribution to a score, with everything needed to audit it."""

    field: str
    level: str
    weight: float
    m: float | None
    u: float | None
    left_value: ComparedValue
    right_value: ComparedValue
    term_frequency: TermFrequencyAdjustment | None

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready form."""
        return {
            "field": self.field,
            "level": self.level,
            "weight": self.weight,
            "m": self.m,
            "u": self.u,
            "left_value": _json_value(self.left_value),
            "right_value": _json_value(self.right_value),
            "term_frequency": None
            if self.term_frequency is None
            else self.term_frequency.to_dict(),
        }


@dataclass(frozen=True)
class ScoreResult:
    """The verdict on one pair: probability, total evidence, grade and its explanation."""

    probability: float
    weight: float
    grade: MatchGrade
    explanation: tuple[ExplanationEntry, ...]
    parameters_version: str

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready form, stored with every link decision."""
        return {
            "probability": self.probability,
            "weight": self.weight,
            "grade": str(self.grade),
            "parameters_version": self.parameters_version,
            "explanation": [entry.to_dict() for entry in self.explanation],
        }


def match_probability(weight: float, match_prior: float) -> float:
    """P(match) from the evidence in bits and the prior lambda; never overflows."""
    bits = weight + math.log2(match_prior / (1.0 - match_prior))
    if bits >= 0:
        return 1.0 / (1.0 + math.exp2(-bits))
    odds = math.exp2(bits)
    return odds / (1.0 + odds)


def grade_for(
    probability: float, level_vector: Mapping[str, str], parameters: ModelParameters
) -> MatchGrade:
    """The grade a probability earns; a blocking contradiction caps it at PROBABLE."""
    thresholds = parameters.thresholds
    blocked = any(
        (field_name, level) in parameters.auto_link_blockers
        for field_name, level in level_vector.items()
    )
    if probability >= thresholds.certain and not blocked:
        return MatchGrade.CERTAIN
    if probability >= thresholds.probable:
        return MatchGrade.PROBABLE
    if probability >= thresholds.possible:
        return MatchGrade.POSSIBLE
    return MatchGrade.CERTAINLY_NOT


def _term_frequency_adjustment(
    comparison: FieldComparison,
    m: float,
    u: float,
    parameters: ModelParameters,
    term_frequency: TermFrequencyLookup | None,
) -> TermFrequencyAdjustment | None:
    """Replace u by the frequency of an exactly agreeing name, within sane bounds.

    Both sides are looked up (their spacing may differ) and the more common reading wins, so
    the adjustment is symmetric. u never rises above m: agreeing on a name is never evidence
    against a match, however common the name.
    """
    if (
        term_frequency is None
        or comparison.field not in TERM_FREQUENCY_FIELDS
        or comparison.level != NameLevel.EXACT
    ):
        return None
    frequencies = [
        (frequency, value)
        for value in (comparison.left, comparison.right)
        if isinstance(value, str)
        and (frequency := term_frequency(comparison.field, value)) is not None
    ]
    if not frequencies:
        return None
    frequency, value = max(frequencies)
    u_after = min(parameters.term_frequency_bounds.clamp(frequency), m)
    return TermFrequencyAdjustment(value=value, frequency=frequency, u_before=u, u_after=u_after)


def _explain(
    comparison: FieldComparison,
    parameters: ModelParameters,
    term_frequency: TermFrequencyLookup | None,
) -> ExplanationEntry:
    """One field's weight and the reasons for it."""
    level = str(comparison.level)
    if level == MISSING:
        return ExplanationEntry(
            comparison.field, level, 0.0, None, None, comparison.left, comparison.right, None
        )
    field_parameters = parameters.fields[comparison.field]
    m, u = field_parameters.m[level], field_parameters.u[level]
    adjustment = _term_frequency_adjustment(comparison, m, u, parameters, term_frequency)
    if adjustment is not None:
        u = adjustment.u_after
    return ExplanationEntry(
        field=comparison.field,
        level=level,
        weight=math.log2(m / u),
        m=m,
        u=u,
        left_value=comparison.left,
        right_value=comparison.right,
        term_frequency=adjustment,
    )


def score_comparison(
    comparison: RecordComparison,
    parameters: ModelParameters,
    *,
    term_frequency: TermFrequencyLookup | None = None,
) -> ScoreResult:
    """Score an already computed comparison (e.g. one stored for review)."""
    explanation = tuple(
        _explain(comparison.for_field(field_name), parameters, term_frequency)
        for field_name in FIELDS
    )
    weight = math.fsum(entry.weight for entry in explanation)
    probability = match_probability(weight, parameters.match_prior)
    return ScoreResult(
        probability=probability,
        weight=weight,
        grade=grade_for(probability, comparison.level_vector(), parameters),
        explanation=explanation,
        parameters_version=parameters.version,
    )


def score_pair(
    left: MatchRecord,
    right: MatchRecord,
    parameters: ModelParameters | None = None,
    *,
    term_frequency: TermFrequencyLookup | None = None,
    policy: PlaceholderPolicy | None = None,
) -> ScoreResult:
    """Compare two records and score them: the matcher's main entry point."""
    return score_comparison(
        compare_records(left, right, policy=policy),
        parameters or default_parameters(),
        term_frequency=term_frequency,
    )


# The fields whose comparison reads a record's names. The records of one patient (one per
# name it holds) differ in these fields only.
NAME_FIELDS = ("family", "given")


def score_best_pair(
    combinations: Sequence[tuple[MatchRecord, MatchRecord]],
    parameters: ModelParameters | None = None,
    *,
    term_frequency: TermFrequencyLookup | None = None,
    policy: PlaceholderPolicy | None = None,
) -> ScoreResult:
    """The strongest score among name combinations of two patients (one record per name).

    Equal to the highest-weighing `score_pair` over `combinations` (the first of equals),
    which must be records of one patient against records of another: they differ in their
    names only, so the other fields weigh the same in every combination and the best one is
    the one whose names weigh most. Only that one is compared and scored in full; the others
    cost their two name comparisons. A patient with a maiden and a married name against one
    with a nickname row is four combinations, scored for about the price of two.
    """
    if not combinations:
        raise ValueError("at least one combination of records is needed")
    active = parameters or default_parameters()
    best = combinations[0]
    if len(combinations) > 1:
        active_policy = policy or DEFAULT_PLACEHOLDER_POLICY
        best_weight = -math.inf
        for left, right in combinations:
            left_clean = left.without_placeholders(active_policy)
            right_clean = right.without_placeholders(active_policy)
            weight = math.fsum(
                _explain(
                    COMPARATORS[field_name](left_clean, right_clean), active, term_frequency
                ).weight
                for field_name in NAME_FIELDS
            )
            if weight > best_weight:
                best, best_weight = (left, right), weight
    return score_pair(*best, active, term_frequency=term_frequency, policy=policy)
