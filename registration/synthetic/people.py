"""Fast construction of plausible original (uncorrupted) synthetic people.

This is the generator's hot loop, run once per record (a million times for the largest seeds), so
every field is a pool lookup or a few integer operations on one shared `random.Random`.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from functools import lru_cache

from registration.synthetic.identifiers import Identifier, IdentifierFactory
from registration.synthetic.pools import CulturePool, Locality, PopulationPools, WeightedPool
from registration.synthetic.records import SyntheticPerson

MAX_AGE = 105
"""Oldest age (in completed years) a synthetic person may have."""

ADULT_AGE = 18
DRIVING_AGE = 16

SSN_RATE = 0.7
DRIVERS_LICENSE_RATE = 0.38  # of people aged 16+, which is ~30% of everyone
EMAIL_RATE_ADULT = 0.6
EMAIL_RATE_MINOR = 0.05
APARTMENT_RATE = 0.15
MISSING_BIRTH_DATE_RATE = 0.003

# Share of the US population per five-year age band (ACS-like pyramid), 100-105 last.
_AGE_BAND_WEIGHTS = (
    6.0, 6.2, 6.4, 6.5, 6.5, 6.9, 6.9, 6.7, 6.3, 6.0, 6.3, 6.4, 6.3, 5.4, 4.4, 3.0, 1.9, 1.2,
    0.55, 0.15, 0.03,
)  # fmt: skip
_GENDERS = WeightedPool(["female", "male", "other", "unknown"], [0.505, 0.485, 0.005, 0.005])
_FACILITY_SHARES = WeightedPool([0, 1, 2], [0.6, 0.25, 0.15])
_PHONE_COUNTS = WeightedPool([0, 1, 2], [0.05, 0.65, 0.3])
_MARITAL_BY_AGE: tuple[tuple[int, WeightedPool[str]], ...] = (
    (ADULT_AGE, WeightedPool(["S"], [1.0])),
    (30, WeightedPool.from_mapping({"S": 0.69, "M": 0.25, "D": 0.03, "T": 0.02, "UNK": 0.01})),
    (
        50,
        WeightedPool.from_mapping(
            {"M": 0.57, "S": 0.22, "D": 0.13, "L": 0.02, "T": 0.03, "W": 0.01, "UNK": 0.02}
        ),
    ),
    (
        70,
        WeightedPool.from_mapping(
            {"M": 0.6, "D": 0.16, "W": 0.08, "S": 0.1, "L": 0.02, "U": 0.02, "UNK": 0.02}
        ),
    ),
)
_OLDEST_MARITAL_STATUSES = WeightedPool.from_mapping(
    {"M": 0.45, "W": 0.35, "D": 0.1, "S": 0.06, "U": 0.02, "UNK": 0.02}
)
_AREA_CODES = tuple(
    code
    for code in range(201, 990)
    if code % 100 != 11 and (code // 10) % 10 != 9  # N11 service codes and N9X are not areas
)
_EVER_MARRIED = frozenset({"M", "W", "D", "L"})
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")  # RFC 2606: never deliverable
_UNFOLDABLE = str.maketrans({"Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l"})


def years_before(day: date, years: int) -> date:
    """Return the same calendar day `years` earlier (Feb 29 falls back to Feb 28)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birth_date: date, day: date) -> int:
    """Return completed years of age on `day` for someone born on `birth_date`."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def fold_accents(text: str) -> str:
    """Strip diacritics ("José" -> "Jose", "Nguyễn" -> "Nguyen"), as ASCII-only systems do."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNFOLDABLE))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=65_536)
def email_token(name: str) -> str:
    """Reduce a name to the lowercase ASCII letters and digits an e-mail local part uses.

    Memoised: names come from finite pools, and folding accents is the costliest step of
    building an address.
    """
    return "".join(filter(str.isalnum, fold_accents(name).lower()))


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version nibble and variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def _format_uuid4(bits: int) -> str:
    """Format 128 random bits as a version-4 UUID string."""
    text = f"{(bits & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def uuid4_from(rng: random.Random) -> str:
    """Return a version-4 UUID string drawn from `rng`, so ids are reproducible per seed.

    Same result as `str(uuid.UUID(int=rng.getrandbits(128), version=4))`, formatted directly
    because the generator needs two per record.
    """
    return _format_uuid4(rng.getrandbits(128))


