"""Each duplicate corruption does what its code says, and only when it can."""

import random
from dataclasses import replace
from datetime import date
from typing import cast

import jellyfish
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registration.synthetic import CORRUPTION_CODES, NICKNAMES, SSN_SYSTEM, ssn_is_valid
from registration.synthetic.corruptions import (
    CORRUPTIONS,
    _draft_of,
    _one_digit_variants,
    make_duplicate,
    typo,
)
from registration.synthetic.identifiers import Identifier, IdentifierFactory, facility_systems
from registration.synthetic.people import PersonFactory, is_compound_surname, years_before
from registration.synthetic.pools import build_pools
from registration.synthetic.records import SyntheticPerson

TODAY = date(2026, 1, 15)
APPLY = {corruption.code: corruption.apply for corruption in CORRUPTIONS}
MRN_SYSTEMS = facility_systems("demo")


def seeded(seed):
    """A reproducible rng for test data (not for secrets)."""
    return random.Random(seed)  # noqa: S311 - deterministic synthetic test data


def _factory(today=TODAY, seed=1):
    rng = seeded(seed)
    return PersonFactory(
        rng=rng,
        pools=build_pools(0, "CA"),
        identifiers=IdentifierFactory("demo", rng),
        today=today,
    )


ORIGINAL = SyntheticPerson(
    record_id="00000000-0000-4000-8000-000000000001",
    person_id="00000000-0000-4000-8000-0000000000aa",
    family="García López",
    given="José",
    middle="Ángel",
    maiden_family=None,
    gender="male",
    birth_date=date(1980, 4, 7),
    identifiers=(
        Identifier(MRN_SYSTEMS[0], "1000000008", "MR"),
        Identifier(SSN_SYSTEM, "123-45-6789", "SS"),
    ),
    phones=("415-555-0101", "415-555-0102"),
    email="jose.garcia@example.com",
    line="12 Main St",
    city="Springfield",
    state="CA",
    postal_code="90001",
    country="US",
    language="es",
    marital_status="M",
)


def _apply(code, original=ORIGINAL, factory=None, seed=0):
    factory = factory or _factory()
    draft = _draft_of(original, factory)
    applied = APPLY[code](draft, original, seeded(seed), factory)
    return applied, draft


class _ScriptedFactory:
    """Stands in for PersonFactory where a test needs colliding draws first.

    Call `as_factory()` to pass it where a PersonFactory is expected.
    """

    def __init__(self, *, surnames=(), phones=(), addresses=()):
        self.today = TODAY
        self._surnames = iter(surnames)
        self._phones = iter(phones)
        self._addresses = iter(addresses)

    def as_factory(self) -> PersonFactory:
        return cast("PersonFactory", self)

    def new_surname(self):
        return next(self._surnames)

    def new_phone(self):
        return next(self._phones)

    def new_address(self):
        return next(self._addresses)


def test_every_code_is_declared_once():
    assert len(set(CORRUPTION_CODES)) == len(CORRUPTION_CODES) == 20


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzÁé -", min_size=2, max_size=20), st.integers())
def test_typo_is_exactly_one_edit_and_keeps_the_initial(text, seed):
    mistyped = typo(text, seeded(seed))
    assert mistyped != text
    assert mistyped[0] == text[0]
    assert jellyfish.damerau_levenshtein_distance(mistyped, text) == 1


def test_typo_transposing_equal_letters_falls_back_to_a_substitution():
    results = {typo("Aaa", seeded(seed)) for seed in range(200)}
    assert "Aaa" not in results
    assert all(jellyfish.damerau_levenshtein_distance(r, "Aaa") == 1 for r in results)


def test_typo_keeps_the_case_of_a_substituted_capital():
    results = {typo("AB", seeded(seed)) for seed in range(100)}
    substituted = [r for r in results if len(r) == 2]
    assert substituted
    assert all(r[1].isupper() for r in substituted)


