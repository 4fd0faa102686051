"""Learning a tenant's m and u probabilities from its own data.

Default parameters are a starting point; each tenant's feeds have their own error rates and
population. u (how often unrelated people coincide) is estimated from random record pairs,
which are almost all non-matches. m and the share of matches among candidate pairs are fitted
by expectation-maximisation over the comparison levels of the pairs blocking produces, and
data stewards' decisions can then be blended in as evidence.

Everything works on level vectors (field -> level name), grouped and counted, so training on
a tenant of millions of candidate pairs costs one pass per iteration over the distinct
patterns only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mpi.matching.compare import FIELD_LEVELS, FIELDS, MISSING, compare_records
from mpi.matching.model import ModelParameters, validate_probability_table
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.record import MatchRecord

LevelVector = Mapping[str, str]
LevelPattern = tuple[str, ...]
ProbabilityTables = dict[str, dict[str, float]]

# Expected-count smoothing in the EM M-step: keeps every probability strictly between 0
# and 1 (so every weight stays finite) while moving estimates by a negligible amount.
EM_PSEUDO_COUNT = 1e-3
# lambda is kept this far from 0 and 1 so the prior odds stay finite.
_LAMBDA_MARGIN = 1e-9


def _pattern(levels: LevelVector) -> LevelPattern:
    """A level vector as a tuple in FIELDS order; absent fields are MISSING.

    Unknown fields or levels raise ValueError: silently ignoring them would train on
    comparisons the scorer can never produce.
    """
    unknown_fields = set(levels) - set(FIELDS)
    if unknown_fields:
        raise ValueError(f"unknown fields in level vector: {sorted(unknown_fields)}")
    pattern = tuple(str(levels.get(field_name, MISSING)) for field_name in FIELDS)
    for field_name, level in zip(FIELDS, pattern, strict=True):
        if level != MISSING and level not in FIELD_LEVELS[field_name]:
            raise ValueError(f"unknown level {level!r} for field {field_name!r}")
    return pattern


def _count_patterns(level_vectors: Iterable[LevelVector]) -> Counter[LevelPattern]:
    """How many pairs share each distinct comparison pattern."""
    return Counter(_pattern(levels) for levels in level_vectors)


def _smoothed(
    counts: Mapping[str, float], field_name: str, pseudo_count: float
) -> dict[str, float]:
    """Level frequencies of one field with additive (Laplace) smoothing."""
    levels = FIELD_LEVELS[field_name]
    total = math.fsum(counts.get(level, 0.0) for level in levels)
    return {
        level: (counts.get(level, 0.0) + pseudo_count) / (total + pseudo_count * len(levels))
        for level in levels
    }


def _field_level_counts(patterns: Mapping[LevelPattern, float]) -> ProbabilityTables:
    """Per field, the (possibly weighted) count of each non-missing level."""
    counts: ProbabilityTables = {field_name: {} for field_name in FIELDS}
    for pattern, count in patterns.items():
        for field_name, level in zip(FIELDS, pattern, strict=True):
            if level != MISSING:
                field_counts = counts[field_name]
                field_counts[level] = field_counts.get(level, 0.0) + count
    return counts


def estimate_u_from_levels(
    level_vectors: Iterable[LevelVector], *, pseudo_count: float = 1.0
) -> ProbabilityTables:
    """u probabilities from the level vectors of random (so almost surely unrelated) pairs.

    Fields that were missing in every pair are left out: there is nothing to learn about
    them, and a uniform guess would be worse than the prior parameters.
    """
    if pseudo_count <= 0:
        raise ValueError("pseudo_count must be positive so that no level gets u = 0")
    counts = _field_level_counts(_count_patterns(level_vectors))
    return {
        field_name: _smoothed(level_counts, field_name, pseudo_count)
        for field_name, level_counts in counts.items()
        if level_counts
    }


def estimate_u(
    random_pairs: Iterable[tuple[MatchRecord, MatchRecord]],
    *,
    policy: PlaceholderPolicy | None = None,
    pseudo_count: float = 1.0,
) -> ProbabilityTables:
    """u probabilities from comparing random record pairs of one tenant."""
    return estimate_u_from_levels(
        (
            compare_records(left, right, policy=policy).level_vector()
            for left, right in random_pairs
        ),
        pseudo_count=pseudo_count,
    )


@dataclass(frozen=True)
class EMResult:
    """Fitted parameters and how the fit went, for logging and for refusing a bad fit."""

    parameters: ModelParameters
    iterations: int
    log_likelihood_trace: tuple[float, ...]
    converged: bool


def _pattern_likelihood(pattern: LevelPattern, probabilities: ProbabilityTables) -> float:
    """P(pattern | class) under conditional independence; missing fields contribute 1."""
    return math.prod(
        probabilities[field_name][level]
        for field_name, level in zip(FIELDS, pattern, strict=True)
        if level != MISSING
    )


def _largest_change(before: ProbabilityTables, after: ProbabilityTables) -> float:
    """The largest absolute change of any probability between two sets of tables."""
    return max(
        abs(after[field_name][level] - before[field_name][level])
        for field_name in FIELDS
        for level in FIELD_LEVELS[field_name]
    )


def estimate_m_em(
    candidate_pairs_levels: Iterable[LevelVector],
    initial_params: ModelParameters,
    *,
    max_iter: int = 200,
    tol: float = 1e-6,
    fixed_u: Mapping[str, Mapping[str, float]] | None = None,
    version: str | None = None,
) -> EMResult:
    """Fit m, u and lambda to candidate pairs by expectation-maximisation.

    Assumes fields are conditionally independent given match status. u tables given in
    `fixed_u` (typically from `estimate_u`) stay fixed, which anchors the fit; others are
    estimated too. Iteration stops when no probability (nor lambda) moves by `tol` or more.
    """
    patterns = _count_patterns(candidate_pairs_levels)
    if not patterns:
        raise ValueError("EM needs at least one candidate pair")
    if max_iter < 1 or tol <= 0:
        raise ValueError("max_iter must be >= 1 and tol positive")
    fixed = {
        field_name: validate_probability_table(field_name, "u", u)
        for field_name, u in (fixed_u or {}).items()
    }
    m: ProbabilityTables = {name: dict(p.m) for name, p in initial_params.fields.items()}
    u: ProbabilityTables = {name: dict(p.u) for name, p in initial_params.fields.items()}
    u.update(fixed)
    match_prior = initial_params.match_prior
    pair_count = sum(patterns.values())
    trace: list[float] = []
    converged = False
    iterations = 0
    while iterations < max_iter and not converged:
        iterations += 1
        match_weights: dict[LevelPattern, float] = {}
        non_match_weights: dict[LevelPattern, float] = {}
        log_likelihood = 0.0
        for pattern, count in patterns.items():
            joint_match = match_prior * _pattern_likelihood(pattern, m)
            joint_non_match = (1.0 - match_prior) * _pattern_likelihood(pattern, u)
            mixture = joint_match + joint_non_match
            log_likelihood += count * math.log(mixture)
            match_weights[pattern] = count * joint_match / mixture
            non_match_weights[pattern] = count - match_weights[pattern]
        trace.append(log_likelihood)

        new_prior = math.fsum(match_weights.values()) / pair_count
        new_prior = min(max(new_prior, _LAMBDA_MARGIN), 1.0 - _LAMBDA_MARGIN)
        new_m = _maximise(match_weights, m)
        new_u = _maximise(non_match_weights, u)
        new_u.update(fixed)
        change = max(
            abs(new_prior - match_prior), _largest_change(m, new_m), _largest_change(u, new_u)
        )
        m, u, match_prior = new_m, new_u, new_prior
        converged = change < tol
    return EMResult(
        parameters=initial_params.with_probabilities(
            m=m, u=u, match_prior=match_prior, version=version or f"{initial_params.version}+em"
        ),
        iterations=iterations,
        log_likelihood_trace=tuple(trace),
        converged=converged,
    )


def _maximise(
    weighted_patterns: Mapping[LevelPattern, float], previous: ProbabilityTables
) -> ProbabilityTables:
    """M-step for one class: expected level frequencies per field.

    A field never observed in this class keeps its previous probabilities.
    """
    counts = _field_level_counts(weighted_patterns)
    return {
        field_name: _smoothed(counts[field_name], field_name, EM_PSEUDO_COUNT)
        if counts[field_name]
        else dict(previous[field_name])
        for field_name in FIELDS
    }


def _blend(
    prior: ProbabilityTables, counts: ProbabilityTables, prior_strength: float
) -> ProbabilityTables:
    """Prior probabilities as `prior_strength` pseudo-counts plus observed counts, renormalized.

    A field without observations keeps its prior exactly.
    """
    tables: ProbabilityTables = {}
    for field_name in FIELDS:
        observed = counts[field_name]
        if not observed:
            tables[field_name] = dict(prior[field_name])
            continue
        total = prior_strength + math.fsum(observed.values())
        tables[field_name] = {
            level: (prior_strength * probability + observed.get(level, 0.0)) / total
            for level, probability in prior[field_name].items()
        }
    return tables


@dataclass(frozen=True)
class LabelledPair:
    """A data steward's decision on a pair: its comparison levels and whether it is one person."""

    levels: LevelVector
    is_duplicate: bool


