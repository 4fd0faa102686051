"""Training a tenant's matching model on its own data: a new `MatchModel` version.

u (how often unrelated people agree by chance) comes from random pairs of the tenant's active
patients; m and the share of matches come from expectation-maximisation over a sample of the
pairs batch blocking produces (the same rules the batch job scores); steward decisions
(`MatchDecision`) are then blended in as labels. The engine does the statistics
(`mpi.matching.train`); this module only reads the data in bounded pieces and stores the
result with its training metrics.
"""

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.utils import timezone

from mpi.matching.compare import compare_records
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.train import LabelledPair, apply_labels, estimate_m_em, estimate_u_from_levels
from mpi.models import MatchDecision, MatchDecisionKind, MatchModel
from mpi.selectors.blocking import BLOCKING_RULES, BatchSlice, block_pairs, next_key_chunk
from mpi.selectors.models import current_match_parameters
from mpi.selectors.records import candidate_records, without_unshared_record_numbers
from mpi.services.matching import placeholder_policy
from mpi.services.models import match_model_create
from tenancy.db import tenant_cursor
from tenancy.errors import ValidationFailedError
from tenancy.principal import Principal

RANDOM_PAIRS = 20_000
CANDIDATE_PAIRS = 100_000
_RECORDS_PER_READ = 2_000
_BLOCKING_CHUNK = 5_000

_RANDOM_PATIENTS_SQL = """
SELECT id FROM registration_patient WHERE active ORDER BY md5(id::text || %s) LIMIT %s
"""


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    """How much data one training run reads, and how hard EM tries."""

    random_pairs: int = RANDOM_PAIRS
    candidate_pairs: int = CANDIDATE_PAIRS
    max_iterations: int = 200
    tolerance: float = 1e-6
    label_strength: float = 100.0
    seed: int = 1


def _levels(
    pairs: Sequence[tuple[UUID, UUID]], policy: PlaceholderPolicy
) -> Iterator[dict[str, str]]:
    """Comparison levels of the pairs whose patients are both still active."""
    return (levels for levels in _levels_keyed(pairs, policy) if levels is not None)


def _random_pairs(count: int, seed: int) -> list[tuple[UUID, UUID]]:
    """`count` pairs of distinct random active patients (a deterministic shuffle by seed)."""
    with tenant_cursor() as cursor:
        cursor.execute(_RANDOM_PATIENTS_SQL, [str(seed), 2 * count])
        ids = [row[0] for row in cursor.fetchall()]
    return [(ids[i], ids[i + 1]) for i in range(0, len(ids) - 1, 2)]


def _candidate_pairs(count: int, seed: int, policy: PlaceholderPolicy) -> list[tuple[UUID, UUID]]:
    """A uniform sample (reservoir) of up to `count` loosely blocked pairs over every rule.

    Loose (keys only, see `block_pairs`) so that the sample holds non-matches too: EM needs
    both classes to tell them apart.
    """
    sampler = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    sample: list[tuple[UUID, UUID]] = []
    seen = 0
    for index, rule in enumerate(BLOCKING_RULES):
        after = None
        while (
            chunk := next_key_chunk(
                rule,
                after=after,
                chunk_patients=_BLOCKING_CHUNK,
                batch_slice=BatchSlice(),
                policy=policy,
            )
        ) is not None:
            for pair in block_pairs(
                index,
                after=after,
                upto=chunk.upto,
                batch_slice=BatchSlice(),
                policy=policy,
                loose=True,
            ):
                seen += 1
                if len(sample) < count:
                    sample.append(pair)
                elif (slot := sampler.randrange(seen)) < count:
                    sample[slot] = pair
            after = chunk.upto
    return sample


def _labels(policy: PlaceholderPolicy) -> list[LabelledPair]:
    """Steward decisions as labelled comparison levels."""
    decisions = list(
        MatchDecision.objects.values_list("patient_low_id", "patient_high_id", "decision")
    )
    verdicts = {(low, high): decision for low, high, decision in decisions}
    pairs = list(verdicts)
    labelled = []
    for (low, high), levels in zip(pairs, _levels_keyed(pairs, policy), strict=True):
        if levels is not None:
            labelled.append(
                LabelledPair(levels, verdicts[(low, high)] == MatchDecisionKind.DUPLICATE)
            )
    return labelled


def _levels_keyed(
    pairs: Sequence[tuple[UUID, UUID]], policy: PlaceholderPolicy
) -> Iterator[dict[str, str] | None]:
    """Comparison levels of each pair (first names of both), read in pieces; None when a
    patient is no longer active."""
    for start in range(0, len(pairs), _RECORDS_PER_READ):
        piece = pairs[start : start + _RECORDS_PER_READ]
        stored = candidate_records(sorted({p for pair in piece for p in pair}), policy)
        for low, high in piece:
            left, right = stored.records.get(low), stored.records.get(high)
            yield (
                compare_records(
                    *without_unshared_record_numbers(
                        left[0], right[0], stored.record_number_systems
                    ),
                    policy=policy,
                ).level_vector()
                if left and right
                else None
            )


def match_model_train(
    *, actor: Principal | None, settings: TrainingSettings | None = None
) -> MatchModel:
    """Fit the current tenant's m, u and lambda to its data; store them as the next version.

    Starts from the current parameters (thresholds carry over). Refuses (422) a tenant with
    too few patients to pair. The new version records what it was trained on and how EM went.
    """
    settings = settings or TrainingSettings()
    policy = placeholder_policy()
    initial = current_match_parameters()
    random_levels = list(_levels(_random_pairs(settings.random_pairs, settings.seed), policy))
    candidate_levels = list(
        _levels(_candidate_pairs(settings.candidate_pairs, settings.seed, policy), policy)
    )
    if not random_levels or not candidate_levels:
        raise ValidationFailedError("Too few patients to train on.")
    fixed_u = estimate_u_from_levels(random_levels)
    fitted = estimate_m_em(
        candidate_levels,
        initial,
        max_iter=settings.max_iterations,
        tol=settings.tolerance,
        fixed_u=fixed_u,
    )
    labelled = _labels(policy)
    parameters = fitted.parameters
    if labelled:
        parameters = apply_labels(parameters, labelled, prior_strength=settings.label_strength)
    duplicates = sum(1 for pair in labelled if pair.is_duplicate)
    metrics: dict[str, Any] = {
        "started_from": initial.version,
        "iterations": fitted.iterations,
        "converged": fitted.converged,
        "log_likelihood": fitted.log_likelihood_trace[-1],
        "match_prior": fitted.parameters.match_prior,
        "random_pairs": len(random_levels),
        "candidate_pairs": len(candidate_levels),
        "labels": {"duplicate": duplicates, "not_duplicate": len(labelled) - duplicates},
        "trained_by": actor.label if actor else "system",
        "trained_at": timezone.now().isoformat(),
        "seed": settings.seed,
    }
    return match_model_create(actor=actor, parameters=parameters, training_metrics=metrics)
