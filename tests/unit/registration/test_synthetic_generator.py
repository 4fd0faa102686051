"""The generated population: determinism, duplicate structure, validity and realism."""

import re
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from itertools import islice

import jellyfish
import pytest

from registration.synthetic import (
    CORRUPTION_CODES,
    GENDERS,
    MARITAL_STATUSES,
    NICKNAMES,
    SSN_SYSTEM,
    default_home_state,
    facility_systems,
    generate,
    luhn_is_valid,
    ssn_is_valid,
)
from registration.synthetic.corruptions import CORRUPTIONS
from registration.synthetic.people import age_on, fold_accents, is_compound_surname
from registration.synthetic.pools import build_pools

TODAY = date(2026, 1, 15)
SIZE = 20_000
PHONE = re.compile(r"[2-9]\d\d-555-\d{4}")
GROUPS = {corruption.code: corruption.field_groups for corruption in CORRUPTIONS}


@pytest.fixture(scope="module")
def population():
    return list(generate(SIZE, seed=42, today=TODAY))


@pytest.fixture(scope="module")
def by_id(population):
    return {record.record_id: record for record in population}


def _mrn(record):
    return next(i for i in record.identifiers if i.type_code == "MR")


def _ssn(record):
    return record.identifier_value(SSN_SYSTEM)


def test_same_seed_same_records_and_different_seed_different_records():
    first = list(generate(500, seed=7, today=TODAY))
    assert first == list(generate(500, seed=7, today=TODAY))
    other = list(generate(500, seed=8, today=TODAY))
    assert {r.record_id for r in first}.isdisjoint(r.record_id for r in other)
    assert [r.family for r in first] != [r.family for r in other]


def test_the_tenant_label_changes_only_the_mrn_systems_and_home_state():
    demo = next(generate(1, seed=7, today=TODAY, home_state="CA"))
    other = next(generate(1, seed=7, today=TODAY, tenant_label="other", home_state="CA"))
    assert _mrn(demo).system in facility_systems("demo")
    assert _mrn(other).system in facility_systems("other")
    assert (demo.family, demo.given, demo.birth_date) == (
        other.family,
        other.given,
        other.birth_date,
    )
    assert default_home_state("demo") == default_home_state("demo")


def test_today_defaults_to_the_current_utc_date():
    record = next(generate(1, seed=1))
    assert record.birth_date is None or record.birth_date <= datetime.now(tz=UTC).date()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 57, 1000])
def test_exactly_n_records_are_produced(n):
    assert sum(1 for _ in generate(n, seed=n, today=TODAY)) == n


def test_duplicate_share_matches_the_requested_rate(population):
    duplicates = sum(record.is_duplicate for record in population)
    assert duplicates / SIZE == pytest.approx(0.1, abs=0.015)


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3, 0.5])
def test_other_duplicate_rates(rate):
    records = list(generate(6000, seed=3, duplicate_rate=rate, today=TODAY))
    share = sum(record.is_duplicate for record in records) / len(records)
    assert share == pytest.approx(rate, abs=0.025)


@pytest.mark.parametrize(("n", "rate"), [(-1, 0.1), (10, -0.01), (10, 0.51)])
def test_invalid_arguments_fail_before_any_record_is_requested(n, rate):
    with pytest.raises(ValueError, match="must be"):
        generate(n, seed=1, duplicate_rate=rate)


def test_duplicates_follow_their_original_later_and_never_adjacent(population, by_id):
    position = {record.record_id: index for index, record in enumerate(population)}
    duplicates_per_person: Counter[str] = Counter()
    for record in population:
        if not record.is_duplicate:
            assert record.corruptions == ()
            continue
        original = by_id[record.duplicate_of]
        assert not original.is_duplicate
        assert original.person_id == record.person_id
        assert position[record.record_id] - position[original.record_id] >= 2
        duplicates_per_person[record.person_id] += 1
    assert set(duplicates_per_person.values()) == {1, 2, 3}


def test_every_duplicate_records_one_to_three_known_corruptions(population):
    seen: Counter[str] = Counter()
    for record in population:
        if record.is_duplicate:
            assert 1 <= len(record.corruptions) <= 3
            assert set(record.corruptions) <= set(CORRUPTION_CODES)
            seen.update(record.corruptions)
    assert set(seen) == set(CORRUPTION_CODES)  # every kind occurs in 20k records