@pytest.mark.parametrize(
    ("code", "field", "too_short"),
    [
        ("typo_family", "family", replace(ORIGINAL, family="X")),
        ("typo_given", "given", replace(ORIGINAL, given="X")),
    ],
)
def test_typos_need_two_characters(code, field, too_short):
    applied, _ = _apply(code, too_short)
    assert not applied
    applied, draft = _apply(code)
    assert applied
    assert (
        jellyfish.damerau_levenshtein_distance(getattr(draft, field), getattr(ORIGINAL, field)) == 1
    )


def test_nickname_only_for_known_formal_names():
    applied, draft = _apply("nickname")
    assert applied
    assert draft.given in NICKNAMES["José"]
    assert not _apply("nickname", replace(ORIGINAL, given="Xochitl"))[0]


@given(st.dates(min_value=date(1921, 1, 16), max_value=TODAY))
def test_day_month_swap_only_when_the_day_can_be_a_month(birth):
    applied, draft = _apply("birth_day_month_swap", replace(ORIGINAL, birth_date=birth))
    swappable = birth.day <= 12 and birth.day != birth.month
    if applied:
        assert swappable
        assert draft.birth_date == date(birth.year, birth.day, birth.month)
        assert draft.birth_date <= TODAY
    else:
        assert draft.birth_date == birth
        assert not swappable or date(birth.year, birth.day, birth.month) > TODAY


def test_day_month_swap_never_moves_a_birth_into_the_future():
    recent = replace(ORIGINAL, birth_date=date(2026, 1, 3))  # would become 1 March 2026
    assert not _apply("birth_day_month_swap", recent)[0]
    assert not _apply("birth_day_month_swap", replace(ORIGINAL, birth_date=None))[0]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
def test_one_digit_variants_change_one_digit_of_year_or_day(birth):
    original_digits = birth.strftime("%Y%m%d")
    for variant in _one_digit_variants(birth):
        digits = variant.strftime("%Y%m%d")
        differing = [
            i for i, (a, b) in enumerate(zip(digits, original_digits, strict=True)) if a != b
        ]
        assert len(differing) == 1
        assert differing[0] in {2, 3, 6, 7}  # year tens/units or a day digit
        assert variant.month == birth.month


def test_one_digit_variants_skip_impossible_dates():
    variants = _one_digit_variants(date(2024, 2, 29))
    assert date(2025, 2, 28) not in variants
    assert all(v.month == 2 for v in variants)
    assert date(2024, 2, 9) in variants  # tens digit 2 -> 0


def test_birth_digit_off_stays_plausible():
    for seed in range(50):
        applied, draft = _apply("birth_digit_off", seed=seed)
        assert applied
        assert date(1920, 1, 16) <= draft.birth_date <= TODAY
        assert draft.birth_date != ORIGINAL.birth_date


def test_birth_digit_off_needs_a_plausible_variant():
    newborn_factory = _factory(today=date(2000, 1, 1))
    newborn = replace(ORIGINAL, birth_date=date(2000, 1, 1))  # every variant is in the future
    assert not _apply("birth_digit_off", newborn, newborn_factory)[0]
    assert not _apply("birth_digit_off", replace(ORIGINAL, birth_date=None))[0]


@pytest.mark.parametrize(
    ("code", "field", "emptied"),
    [
        ("missing_birth_date", "birth_date", None),
        ("missing_phone", "phones", ()),
        ("missing_email", "email", None),
    ],
)
def test_missing_fields_are_dropped_only_when_present(code, field, emptied):
    applied, draft = _apply(code)
    assert applied
    assert getattr(draft, field) == emptied
    assert not _apply(code, replace(ORIGINAL, **{field: emptied}))[0]


def test_missing_ssn_drops_only_the_ssn():
    applied, draft = _apply("missing_ssn")
    assert applied
    assert [i.type_code for i in draft.identifiers] == ["MR"]
    assert not _apply("missing_ssn", replace(ORIGINAL, identifiers=ORIGINAL.identifiers[:1]))[0]


