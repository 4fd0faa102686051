"""Turning a clean original record into a realistic duplicate registration.

Each corruption mimics a way the same patient ends up registered twice: a clerk's typo, a
nickname, a date typed day-first, a name change at marriage, a move, a visit to another
facility of the same tenant. Every duplicate records the corruption codes applied to it so a
matching benchmark can break recall down by cause.

At most one corruption touches each field group (given name, family name, birth date, ...),
so each code's effect can be checked against the original in isolation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from operator import itemgetter

from registration.synthetic.identifiers import MRN_TYPE, SSN_SYSTEM, Identifier, ssn_is_valid
from registration.synthetic.nicknames import NICKNAMES
from registration.synthetic.people import (
    ADULT_AGE,
    PersonFactory,
    age_on,
    fold_accents,
    is_compound_surname,
    uuid4_from,
)
from registration.synthetic.pools import WeightedPool
from registration.synthetic.records import SyntheticPerson

TYPO_FAMILY = "typo_family"
TYPO_GIVEN = "typo_given"
NICKNAME = "nickname"
BIRTH_DAY_MONTH_SWAP = "birth_day_month_swap"
BIRTH_DIGIT_OFF = "birth_digit_off"
MISSING_BIRTH_DATE = "missing_birth_date"
MISSING_PHONE = "missing_phone"
MISSING_SSN = "missing_ssn"
MISSING_EMAIL = "missing_email"
MAIDEN_NAME = "maiden_name"
MARRIED_NAME = "married_name"
GIVEN_FAMILY_SWAP = "given_family_swap"
OTHER_FACILITY_MRN = "other_facility_mrn"
NEW_PHONE = "new_phone"
MOVED_ADDRESS = "moved_address"
ACCENTS_STRIPPED = "accents_stripped"
CASE_CHANGED = "case_changed"
COMPOUND_SEPARATOR = "compound_separator"
COMPOUND_TRUNCATED = "compound_truncated"
SSN_TYPO = "ssn_typo"

_KEYBOARD_NEIGHBOURS = {
    "q": "wa", "w": "qeas", "e": "wrsd", "r": "etdf", "t": "ryfg", "y": "tugh", "u": "yihj",
    "i": "uojk", "o": "ipkl", "p": "ol", "a": "qwsz", "s": "awedxz", "d": "serfcx",
    "f": "drtgvc", "g": "ftyhbv", "h": "gyujnb", "j": "huikmn", "k": "jiolm", "l": "kop",
    "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}  # fmt: skip
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_SSN_DIGIT_POSITIONS = (0, 1, 2, 4, 5, 7, 8, 9, 10)  # NNN-NN-NNNN without the hyphens
_SSN_TYPO_ATTEMPTS = 100
_CORRUPTION_COUNTS = WeightedPool([1, 2, 3], [0.55, 0.3, 0.15])


@dataclass(slots=True)
class DuplicateDraft:
    """A mutable copy of an original record while corruptions are applied to it."""

    family: str
    given: str
    middle: str | None
    maiden_family: str | None
    birth_date: date | None
    identifiers: list[Identifier]
    phones: tuple[str, ...]
    email: str | None
    line: str
    city: str
    state: str
    postal_code: str
    marital_status: str


@dataclass(frozen=True, slots=True)
class Corruption:
    """One way a duplicate differs from its original; `apply` returns False if inapplicable."""

    code: str
    field_groups: frozenset[str]
    weight: float
    apply: Callable[[DuplicateDraft, SyntheticPerson, random.Random, PersonFactory], bool]


def typo(text: str, rng: random.Random) -> str:
    """Return `text` with one keyboard-style edit (insert, delete, substitute or transpose).

    The first character is kept: clerks rarely mistype the initial, and keeping it preserves
    the capital letter. Requires at least two characters; the result always differs (one
    Damerau-Levenshtein edit away).
    """
    length = len(text)
    operation = rng.choice(
        ("substitute", "insert", "delete", "transpose") if length > 2 else ("substitute", "insert")
    )
    if operation == "transpose":
        position = rng.randrange(1, length - 1)
        if text[position] != text[position + 1]:
            return text[:position] + text[position + 1] + text[position] + text[position + 2 :]
        operation = "substitute"
    if operation == "delete":
        position = rng.randrange(1, length)
        return text[:position] + text[position + 1 :]
    if operation == "insert":
        position = rng.randrange(1, length + 1)
        previous = text[position - 1].lower()
        inserted = rng.choice(previous + _KEYBOARD_NEIGHBOURS.get(previous, _LETTERS))
        return text[:position] + inserted + text[position:]
    position = rng.randrange(1, length)
    original = text[position]
    choices = [
        char
        for char in _KEYBOARD_NEIGHBOURS.get(original.lower(), _LETTERS)
        if char != original.lower()
    ]
    replacement = rng.choice(choices)
    if original.isupper():
        replacement = replacement.upper()
    return text[:position] + replacement + text[position + 1 :]


def _typo_family(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, _factory: PersonFactory
) -> bool:
    """A clerk mistypes the family name."""
    if len(draft.family) < 2:
        return False
    draft.family = typo(draft.family, rng)
    return True


def _typo_given(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, _factory: PersonFactory
) -> bool:
    """A clerk mistypes the given name."""
    if len(draft.given) < 2:
        return False
    draft.given = typo(draft.given, rng)
    return True


def _nickname(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, _factory: PersonFactory
) -> bool:
    """The patient gives a nickname (Bill for William, Pepe for José)."""
    nicknames = NICKNAMES.get(draft.given)
    if nicknames is None:
        return False
    draft.given = rng.choice(nicknames)
    return True


def _birth_day_month_swap(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, factory: PersonFactory
) -> bool:
    """A date read or typed day-first (04/07 vs 07/04); only possible when the day is <= 12."""
    birth = draft.birth_date
    if birth is None or birth.day > 12 or birth.day == birth.month:
        return False
    swapped = date(birth.year, birth.day, birth.month)
    if not factory.is_plausible_birth_date(swapped):
        return False
    draft.birth_date = swapped
    return True


def _one_digit_variants(birth: date) -> list[date]:
    """Dates whose YYYYMMDD differs from `birth` in exactly one digit of the year or the day."""
    variants = []
    for digit_position, step in ((2, 1), (3, 1), (2, -1), (3, -1)):
        year_digits = list(f"{birth.year:04d}")
        year_digits[digit_position] = str((int(year_digits[digit_position]) + step) % 10)
        try:
            variants.append(birth.replace(year=int("".join(year_digits))))
        except ValueError:
            continue  # Feb 29 in a non-leap year
    day_text = f"{birth.day:02d}"
    for digit_position in (0, 1):
        for digit in "0123456789":
            if digit == day_text[digit_position]:
                continue
            day = int(day_text[:digit_position] + digit + day_text[digit_position + 1 :])
            try:
                variants.append(birth.replace(day=day))
            except ValueError:
                continue  # day 0 or past the end of the month
    return variants


def _birth_digit_off(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, factory: PersonFactory
) -> bool:
    """One digit of the birth year or day is mistyped (1985 -> 1986, 14 -> 17)."""
    birth = draft.birth_date
    if birth is None:
        return False
    candidates = [day for day in _one_digit_variants(birth) if factory.is_plausible_birth_date(day)]
    if not candidates:
        return False
    draft.birth_date = rng.choice(candidates)
    return True


def _missing_birth_date(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """The birth date is not captured (e.g. an unconscious emergency patient)."""
    if draft.birth_date is None:
        return False
    draft.birth_date = None
    return True


def _missing_phone(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """No phone number is recorded."""
    if not draft.phones:
        return False
    draft.phones = ()
    return True


def _missing_email(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """No e-mail address is recorded."""
    if draft.email is None:
        return False
    draft.email = None
    return True


def _ssn_position(draft: DuplicateDraft) -> int | None:
    """Return the index of the SSN in the draft's identifiers, if it has one."""
    for position, identifier in enumerate(draft.identifiers):
        if identifier.system == SSN_SYSTEM:
            return position
    return None