def _check_effect(code, original, duplicate):
    o, d = original, duplicate
    checks = {
        "typo_family": lambda: jellyfish.damerau_levenshtein_distance(o.family, d.family) == 1,
        "typo_given": lambda: jellyfish.damerau_levenshtein_distance(o.given, d.given) == 1,
        "nickname": lambda: d.given in NICKNAMES[o.given],
        "birth_day_month_swap": lambda: (
            o.birth_date.day <= 12
            and d.birth_date == date(o.birth_date.year, o.birth_date.day, o.birth_date.month)
        ),
        "birth_digit_off": lambda: (
            sum(
                a != b
                for a, b in zip(f"{o.birth_date:%Y%m%d}", f"{d.birth_date:%Y%m%d}", strict=True)
            )
            == 1
            and o.birth_date.month == d.birth_date.month
        ),
        "missing_birth_date": lambda: o.birth_date is not None and d.birth_date is None,
        "missing_phone": lambda: o.phones and d.phones == (),
        "missing_ssn": lambda: _ssn(o) is not None and _ssn(d) is None,
        "missing_email": lambda: o.email is not None and d.email is None,
        "maiden_name": lambda: d.family == o.maiden_family and d.maiden_family is None,
        "married_name": lambda: d.maiden_family == o.family and d.family != o.family,
        "given_family_swap": lambda: (d.given, d.family) == (o.family, o.given),
        "other_facility_mrn": lambda: _mrn(d).system != _mrn(o).system,
        "new_phone": lambda: d.phones and d.phones[0] not in o.phones,
        "moved_address": lambda: d.line != o.line,
        "accents_stripped": lambda: (
            (d.given, d.family) == (fold_accents(o.given), fold_accents(o.family))
            and (o.given, o.family) != (d.given, d.family)
        ),
        "case_changed": lambda: (
            (d.given, d.family)
            in {
                (o.given.upper(), o.family.upper()),
                (o.given.lower(), o.family.lower()),
            }
        ),
        "compound_separator": lambda: (
            is_compound_surname(o.family)
            and d.family == o.family.translate(str.maketrans({" ": "-", "-": " "}))
        ),
        "compound_truncated": lambda: d.family == o.family.replace("-", " ").split(" ")[0],
        "ssn_typo": lambda: (
            ssn_is_valid(_ssn(d))
            and sum(a != b for a, b in zip(_ssn(o), _ssn(d), strict=True)) == 1
        ),
    }
    return checks[code]()


def _untouched_fields_match(original, duplicate, touched):
    o, d = original, duplicate
    fields = {
        "given": [(o.given, d.given)],
        "family": [(o.family, d.family), (o.maiden_family, d.maiden_family)],
        "middle": [(o.middle, d.middle)],
        "marital": [(o.marital_status, d.marital_status)],
        "birth": [(o.birth_date, d.birth_date)],
        "phone": [(o.phones, d.phones)],
        "email": [(o.email, d.email)],
        "ssn": [(_ssn(o), _ssn(d))],
        "mrn": [(_mrn(o).system, _mrn(d).system)],
        "address": [
            ((o.line, o.city, o.state, o.postal_code), (d.line, d.city, d.state, d.postal_code))
        ],
    }
    return all(a == b for group, pairs in fields.items() if group not in touched for a, b in pairs)


def test_each_recorded_corruption_is_visible_and_nothing_else_changed(population, by_id):
    for record in population:
        if not record.is_duplicate:
            continue
        original = by_id[record.duplicate_of]
        touched = set().union(*(GROUPS[code] for code in record.corruptions))
        for code in record.corruptions:
            assert _check_effect(code, original, record), (code, original, record)
        assert _untouched_fields_match(original, record, touched), (
            record.corruptions,
            original,
            record,
        )
        assert _mrn(record).value != _mrn(original).value
        assert (record.gender, record.language) == (original.gender, original.language)


def test_every_mrn_is_unique_with_a_valid_check_digit(population):
    mrns = [_mrn(record) for record in population]
    assert all(luhn_is_valid(mrn.value) for mrn in mrns)
    assert len({mrn.value for mrn in mrns}) == SIZE
    assert {mrn.system for mrn in mrns} == set(facility_systems("demo"))