def two_uuid4s_from(rng: random.Random) -> tuple[str, str]:
    """Return two version-4 UUID strings from one 256-bit draw (a record's and person's id)."""
    bits = rng.getrandbits(256)
    return _format_uuid4(bits >> 128), _format_uuid4(bits & ((1 << 128) - 1))


def is_compound_surname(family: str) -> bool:
    """Tell whether `family` is two capitalised surnames joined by one space or hyphen."""
    parts = family.replace("-", " ").split(" ")
    return len(parts) == 2 and all(part[:1].isupper() for part in parts)


class PersonFactory:
    """Draws new, internally consistent people (and fresh addresses/phones for duplicates)."""

    __slots__ = (
        "_adult_born_by",
        "_age_bands",
        "_driver_born_by",
        "_identifiers",
        "_marital_by_birth",
        "_pools",
        "_rng",
        "earliest_birth_date",
        "today",
    )

    def __init__(
        self,
        *,
        rng: random.Random,
        pools: PopulationPools,
        identifiers: IdentifierFactory,
        today: date,
    ) -> None:
        """Precompute the birth-date range of each age band relative to `today`."""
        self._rng = rng
        self._pools = pools
        self._identifiers = identifiers
        self.today = today
        self.earliest_birth_date = years_before(today, MAX_AGE + 1) + timedelta(days=1)
        bands = []
        last_band = len(_AGE_BAND_WEIGHTS) - 1
        for band in range(len(_AGE_BAND_WEIGHTS)):
            youngest = 5 * band
            oldest_exclusive = MAX_AGE + 1 if band == last_band else youngest + 5
            latest = years_before(today, youngest).toordinal()
            earliest = (years_before(today, oldest_exclusive) + timedelta(days=1)).toordinal()
            bands.append((earliest, latest))
        self._age_bands = WeightedPool(bands, _AGE_BAND_WEIGHTS)
        # Age thresholds as "born on or before" ordinals, so the hot loop compares integers.
        self._adult_born_by = years_before(today, ADULT_AGE).toordinal()
        self._driver_born_by = years_before(today, DRIVING_AGE).toordinal()
        self._marital_by_birth = tuple(
            (years_before(today, age_limit).toordinal(), statuses)
            for age_limit, statuses in _MARITAL_BY_AGE
        )

    @property
    def identifiers(self) -> IdentifierFactory:
        """The identifier factory shared with duplicate corruption (MRNs stay unique)."""
        return self._identifiers

    def is_plausible_birth_date(self, birth_date: date) -> bool:
        """Tell whether `birth_date` is not in the future and gives an age of 0-105."""
        return self.earliest_birth_date <= birth_date <= self.today

    def new_phone(self) -> str:
        """Return a NANP-shaped number in the 555 exchange.

        555 is almost entirely unassigned, so demo data does not dial real subscribers, yet the
        line part keeps numbers nearly unique per person as real phone numbers are.
        """
        random_float = self._rng.random
        area_code = _AREA_CODES[int(random_float() * len(_AREA_CODES))]
        return f"{area_code}-555-{int(random_float() * 10_000):04d}"

    def new_address(self) -> tuple[str, Locality]:
        """Return a street line and a locality drawn from the catchment area."""
        rng = self._rng
        line = f"{int(10 ** (0.3 + 4.4 * rng.random()))} {self._pools.streets.pick(rng)}"
        if rng.random() < APARTMENT_RATE:
            line = f"{line} Apt {rng.randint(1, 40)}"
        return line, self._pools.localities.pick(rng)

    def new_surname(self) -> str:
        """Return a single surname from a random culture (e.g. a spouse's, for a name change)."""
        return self._pools.cultures.pick(self._rng).surnames.pick(self._rng)

    def _family_name(self, culture: CulturePool) -> str:
        """Draw a surname, sometimes a Hispanic-style compound ("García López"/"García-López")."""
        rng = self._rng
        family = culture.surnames.pick(rng)
        if rng.random() < culture.compound_surname_rate and " " not in family:
            maternal = culture.surnames.pick(rng)
            if maternal != family and " " not in maternal:
                joiner = "-" if rng.random() < culture.hyphenated_compound_share else " "
                family = f"{family}{joiner}{maternal}"
        return family

    def _email(self, given: str, family: str) -> str:
        """Derive a plausible personal e-mail address from the person's names."""
        random_float = self._rng.random
        first = email_token(given)
        last = email_token(family)
        style = int(random_float() * 4)
        if style == 0:
            local = f"{first}.{last}"
        elif style == 1:
            local = f"{first[:1]}{last}"
        elif style == 2:
            local = f"{first}{last}{1 + int(random_float() * 99)}"
        else:
            local = f"{last}.{first}{10 + int(random_float() * 90)}"
        return f"{local}@{_EMAIL_DOMAINS[int(random_float() * len(_EMAIL_DOMAINS))]}"

    def _given_and_middle(self, culture: CulturePool, gender: str) -> tuple[str, str | None]:
        """Draw a given name and an optional middle name fitting the gender and culture."""
        rng = self._rng
        if gender == "female" or (gender != "male" and rng.random() < 0.5):
            given_pool, middle_pool = culture.given_female, culture.middle_female
        else:
            given_pool, middle_pool = culture.given_male, culture.middle_male
        given = given_pool.pick(rng)
        if rng.random() >= culture.middle_name_rate:
            return given, None
        middle = middle_pool.pick(rng)
        return given, (None if middle == given else middle)

    def _marital_status(self, birth_ordinal: int) -> str:
        """Draw a marital status typical of the age implied by `birth_ordinal`."""
        # Younger than a band's age limit <=> born after the limit's "born by" day.
        for born_by, statuses in self._marital_by_birth:
            if birth_ordinal > born_by:
                return statuses.pick(self._rng)
        return _OLDEST_MARITAL_STATUSES.pick(self._rng)

    def _new_identifiers(self, birth_ordinal: int, state: str) -> tuple[Identifier, ...]:
        """Mint an MRN, and for some people an SSN and (if old enough) a driver's licence."""
        rng = self._rng
        identifiers = self._identifiers
        mrn = identifiers.new_mrn(_FACILITY_SHARES.pick(rng))
        has_ssn = rng.random() < SSN_RATE
        if birth_ordinal <= self._driver_born_by and rng.random() < DRIVERS_LICENSE_RATE:
            licence = identifiers.new_drivers_license(state)
            return (mrn, identifiers.new_ssn(), licence) if has_ssn else (mrn, licence)
        return (mrn, identifiers.new_ssn()) if has_ssn else (mrn,)

    def _new_phones(self) -> tuple[str, ...]:
        """Draw zero to two phone numbers."""
        phone_count = _PHONE_COUNTS.pick(self._rng)
        if phone_count == 0:
            return ()
        if phone_count == 1:
            return (self.new_phone(),)
        return (self.new_phone(), self.new_phone())

    def new_person(self) -> SyntheticPerson:
        """Draw one new, uncorrupted person with a fresh MRN."""
        rng = self._rng
        random_float = rng.random
        culture = self._pools.cultures.pick(rng)
        gender = _GENDERS.pick(rng)
        given, middle = self._given_and_middle(culture, gender)
        family = self._family_name(culture)

        earliest, latest = self._age_bands.pick(rng)
        birth_ordinal = earliest + int(random_float() * (latest - earliest + 1))
        marital_status = self._marital_status(birth_ordinal)
        maiden_family = None
        if (
            gender == "female"
            and marital_status in _EVER_MARRIED
            and random_float() < culture.maiden_name_rate
        ):
            maiden_family = culture.surnames.pick(rng)
            if maiden_family == family:
                maiden_family = None

        line, locality = self.new_address()
        email_rate = EMAIL_RATE_ADULT if birth_ordinal <= self._adult_born_by else EMAIL_RATE_MINOR
        email = self._email(given, family) if random_float() < email_rate else None

        # Positional arguments, in field order: keyword calls of this 20-field frozen dataclass
        # cost about 2 microseconds more per record.
        record_id, person_id = two_uuid4s_from(rng)
        return SyntheticPerson(
            record_id,
            person_id,
            family,
            given,
            middle,
            maiden_family,
            gender,
            None if random_float() < MISSING_BIRTH_DATE_RATE else date.fromordinal(birth_ordinal),
            self._new_identifiers(birth_ordinal, locality.state),
            self._new_phones(),
            email,
            line,
            locality.city,
            locality.state,
            locality.postal_code,
            "US",  # country
            culture.languages.pick(rng),
            marital_status,
        )