def test_ssn_typo_changes_one_digit_and_stays_valid():
    for seed in range(30):
        applied, draft = _apply("ssn_typo", seed=seed)
        assert applied
        mistyped = draft.identifiers[1].value
        assert ssn_is_valid(mistyped)
        assert sum(a != b for a, b in zip(mistyped, "123-45-6789", strict=True)) == 1
    assert not _apply("ssn_typo", replace(ORIGINAL, identifiers=ORIGINAL.identifiers[:1]))[0]


def test_ssn_typo_never_produces_an_unissuable_ssn():
    lowest = replace(ORIGINAL, identifiers=(Identifier(SSN_SYSTEM, "001-01-0001", "SS"),))
    for seed in range(300):  # 000 area, 00 group and 0000 serial are one digit away
        applied, draft = _apply("ssn_typo", lowest, seed=seed)
        assert applied
        assert ssn_is_valid(draft.identifiers[0].value)
        assert draft.identifiers[0].value != "001-01-0001"
    hopeless = replace(ORIGINAL, identifiers=(Identifier(SSN_SYSTEM, "000-00-0000", "SS"),))
    assert not _apply("ssn_typo", hopeless)[0]  # no single digit makes it issuable


def test_maiden_name_restores_the_birth_family_name():
    married = replace(
        ORIGINAL, gender="female", given="María", family="Smith", maiden_family="Ruiz"
    )
    applied, draft = _apply("maiden_name", married)
    assert applied
    assert (draft.family, draft.maiden_family, draft.marital_status) == ("Ruiz", None, "S")
    assert not _apply("maiden_name")[0]


def test_married_name_needs_an_adult_woman_without_a_recorded_maiden_name():
    woman = replace(ORIGINAL, gender="female", given="María")
    applied, draft = _apply("married_name", woman)
    assert applied
    assert draft.maiden_family == "García López"
    assert draft.family != "García López"
    assert draft.marital_status == "M"
    assert not _apply("married_name")[0]  # male
    assert not _apply("married_name", replace(woman, maiden_family="Ruiz"))[0]
    assert not _apply("married_name", replace(woman, birth_date=None))[0]
    assert not _apply("married_name", replace(woman, birth_date=date(2015, 1, 1)))[0]


def test_married_name_redraws_a_surname_equal_to_the_current_one():
    woman = replace(ORIGINAL, gender="female", family="Smith")
    factory = _ScriptedFactory(surnames=["Smith", "Jones"]).as_factory()
    draft = _draft_of(woman, _factory())
    assert APPLY["married_name"](draft, woman, seeded(0), factory)
    assert (draft.family, draft.maiden_family) == ("Jones", "Smith")


def test_given_family_swap():
    applied, draft = _apply("given_family_swap")
    assert applied
    assert (draft.given, draft.family) == ("García López", "José")
    assert not _apply("given_family_swap", replace(ORIGINAL, given="Lee", family="Lee"))[0]


def test_accents_stripped_folds_names_including_vietnamese():
    applied, draft = _apply("accents_stripped")
    assert applied
    assert (draft.given, draft.family, draft.middle) == ("Jose", "Garcia Lopez", "Angel")
    vietnamese = replace(ORIGINAL, given="Đức", family="Nguyễn", middle=None)
    applied, draft = _apply("accents_stripped", vietnamese)
    assert applied
    assert (draft.given, draft.family, draft.middle) == ("Duc", "Nguyen", None)
    assert not _apply("accents_stripped", replace(ORIGINAL, given="Jose", family="Garcia"))[0]


def test_case_changed_uses_all_capitals_or_lower_case():
    seen = set()
    for seed in range(40):
        applied, draft = _apply("case_changed", seed=seed)
        assert applied
        seen.add((draft.given, draft.family))
    assert seen == {("JOSÉ", "GARCÍA LÓPEZ"), ("josé", "garcía lópez")}
    shouting = replace(ORIGINAL, given="JO", family="LI")
    applied, draft = _apply("case_changed", shouting)
    assert applied
    assert (draft.given, draft.family) == ("jo", "li")
    assert not _apply("case_changed", replace(ORIGINAL, given="1", family="2"))[0]


