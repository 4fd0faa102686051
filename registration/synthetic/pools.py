"""Frequency-weighted pools of names, streets and places, drawn from Faker once per pool seed.

Calling Faker per field per record is far too slow for a million records, so Faker is used only
to draw the *vocabulary* once; records then sample from these pools with a plain
`random.Random`. Pools are ranked and given Zipf-like weights because matching quality depends
on term frequency: a benchmark where "Smith" is as rare as "Zylstra" would overstate precision.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

from faker import Faker
from faker.providers.person.en_IN import Provider as EnInPersonProvider
from faker.providers.person.en_US import Provider as EnUsPersonProvider
from faker.providers.person.es_MX import Provider as EsMxPersonProvider
from faker.providers.person.vi_VN import Provider as ViVnPersonProvider
from faker.providers.person.zh_CN import Provider as ZhCnPersonProvider

from registration.synthetic.identifiers import STATE_FIPS

ItemT = TypeVar("ItemT")
NameTable = Collection[str] | OrderedDict[str, float]

_SURNAME_DRAWS = 4000
_GIVEN_DRAWS = 2500
_SURNAME_ZIPF_OFFSET = 10.0
_GIVEN_ZIPF_OFFSET = 8.0
_HOME_CITY_COUNT = 120
_AWAY_LOCALITY_COUNT = 80
_HOME_STATE_SHARE = 0.9
_STREET_COUNT = 2000

# Faker's es_MX, en_IN and zh_CN tables are unweighted; these published "most common" orders
# put the right names at the head of the Zipf curve (names absent from Faker's table are skipped).
_COMMON_HISPANIC_SURNAMES = (
    "Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
    "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres",
    "Díaz", "Gutiérrez", "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Moreno", "Castillo", "Romero",
    "Álvarez", "Méndez", "Chávez", "Rivera", "Juárez", "Ramos", "Domínguez", "Herrera",
)  # fmt: skip
_COMMON_HISPANIC_FEMALE = (
    "María", "Guadalupe", "Juana", "Margarita", "Verónica", "Leticia", "Rosa", "Francisca",
    "Elizabeth", "Patricia", "Alejandra", "Gabriela", "Adriana", "Silvia", "Martha", "Teresa",
)  # fmt: skip
_COMMON_HISPANIC_MALE = (
    "José", "Juan", "Francisco", "Jesús", "Antonio", "Alejandro", "Miguel", "Pedro", "Manuel",
    "Luis", "Javier", "Jorge", "Roberto", "Ricardo", "Fernando", "Eduardo", "Carlos", "Arturo",
)  # fmt: skip
_COMMON_INDIAN_SURNAMES = (
    "Singh", "Kumar", "Sharma", "Patel", "Shah", "Gupta", "Reddy", "Das", "Rao", "Mehta",
    "Iyer", "Nair", "Joshi", "Desai", "Jain", "Chopra", "Malhotra", "Kapoor", "Banerjee",
)  # fmt: skip
_COMMON_CHINESE_SURNAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
    "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo",
)  # fmt: skip

_STREET_SUFFIXES: dict[str, float] = {
    "St": 25, "Ave": 15, "Rd": 12, "Dr": 12, "Ln": 8, "Way": 6, "Ct": 6, "Blvd": 4, "Pl": 4,
    "Cir": 3, "Ter": 2, "Pkwy": 2, "Hwy": 1,
}  # fmt: skip
_STREET_WORDS = (
    "Main", "Oak", "Maple", "Pine", "Cedar", "Elm", "Park", "Lake", "Hill", "Washington",
    "Lincoln", "Jefferson", "Madison", "Franklin", "Sunset", "Highland", "Church", "Mill",
    "River", "Spring", "Walnut", "Willow", "Chestnut", "Meadow", "Forest", "Ridge", "Valley",
    "Center", "Market", "Broad", "Union", "College", "Prospect", "Railroad", "Cherry", "Birch",
)  # fmt: skip


class WeightedPool(Generic[ItemT]):
    """Items with fixed relative frequencies, sampled in O(log n) with one `rng.random()` call."""

    __slots__ = ("cumulative", "items")

    def __init__(self, items: Sequence[ItemT], weights: Sequence[float]) -> None:
        """Normalise `weights` into a cumulative table; both sequences must be equally long."""
        if not items or len(items) != len(weights):
            raise ValueError("A weighted pool needs at least one item and one weight per item")
        total = float(sum(weights))
        if total <= 0 or min(weights) < 0:
            raise ValueError("Pool weights must be non-negative with a positive sum")
        running = 0.0
        cumulative = []
        for weight in weights:
            running += weight
            cumulative.append(running / total)
        cumulative[-1] = 1.0  # rng.random() < 1.0, so the last bucket is always reachable
        self.items = tuple(items)
        self.cumulative = tuple(cumulative)

    @classmethod
    def zipf(cls, ranked_items: Sequence[ItemT], *, offset: float) -> WeightedPool[ItemT]:
        """Weight items by 1 / (rank + offset): a Zipf-Mandelbrot law with exponent 1.

        The offset flattens the head so the commonest item gets a realistic share (a few
        percent) instead of the ~1/H(n) a plain Zipf law would give it.
        """
        return cls(ranked_items, [1.0 / (rank + offset) for rank in range(len(ranked_items))])

    @classmethod
    def from_mapping(cls, weights: dict[ItemT, float]) -> WeightedPool[ItemT]:
        """Build a pool from an item -> relative weight mapping (insertion order kept)."""
        return cls(list(weights), list(weights.values()))

    def pick(self, rng: random.Random) -> ItemT:
        """Draw one item according to its weight."""
        return self.items[bisect_right(self.cumulative, rng.random())]

    def share_of(self, item: ItemT) -> float:
        """Return the probability of drawing `item`, so reports can state term frequencies."""
        share = 0.0
        previous = 0.0
        for candidate, cumulative in zip(self.items, self.cumulative, strict=True):
            if candidate == item:
                share += cumulative - previous
            previous = cumulative
        return share


class Locality(NamedTuple):
    """A city with one of its postal codes, in a US state."""

    city: str
    state: str
    postal_code: str


@dataclass(frozen=True, slots=True)
class CulturePool:
    """Naming conventions and vocabularies of one cultural group of the synthetic population."""

    code: str
    surnames: WeightedPool[str]
    given_female: WeightedPool[str]
    given_male: WeightedPool[str]
    middle_female: WeightedPool[str]
    middle_male: WeightedPool[str]
    middle_name_rate: float
    compound_surname_rate: float
    hyphenated_compound_share: float
    maiden_name_rate: float
    languages: WeightedPool[str]


@dataclass(frozen=True, slots=True)
class PopulationPools:
    """Everything a person factory samples from: cultures, streets and localities."""

    cultures: WeightedPool[CulturePool]
    streets: WeightedPool[str]
    localities: WeightedPool[Locality]
    home_state: str


def _name_pool(
    fake: Faker,
    table: NameTable,
    *,
    draws: int,
    offset: float,
    common_first: Sequence[str] = (),
) -> WeightedPool[str]:
    """Rank a Faker name table by sampled frequency (known common names first), Zipf-weighted."""
    drawn = fake.random_elements(elements=table, length=draws, use_weighting=True)
    ranked = [name for name, _count in Counter(drawn).most_common()]
    known = set(table)
    head = [name for name in common_first if name in known]
    return WeightedPool.zipf(_unique(head + ranked), offset=offset)


def _unique(names: Iterable[str], *, excluded: str = "") -> list[str]:
    """Return `names` without repeats (first occurrence wins) and without `excluded`."""
    return [name for name in dict.fromkeys(names) if name != excluded]


def _american(fake: Faker) -> CulturePool:
    """Anglo-American naming: weighted US census tables, middle names common."""
    female = _name_pool(
        fake, EnUsPersonProvider.first_names_female, draws=_GIVEN_DRAWS, offset=_GIVEN_ZIPF_OFFSET
    )
    male = _name_pool(
        fake, EnUsPersonProvider.first_names_male, draws=_GIVEN_DRAWS, offset=_GIVEN_ZIPF_OFFSET
    )
    return CulturePool(
        code="en_US",
        surnames=_name_pool(
            fake, EnUsPersonProvider.last_names, draws=_SURNAME_DRAWS, offset=_SURNAME_ZIPF_OFFSET
        ),
        given_female=female,
        given_male=male,
        middle_female=female,
        middle_male=male,
        middle_name_rate=0.65,
        compound_surname_rate=0.01,
        hyphenated_compound_share=1.0,
        maiden_name_rate=0.6,
        languages=WeightedPool.from_mapping({"en": 0.95, "es": 0.03, "fr": 0.01, "de": 0.01}),
    )


def _hispanic(fake: Faker) -> CulturePool:
    """Mexican naming: two surnames (paternal, maternal) common, women usually keep theirs."""
    female = _name_pool(
        fake,
        EsMxPersonProvider.first_names_female,
        draws=_GIVEN_DRAWS,
        offset=_GIVEN_ZIPF_OFFSET,
        common_first=_COMMON_HISPANIC_FEMALE,
    )
    male = _name_pool(
        fake,
        EsMxPersonProvider.first_names_male,
        draws=_GIVEN_DRAWS,
        offset=_GIVEN_ZIPF_OFFSET,
        common_first=_COMMON_HISPANIC_MALE,
    )
    return CulturePool(
        code="es_MX",
        surnames=_name_pool(
            fake,
            EsMxPersonProvider.last_names,
            draws=_SURNAME_DRAWS,
            offset=_SURNAME_ZIPF_OFFSET,
            common_first=_COMMON_HISPANIC_SURNAMES,
        ),
        given_female=female,
        given_male=male,
        middle_female=female,
        middle_male=male,
        middle_name_rate=0.3,
        compound_surname_rate=0.45,
        hyphenated_compound_share=0.25,
        maiden_name_rate=0.15,
        languages=WeightedPool.from_mapping({"es": 0.55, "en": 0.45}),
    )


def _vietnamese(fake: Faker) -> CulturePool:
    """Vietnamese naming: a handful of very common surnames (Nguyễn ~40%), gendered middles."""
    unisex = ViVnPersonProvider.first_names_unisex
    middles = ViVnPersonProvider.middle_names
    return CulturePool(
        code="vi_VN",
        surnames=WeightedPool.zipf(list(ViVnPersonProvider.last_names), offset=0.6),
        given_female=_name_pool(
            fake, ViVnPersonProvider.first_names_female + unisex, draws=400, offset=2.0
        ),
        given_male=_name_pool(
            fake, ViVnPersonProvider.first_names_male + unisex, draws=400, offset=2.0
        ),
        middle_female=WeightedPool.zipf(_unique(middles, excluded="Văn"), offset=0.5),
        middle_male=WeightedPool.zipf(_unique(middles, excluded="Thị"), offset=0.5),
        middle_name_rate=0.8,
        compound_surname_rate=0.0,
        hyphenated_compound_share=0.0,
        maiden_name_rate=0.05,
        languages=WeightedPool.from_mapping({"vi": 0.55, "en": 0.45}),
    )


def _chinese(fake: Faker) -> CulturePool:
    """Chinese naming in pinyin: concentrated surnames, rarely a middle name."""
    given = _name_pool(fake, ZhCnPersonProvider.first_romanized_names, draws=600, offset=3.0)
    return CulturePool(
        code="zh_CN",
        surnames=_name_pool(
            fake,
            ZhCnPersonProvider.last_romanized_names,
            draws=1500,
            offset=3.0,
            common_first=_COMMON_CHINESE_SURNAMES,
        ),
        given_female=given,
        given_male=given,
        middle_female=given,
        middle_male=given,
        middle_name_rate=0.05,
        compound_surname_rate=0.0,
        hyphenated_compound_share=0.0,
        maiden_name_rate=0.05,
        languages=WeightedPool.from_mapping({"zh": 0.55, "en": 0.45}),
    )


def _south_asian(fake: Faker) -> CulturePool:
    """Indian naming in Latin script."""
    female = _name_pool(
        fake, EnInPersonProvider.first_names_female, draws=_GIVEN_DRAWS, offset=_GIVEN_ZIPF_OFFSET
    )
    male = _name_pool(
        fake, EnInPersonProvider.first_names_male, draws=_GIVEN_DRAWS, offset=_GIVEN_ZIPF_OFFSET
    )
    return CulturePool(
        code="en_IN",
        surnames=_name_pool(
            fake,
            EnInPersonProvider.last_names,
            draws=_SURNAME_DRAWS,
            offset=_SURNAME_ZIPF_OFFSET,
            common_first=_COMMON_INDIAN_SURNAMES,
        ),
        given_female=female,
        given_male=male,
        middle_female=female,
        middle_male=male,
        middle_name_rate=0.2,
        compound_surname_rate=0.0,
        hyphenated_compound_share=0.0,
        maiden_name_rate=0.4,
        languages=WeightedPool.from_mapping({"en": 0.7, "hi": 0.2, "gu": 0.1}),
    )


def _ordinal(number: int) -> str:
    """Spell a number the way numbered streets are written (1st, 2nd, 11th, 23rd)."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def _streets(
    rng: random.Random, surnames: Sequence[str], given: Sequence[str]
) -> WeightedPool[str]:
    """Compose street names the way US streets are named (people, trees, numbers, landmarks)."""
    suffixes = WeightedPool.from_mapping(_STREET_SUFFIXES)
    streets: dict[str, None] = {}
    while len(streets) < _STREET_COUNT:
        kind = rng.random()
        if kind < 0.4:
            base = rng.choice(surnames[:400])
        elif kind < 0.65:
            base = rng.choice(_STREET_WORDS)
        elif kind < 0.85:
            base = _ordinal(rng.randint(1, 120))
        else:
            base = rng.choice(given[:200])
        streets[f"{base} {suffixes.pick(rng)}"] = None
    return WeightedPool.zipf(list(streets), offset=40.0)