def test_ssns_are_valid_and_belong_to_one_person(population):
    owners: dict[str, str] = {}
    for record in population:
        ssn = _ssn(record)
        if ssn is None or "ssn_typo" in record.corruptions:
            continue
        assert ssn_is_valid(ssn)
        assert int(ssn[:3]) not in {0, 666}
        assert ssn[0] != "9"
        assert owners.setdefault(ssn, record.person_id) == record.person_id
    originals = [r for r in population if not r.is_duplicate]
    ssn_share = sum(_ssn(r) is not None for r in originals) / len(originals)
    assert ssn_share == pytest.approx(0.7, abs=0.02)


def test_drivers_licences_are_about_thirty_percent(population):
    originals = [r for r in population if not r.is_duplicate]
    licensed = [r for r in originals if any(i.type_code == "DL" for i in r.identifiers)]
    assert len(licensed) / len(originals) == pytest.approx(0.3, abs=0.03)
    assert all(age_on(r.birth_date, TODAY) >= 16 for r in licensed if r.birth_date)


def test_birth_dates_are_never_in_the_future_and_ages_are_0_to_105(population):
    births = [record.birth_date for record in population if record.birth_date is not None]
    assert all(birth <= TODAY for birth in births)
    ages = [age_on(birth, TODAY) for birth in births]
    assert min(ages) == 0
    assert max(ages) <= 105
    assert max(ages) >= 95


def test_field_values_are_well_formed(population):
    for record in population:
        assert uuid.UUID(record.record_id).version == 4
        assert uuid.UUID(record.person_id).version == 4
        assert record.gender in GENDERS
        assert record.marital_status in MARITAL_STATUSES
        assert record.country == "US"
        assert re.fullmatch(r"[a-z]{2}", record.language)
        assert re.fullmatch(r"\d{5}", record.postal_code)
        assert all(PHONE.fullmatch(phone) for phone in record.phones)
        assert record.email is None or re.fullmatch(
            r"[a-z0-9.]+@example\.(com|org|net)", record.email
        )
        assert all((record.given, record.family, record.line, record.city))
        minor = record.birth_date is not None and age_on(record.birth_date, TODAY) < 18
        if minor and not record.is_duplicate:  # a corrupted birth date may contradict
            assert record.marital_status == "S"


def test_population_is_multicultural_with_realistic_surname_skew(population):
    originals = [r for r in population if not r.is_duplicate]
    surnames = Counter(r.family for r in originals)
    top_name, top_count = surnames.most_common(1)[0]
    assert top_name in {"Smith", "Johnson", "Jones"}  # the head of the US census table
    assert top_count / len(originals) > 0.008
    assert sum(count == 1 for count in surnames.values()) > 1000  # long tail of rare names
    assert sum(not r.family.isascii() for r in originals) / len(originals) > 0.1
    hyphenated = [r.family for r in originals if is_compound_surname(r.family) and "-" in r.family]
    spaced = [r.family for r in originals if is_compound_surname(r.family) and " " in r.family]
    assert len(hyphenated) > 100
    assert len(spaced) > 300
    languages = Counter(r.language for r in originals)
    assert languages["en"] > languages["es"] > languages["vi"] > 0
    assert languages["zh"] > 0
    assert sum(r.maiden_family is not None for r in originals) > 500
    assert Counter(r.gender for r in originals)["female"] / len(originals) == pytest.approx(
        0.5, abs=0.03
    )


def test_home_state_dominates_addresses(population):
    states = Counter(record.state for record in population)
    assert states[default_home_state("demo")] / SIZE == pytest.approx(0.9, abs=0.02)


def test_generation_is_lazy():
    build_pools(0, default_home_state("demo"))  # vocabulary is drawn once, up front
    records = generate(10**12, seed=5, today=TODAY)
    assert len(list(islice(records, 100))) == 100


def test_memory_stays_bounded_while_streaming():
    build_pools(0, default_home_state("demo"))
    tracemalloc.start()
    try:
        for _record in generate(6000, seed=9, today=TODAY):
            pass
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Holding 6000 records takes ~5.6 MB; the stream keeps only pending duplicates (~0.4 MB).
    assert peak < 2 * 1024 * 1024