@pytest.mark.parametrize(
    ("family", "separated", "truncated"),
    [("García López", "García-López", "García"), ("García-López", "García López", "García")],
)
def test_compound_surname_variants(family, separated, truncated):
    record = replace(ORIGINAL, family=family)
    assert _apply("compound_separator", record)[1].family == separated
    assert _apply("compound_truncated", record)[1].family == truncated


@pytest.mark.parametrize("family", ["García", "de la Garza", "Smith-jones", "A B C"])
def test_compound_variants_need_two_capitalised_parts(family):
    assert not is_compound_surname(family)
    assert not _apply("compound_separator", replace(ORIGINAL, family=family))[0]
    assert not _apply("compound_truncated", replace(ORIGINAL, family=family))[0]


def test_other_facility_mrn_moves_to_another_system_with_a_new_chart_number():
    applied, draft = _apply("other_facility_mrn")
    assert applied
    mrn = draft.identifiers[0]
    assert mrn.system in MRN_SYSTEMS[1:]
    assert mrn.value != ORIGINAL.identifiers[0].value
    no_mrn = replace(ORIGINAL, identifiers=ORIGINAL.identifiers[1:])
    assert not _apply("other_facility_mrn", no_mrn)[0]


def test_draft_gets_a_new_mrn_in_the_same_facility():
    draft = _draft_of(ORIGINAL, _factory())
    assert draft.identifiers[0].system == MRN_SYSTEMS[0]
    assert draft.identifiers[0].value != ORIGINAL.identifiers[0].value
    assert draft.identifiers[1] == ORIGINAL.identifiers[1]


def test_new_phone_replaces_the_primary_number_and_never_repeats_it():
    factory = _ScriptedFactory(phones=["415-555-0101", "415-555-0102", "212-555-0000"]).as_factory()
    draft = _draft_of(ORIGINAL, _factory())
    assert APPLY["new_phone"](draft, ORIGINAL, seeded(0), factory)
    assert draft.phones == ("212-555-0000", "415-555-0102")
    applied, draft = _apply("new_phone", replace(ORIGINAL, phones=()))
    assert applied
    assert len(draft.phones) == 1


def test_moved_address_changes_the_street_line():
    old = ("12 Main St", ("Springfield", "CA", "90001"))
    new = ("9 Oak Ave", ("Shelbyville", "NV", "89001"))
    factory = _ScriptedFactory(addresses=[old, new]).as_factory()
    draft = _draft_of(ORIGINAL, _factory())
    assert APPLY["moved_address"](draft, ORIGINAL, seeded(0), factory)
    assert (draft.line, draft.city, draft.state, draft.postal_code) == (
        "9 Oak Ave",
        "Shelbyville",
        "NV",
        "89001",
    )


def test_make_duplicate_records_between_one_and_three_corruptions():
    factory = _factory()
    rng = seeded(4)
    counts = set()
    for _ in range(300):
        duplicate = make_duplicate(ORIGINAL, factory, rng)
        assert duplicate.person_id == ORIGINAL.person_id
        assert duplicate.duplicate_of == ORIGINAL.record_id
        assert duplicate.record_id != ORIGINAL.record_id
        assert set(duplicate.corruptions) <= set(CORRUPTION_CODES)
        assert len(set(duplicate.corruptions)) == len(duplicate.corruptions)
        counts.add(len(duplicate.corruptions))
    assert counts == {1, 2, 3}


def test_make_duplicate_settles_for_fewer_corruptions_when_few_apply():
    bare = replace(
        ORIGINAL,
        given="1",
        family="1",
        middle=None,
        birth_date=None,
        identifiers=(),
        phones=(),
        email=None,
    )
    factory = _factory()
    rng = seeded(8)
    seen = {make_duplicate(bare, factory, rng).corruptions for _ in range(100)}
    assert set().union(*seen) == {"new_phone", "moved_address"}
    assert any(len(corruptions) == 2 for corruptions in seen)


def test_years_before_falls_back_to_28_february():
    assert years_before(date(2024, 2, 29), 1) == date(2023, 2, 28)
    assert years_before(date(2024, 2, 29), 4) == date(2020, 2, 29)
