"""The streaming population generator: originals interleaved with their later duplicates.

Duplicates are scheduled at random later positions in a bounded heap of pending duplicates, so
they never sit next to their original (as in a real registration log, where the second visit
comes weeks or years later) while memory stays bounded however many records are requested.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime

from registration.synthetic.corruptions import make_duplicate
from registration.synthetic.identifiers import STATE_FIPS, IdentifierFactory, tenant_number
from registration.synthetic.people import PersonFactory
from registration.synthetic.pools import PopulationPools, WeightedPool, build_pools
from registration.synthetic.records import SyntheticPerson

MAX_DUPLICATE_RATE = 0.5
"""Highest supported share of duplicate records (each person gets at most three duplicates)."""

MIN_DUPLICATE_GAP = 2
"""A duplicate comes at least this many positions after its original (never adjacent)."""

MAX_DUPLICATE_DELAY = 50_000
"""A duplicate is due at most this many positions after its original."""

MAX_PENDING_DUPLICATES = 20_000
"""Hard cap on scheduled-but-unemitted duplicates, the generator's only growing state."""

_DUPLICATES_PER_PERSON = WeightedPool([1, 2, 3], [0.7, 0.22, 0.08])
_MEAN_DUPLICATES_PER_PERSON = 0.7 * 1 + 0.22 * 2 + 0.08 * 3


def default_home_state(tenant_label: str) -> str:
    """Pick the US state a tenant's catchment area lies in, stably from its label."""
    states = sorted(STATE_FIPS)
    return states[tenant_number(tenant_label) % len(states)]


def generate(
    n: int,
    *,
    seed: int,
    duplicate_rate: float = 0.1,
    tenant_label: str = "demo",
    today: date | None = None,
    pool_seed: int = 0,
    home_state: str | None = None,
) -> Iterator[SyntheticPerson]:
    """Yield `n` synthetic registration records, about `duplicate_rate` of them duplicates.

    Deterministic for equal arguments (and Faker version): `seed` drives the people drawn,
    `pool_seed` the name/street/city vocabularies, `today` the ages (defaults to today's UTC
    date, so pass it explicitly for reproducible output), `tenant_label` the MRN systems and,
    unless `home_state` is given, the state most patients live in.

    Each duplicate repeats a person emitted earlier (same `person_id`, `duplicate_of` set to
    the original's `record_id`) with 1-3 corruptions; a person gets 1-3 duplicates. Arguments
    are validated immediately; records are produced lazily, in bounded memory.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= duplicate_rate <= MAX_DUPLICATE_RATE:
        raise ValueError(f"duplicate_rate must be within [0, {MAX_DUPLICATE_RATE}]")
    state = home_state if home_state is not None else default_home_state(tenant_label)
    pools = build_pools(pool_seed, state)
    reference_day = today if today is not None else datetime.now(tz=UTC).date()
    return _records(
        n,
        seed=seed,
        duplicate_rate=duplicate_rate,
        tenant_label=tenant_label,
        today=reference_day,
        pools=pools,
    )


def _records(
    n: int,
    *,
    seed: int,
    duplicate_rate: float,
    tenant_label: str,
    today: date,
    pools: PopulationPools,
) -> Iterator[SyntheticPerson]:
    """Produce the stream `generate` describes (arguments already validated)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data needs reproducibility, not secrecy
    factory = PersonFactory(
        rng=rng, pools=pools, identifiers=IdentifierFactory(tenant_label, rng), today=today
    )
    # Originals are chosen for duplication with a probability that makes duplicates
    # `duplicate_rate` of all records: dups / originals = rate / (1 - rate).
    selection_probability = duplicate_rate / ((1.0 - duplicate_rate) * _MEAN_DUPLICATES_PER_PERSON)
    longest_delay = max(MIN_DUPLICATE_GAP + 1, min(MAX_DUPLICATE_DELAY, n // 2))
    pending: list[tuple[int, int, SyntheticPerson]] = []  # (due position, tie-breaker, original)
    scheduled = 0
    for position in range(n):
        if pending and pending[0][0] <= position:
            yield make_duplicate(heapq.heappop(pending)[2], factory, rng)
            continue
        person = factory.new_person()
        yield person
        room = n - 1 - position
        if (
            room >= MIN_DUPLICATE_GAP
            and rng.random() < selection_probability
            and len(pending) < MAX_PENDING_DUPLICATES
        ):
            # Log-uniform delays: some people come back within days, others years later.
            log_span = math.log(min(longest_delay, room + 1) / MIN_DUPLICATE_GAP)
            for _ in range(_DUPLICATES_PER_PERSON.pick(rng)):
                delay = int(MIN_DUPLICATE_GAP * math.exp(log_span * rng.random()))
                heapq.heappush(pending, (position + delay, scheduled, person))
                scheduled += 1