def apply_labels(
    params: ModelParameters,
    labelled_pairs: Iterable[LabelledPair],
    *,
    prior_strength: float = 100.0,
    version: str | None = None,
) -> ModelParameters:
    """Blend steward decisions into m (duplicates) and u (non-duplicates).

    The current probabilities act as `prior_strength` pseudo-pairs, so a handful of
    decisions nudges the model and many decisions dominate it. lambda is left alone:
    reviewed pairs are the hard cases, not a sample of all candidates.
    """
    if prior_strength <= 0:
        raise ValueError("prior_strength must be positive")
    duplicates: Counter[LevelPattern] = Counter()
    distinct: Counter[LevelPattern] = Counter()
    for pair in labelled_pairs:
        (duplicates if pair.is_duplicate else distinct)[_pattern(pair.levels)] += 1

    label_count = sum(duplicates.values()) + sum(distinct.values())
    return params.with_probabilities(
        m=_blend(
            {name: field.m for name, field in params.fields.items()},
            _field_level_counts(duplicates),
            prior_strength,
        ),
        u=_blend(
            {name: field.u for name, field in params.fields.items()},
            _field_level_counts(distinct),
            prior_strength,
        ),
        match_prior=params.match_prior,
        version=version or f"{params.version}+labels{label_count}",
    )
