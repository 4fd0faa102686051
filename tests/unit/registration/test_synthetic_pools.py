"""Weighted vocabularies: sampling correctness and realistic frequency skew."""

import random
from collections import Counter

import pytest

from registration.synthetic.pools import WeightedPool, _ordinal, build_pools


def seeded(seed):
    """A reproducible rng for test data (not for secrets)."""
    return random.Random(seed)  # noqa: S311 - deterministic synthetic test data


class _AlmostOne(random.Random):
    """An rng whose `random()` returns the largest float below 1.0."""

    def random(self):
        return 1.0 - 2**-53


def test_pick_follows_the_weights():
    pool = WeightedPool(["a", "b", "c"], [1, 2, 7])
    rng = seeded(5)
    counts = Counter(pool.pick(rng) for _ in range(20_000))
    assert counts["c"] / 20_000 == pytest.approx(0.7, abs=0.02)
    assert counts["a"] / 20_000 == pytest.approx(0.1, abs=0.02)


def test_last_item_is_reachable_and_never_overflows():
    pool = WeightedPool(["a", "b"], [1e-12, 1.0])
    assert pool.pick(_AlmostOne()) == "b"


@pytest.mark.parametrize(
    ("items", "weights"),
    [([], []), (["a"], [1, 2]), (["a", "b"], [0, 0]), (["a", "b"], [2, -1])],
)
def test_invalid_pools_are_rejected(items, weights):
    with pytest.raises(ValueError, match="weight"):
        WeightedPool(items, weights)


def test_share_of_sums_repeated_items_and_is_zero_for_absent_ones():
    pool = WeightedPool(["a", "b", "a"], [1, 2, 1])
    assert pool.share_of("a") == pytest.approx(0.5)
    assert pool.share_of("z") == 0.0


def test_zipf_weights_decrease_with_rank():
    pool = WeightedPool.zipf(["first", "second", "third"], offset=1.0)
    shares = [pool.share_of(name) for name in pool.items]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] / shares[1] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("number", "spelled"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (102, "102nd"), (111, "111th")],
)  # fmt: skip
def test_numbered_streets_are_spelled_like_addresses(number, spelled):
    assert _ordinal(number) == spelled


def test_pools_are_memoised_and_reproducible():
    assert build_pools(0, "CA") is build_pools(0, "CA")
    first = build_pools(0, "CA").cultures.items[1].surnames.items
    build_pools.cache_clear()
    assert build_pools(0, "CA").cultures.items[1].surnames.items == first


def test_unknown_home_state_is_rejected():
    with pytest.raises(ValueError, match="Unknown US state"):
        build_pools(0, "ZZ")


def test_surname_frequencies_are_skewed_like_real_populations():
    pools = build_pools(0, "CA")
    american, hispanic, vietnamese, chinese, _indian = pools.cultures.items
    assert american.surnames.items[0] == "Smith"
    assert 0.01 < american.surnames.share_of("Smith") < 0.05
    median_name = american.surnames.items[len(american.surnames.items) // 2]
    assert american.surnames.share_of("Smith") > 20 * american.surnames.share_of(median_name)
    assert hispanic.surnames.items[:3] == ("Hernández", "García", "Martínez")
    assert vietnamese.surnames.share_of("Nguyễn") > 0.3
    assert chinese.surnames.items[0] == "Wang"


def test_catchment_area_is_mostly_the_home_state():
    localities = build_pools(0, "TX").localities
    home_share = sum(
        localities.share_of(locality)
        for locality in set(localities.items)
        if locality.state == "TX"
    )
    assert home_share == pytest.approx(0.9, abs=0.01)
    assert all(len(locality.postal_code) == 5 for locality in localities.items)