def _missing_ssn(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """The patient does not give (or the clerk skips) the SSN."""
    position = _ssn_position(draft)
    if position is None:
        return False
    del draft.identifiers[position]
    return True


def _ssn_typo(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, _factory: PersonFactory
) -> bool:
    """One SSN digit is mistyped (still a valid-looking SSN, so validation does not catch it)."""
    position = _ssn_position(draft)
    if position is None:
        return False
    ssn = draft.identifiers[position]
    # ~96% of one-digit changes of an issuable SSN stay issuable, so one try usually suffices;
    # the bound only matters for hand-made records whose SSN is far from valid.
    for _attempt in range(_SSN_TYPO_ATTEMPTS):
        index = rng.choice(_SSN_DIGIT_POSITIONS)
        digit = rng.choice(_DIGITS.replace(ssn.value[index], ""))
        mistyped = ssn.value[:index] + digit + ssn.value[index + 1 :]
        if ssn_is_valid(mistyped):
            draft.identifiers[position] = ssn._replace(value=mistyped)
            return True
    return False


def _maiden_name(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """A married woman's other record still carries her maiden (birth) family name."""
    if draft.maiden_family is None:
        return False
    draft.family = draft.maiden_family
    draft.maiden_family = None
    draft.marital_status = "S"
    return True


def _married_name(
    draft: DuplicateDraft, original: SyntheticPerson, _rng: random.Random, factory: PersonFactory
) -> bool:
    """An adult woman registers again after marriage under her spouse's family name."""
    birth = original.birth_date
    if (
        original.gender != "female"
        or draft.maiden_family is not None
        or birth is None
        or age_on(birth, factory.today) < ADULT_AGE
    ):
        return False
    married = factory.new_surname()
    while married == draft.family:
        married = factory.new_surname()
    draft.maiden_family = draft.family
    draft.family = married
    draft.marital_status = "M"
    return True


def _given_family_swap(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """Given and family names are entered in each other's fields."""
    if draft.given == draft.family:
        return False
    draft.given, draft.family = draft.family, draft.given
    return True


def _accents_stripped(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """An ASCII-only system (or clerk) drops diacritics: José -> Jose, Nguyễn -> Nguyen."""
    folded = (fold_accents(draft.given), fold_accents(draft.family))
    if folded == (draft.given, draft.family):
        return False
    draft.given, draft.family = folded
    if draft.middle is not None:
        draft.middle = fold_accents(draft.middle)
    return True


def _case_changed(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, _factory: PersonFactory
) -> bool:
    """Names arrive in all capitals (legacy feeds) or all lower case (web forms)."""
    names = (draft.given, draft.family)
    upper = (draft.given.upper(), draft.family.upper())
    lower = (draft.given.lower(), draft.family.lower())
    options = [variant for variant in (upper, upper, lower) if variant != names]
    if not options:
        return False
    draft.given, draft.family = rng.choice(options)
    return True


def _compound_separator(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """A compound surname is written with a space instead of a hyphen, or the other way round."""
    if not is_compound_surname(draft.family):
        return False
    draft.family = draft.family.replace(" ", "\0").replace("-", " ").replace("\0", "-")
    return True


def _compound_truncated(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, _factory: PersonFactory
) -> bool:
    """Only the first (paternal) part of a compound surname is recorded: García López -> García."""
    if not is_compound_surname(draft.family):
        return False
    draft.family = draft.family.replace("-", " ").split(" ")[0]
    return True


def _other_facility_mrn(
    draft: DuplicateDraft, _original: SyntheticPerson, rng: random.Random, factory: PersonFactory
) -> bool:
    """The patient registers at another facility of the tenant, which issues its own MRN."""
    systems = factory.identifiers.facility_systems
    for position, identifier in enumerate(draft.identifiers):
        if identifier.type_code == MRN_TYPE:
            others = [index for index, system in enumerate(systems) if system != identifier.system]
            draft.identifiers[position] = factory.identifiers.new_mrn(rng.choice(others))
            return True
    return False


def _new_phone(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, factory: PersonFactory
) -> bool:
    """The patient has a new (primary) phone number."""
    phone = factory.new_phone()
    while phone in draft.phones:
        phone = factory.new_phone()
    draft.phones = (phone, *draft.phones[1:])
    return True


def _moved_address(
    draft: DuplicateDraft, _original: SyntheticPerson, _rng: random.Random, factory: PersonFactory
) -> bool:
    """The patient moved: a new street address, usually in another part of the catchment."""
    line, locality = factory.new_address()
    while line == draft.line:
        line, locality = factory.new_address()
    draft.line = line
    draft.city, draft.state, draft.postal_code = locality
    return True


def _corruption(
    code: str,
    groups: str,
    weight: float,
    apply: Callable[[DuplicateDraft, SyntheticPerson, random.Random, PersonFactory], bool],
) -> Corruption:
    """Declare a corruption with its space-separated field groups."""
    return Corruption(code, frozenset(groups.split()), weight, apply)


CORRUPTIONS: tuple[Corruption, ...] = (
    _corruption(TYPO_FAMILY, "family", 10, _typo_family),
    _corruption(TYPO_GIVEN, "given", 9, _typo_given),
    _corruption(NICKNAME, "given", 7, _nickname),
    _corruption(BIRTH_DAY_MONTH_SWAP, "birth", 4, _birth_day_month_swap),
    _corruption(BIRTH_DIGIT_OFF, "birth", 6, _birth_digit_off),
    _corruption(MISSING_BIRTH_DATE, "birth", 3, _missing_birth_date),
    _corruption(MISSING_PHONE, "phone", 4, _missing_phone),
    _corruption(MISSING_SSN, "ssn", 6, _missing_ssn),
    _corruption(MISSING_EMAIL, "email", 4, _missing_email),
    _corruption(MAIDEN_NAME, "family marital", 4, _maiden_name),
    _corruption(MARRIED_NAME, "family marital", 3, _married_name),
    _corruption(GIVEN_FAMILY_SWAP, "given family", 3, _given_family_swap),
    _corruption(OTHER_FACILITY_MRN, "mrn", 8, _other_facility_mrn),
    _corruption(NEW_PHONE, "phone", 6, _new_phone),
    _corruption(MOVED_ADDRESS, "address", 8, _moved_address),
    _corruption(ACCENTS_STRIPPED, "given family middle", 5, _accents_stripped),
    _corruption(CASE_CHANGED, "given family", 4, _case_changed),
    _corruption(COMPOUND_SEPARATOR, "family", 4, _compound_separator),
    _corruption(COMPOUND_TRUNCATED, "family", 3, _compound_truncated),
    _corruption(SSN_TYPO, "ssn", 3, _ssn_typo),
)
"""Every corruption the generator can apply, with its relative weight."""

CORRUPTION_CODES: tuple[str, ...] = tuple(corruption.code for corruption in CORRUPTIONS)
"""The codes that may appear in `SyntheticPerson.corruptions`."""


def _draft_of(original: SyntheticPerson, factory: PersonFactory) -> DuplicateDraft:
    """Copy the original's fields; the copy gets its own chart number in the same facility.

    A duplicate is a second registration, so it never reuses the original's MRN (and MRNs stay
    unique across the dataset, as a loader's identifier constraint expects).
    """
    identifiers = list(original.identifiers)
    for position, identifier in enumerate(identifiers):
        if identifier.type_code == MRN_TYPE:
            facility = factory.identifiers.facility_systems.index(identifier.system)
            identifiers[position] = factory.identifiers.new_mrn(facility)
    return DuplicateDraft(
        family=original.family,
        given=original.given,
        middle=original.middle,
        maiden_family=original.maiden_family,
        birth_date=original.birth_date,
        identifiers=identifiers,
        phones=original.phones,
        email=original.email,
        line=original.line,
        city=original.city,
        state=original.state,
        postal_code=original.postal_code,
        marital_status=original.marital_status,
    )


def _weighted_order(rng: random.Random) -> list[Corruption]:
    """Order all corruptions as a weighted draw without replacement (Efraimidis-Spirakis).

    Trying them in this order and skipping inapplicable ones picks each applicable corruption
    with probability proportional to its weight, whatever the record looks like.
    """
    keyed = [(rng.random() ** (1.0 / corruption.weight), corruption) for corruption in CORRUPTIONS]
    keyed.sort(key=itemgetter(0), reverse=True)
    return [corruption for _key, corruption in keyed]


def make_duplicate(
    original: SyntheticPerson, factory: PersonFactory, rng: random.Random
) -> SyntheticPerson:
    """Return a new record of the same person as `original` with 1-3 recorded corruptions."""
    draft = _draft_of(original, factory)
    wanted = _CORRUPTION_COUNTS.pick(rng)
    applied: list[str] = []
    touched: set[str] = set()
    for chosen in _weighted_order(rng):
        if chosen.field_groups.isdisjoint(touched) and chosen.apply(draft, original, rng, factory):
            applied.append(chosen.code)
            touched |= chosen.field_groups
            if len(applied) == wanted:
                break
    return SyntheticPerson(
        record_id=uuid4_from(rng),
        person_id=original.person_id,
        family=draft.family,
        given=draft.given,
        middle=draft.middle,
        maiden_family=draft.maiden_family,
        gender=original.gender,
        birth_date=draft.birth_date,
        identifiers=tuple(draft.identifiers),
        phones=draft.phones,
        email=draft.email,
        line=draft.line,
        city=draft.city,
        state=draft.state,
        postal_code=draft.postal_code,
        country=original.country,
        language=original.language,
        marital_status=draft.marital_status,
        duplicate_of=original.record_id,
        corruptions=tuple(applied),
    )