def _localities(fake: Faker, rng: random.Random, home_state: str) -> WeightedPool[Locality]:
    """Draw a catchment area: Zipf-sized home-state cities plus a few out-of-state ones."""
    home_cities = _unique(fake.city() for _ in range(_HOME_CITY_COUNT * 2))[:_HOME_CITY_COUNT]
    localities: list[Locality] = []
    weights: list[float] = []
    home_weight_total = sum(1.0 / (rank + 2.0) for rank in range(len(home_cities)))
    for rank, city in enumerate(home_cities):
        city_weight = _HOME_STATE_SHARE / (rank + 2.0) / home_weight_total
        postal_codes = _unique(
            fake.zipcode_in_state(home_state) for _ in range(1 + 12 // (rank + 1))
        )
        for postal_code in postal_codes:
            localities.append(Locality(city, home_state, postal_code))
            weights.append(city_weight / len(postal_codes))
    away_states = [state for state in STATE_FIPS if state != home_state]
    for _ in range(_AWAY_LOCALITY_COUNT):
        state = rng.choice(away_states)
        localities.append(Locality(fake.city(), state, fake.zipcode_in_state(state)))
        weights.append((1.0 - _HOME_STATE_SHARE) / _AWAY_LOCALITY_COUNT)
    return WeightedPool(localities, weights)


@lru_cache(maxsize=8)
def build_pools(pool_seed: int, home_state: str) -> PopulationPools:
    """Draw (and memoise) every vocabulary the generator needs for a pool seed and home state.

    Pools depend only on `pool_seed`, not on the record seed, so the name frequency
    distribution of the catchment area stays the same across runs while the seed picks people.
    Reproducible for a given Faker version (Faker's tables change between releases).
    """
    if home_state not in STATE_FIPS:
        raise ValueError(f"Unknown US state {home_state!r}")
    fake = Faker("en_US")  # one instance: only locale-independent sampling methods are used
    fake.seed_instance(pool_seed)
    rng = random.Random(pool_seed)  # noqa: S311 - synthetic data needs reproducibility, not secrecy
    american = _american(fake)
    cultures = WeightedPool(
        [american, _hispanic(fake), _vietnamese(fake), _chinese(fake), _south_asian(fake)],
        [0.72, 0.2, 0.025, 0.025, 0.03],
    )
    return PopulationPools(
        cultures=cultures,
        streets=_streets(rng, american.surnames.items, american.given_male.items),
        localities=_localities(fake, rng, home_state),
        home_state=home_state,
    )
