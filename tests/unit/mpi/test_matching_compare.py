"""Comparators: every level of every field, each checked in both directions."""

import pytest

from mpi.matching.compare import (
    FIELD_LEVELS,
    FIELDS,
    ContactLevel,
    DateLevel,
    IdentifierLevel,
    LocationLevel,
    NameLevel,
    SexLevel,
    compare_address,
    compare_birth_date,
    compare_email,
    compare_family,
    compare_given,
    compare_identifiers,
    compare_phone,
    compare_postal_code,
    compare_records,
    compare_sex,
)
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.record import MatchRecord

record = MatchRecord.from_raw


def both_ways(comparator, left, right):
    """The level in both directions, asserting they agree."""
    forward, backward = comparator(left, right), comparator(right, left)
    assert forward.level == backward.level
    assert (forward.left, forward.right) == (backward.right, backward.left)
    return forward.level


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("García-López", "GARCIA LOPEZ", NameLevel.EXACT),
        ("van der Berg", "Vanderberg", NameLevel.EXACT),
        ("O'Brien", "OBrien", NameLevel.EXACT),
        ("Johnson", "Jonhson", NameLevel.CLOSE),  # typo: Jaro-Winkler
        ("Catherine", "Kathryn", NameLevel.CLOSE),  # sound-alike: Metaphone
        ("Garcia Lopez", "Lopez Garcia", NameLevel.CLOSE),  # parts reordered
        ("García-López", "Garcia", NameLevel.PARTIAL),
        ("van der Berg", "Berg", NameLevel.PARTIAL),
        ("Smith", "Jones", NameLevel.FAR),
        ("de la Cruz", "de Leon", NameLevel.FAR),  # sharing a particle is not evidence
        ("Smith", None, NameLevel.MISSING),
        (None, None, NameLevel.MISSING),
    ],
)
def test_family_levels(left, right, level):
    assert both_ways(compare_family, record(family=left), record(family=right)) == level


def test_family_partial_when_given_and_family_are_swapped():
    left = record(family="Nguyen", given="Thanh")
    right = record(family="Thanh", given="Nguyen")
    assert both_ways(compare_family, left, right) == NameLevel.PARTIAL
    assert both_ways(compare_given, left, right) == NameLevel.PARTIAL


def test_swap_needs_both_names_to_cross_match():
    left = record(family="Nguyen", given="Thanh")
    right = record(family="Thanh", given="Paul")
    assert both_ways(compare_family, left, right) == NameLevel.FAR
    assert both_ways(compare_given, left, right) == NameLevel.FAR


def test_family_comparison_reports_normalized_values():
    comparison = compare_family(record(family="García-López"), record(family="Garcia"))
    assert (comparison.field, comparison.left, comparison.right) == (
        "family",
        "garcia lopez",
        "garcia",
    )


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("Mary-Ann", "Maryann", NameLevel.EXACT),
        ("William", "Bill", NameLevel.ALIAS),
        ("Peggy", "Margaret", NameLevel.ALIAS),
        ("Micheal", "Michael", NameLevel.CLOSE),
        ("Stephen", "Stefan", NameLevel.CLOSE),  # same NYSIIS key
        ("Anne Marie", "Marie", NameLevel.PARTIAL),  # one part of a compound given name
        ("J", "John", NameLevel.PARTIAL),  # initial
        ("J Paul", "J Peter", NameLevel.FAR),  # a shared initial alone is not a shared name
        ("Peter", "Paul", NameLevel.FAR),
        ("J", "Paul", NameLevel.FAR),
        (None, "Paul", NameLevel.MISSING),
    ],
)
def test_given_levels(left, right, level):
    assert both_ways(compare_given, record(given=left), record(given=right)) == level


def test_given_partial_when_one_record_uses_the_middle_name():
    left = record(given="James", middle="Robert", family="Hill")
    right = record(given="Robert", family="Hill")
    assert both_ways(compare_given, left, right) == NameLevel.PARTIAL
    assert both_ways(compare_given, left, record(given="Oscar")) == NameLevel.FAR


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("1980-05-17", "1980-05-17", DateLevel.EXACT),
        ("1980-05-17", "1980-05-11", DateLevel.ONE_COMPONENT_OFF),  # day typo
        ("1980-05-17", "1980-06-17", DateLevel.ONE_COMPONENT_OFF),  # month
        ("1980-05-17", "1986-05-17", DateLevel.ONE_COMPONENT_OFF),  # one-digit year typo
        ("1980-05-07", "1980-07-05", DateLevel.DAY_MONTH_SWAPPED),
        ("1980-05-07", "1981-07-05", DateLevel.FAR),  # swapped, but another year
        ("1980-05-17", "1981-06-17", DateLevel.FAR),
        ("1980", "1980-05-17", DateLevel.YEAR_ONLY),
        ("1980-05", "1980-05-17", DateLevel.YEAR_ONLY),
        ("1980", "1980", DateLevel.YEAR_ONLY),
        ("1980-05", "1980-06-17", DateLevel.FAR),
        ("1980", "1981-05-17", DateLevel.FAR),
        ("1980-05-17", None, DateLevel.MISSING),
    ],
)
def test_birth_date_levels(left, right, level):
    assert both_ways(compare_birth_date, record(birth_date=left), record(birth_date=right)) == level


def test_birth_date_reports_iso_values():
    comparison = compare_birth_date(record(birth_date="1980-5"), record())
    assert (comparison.left, comparison.right) == ("1980-05", None)


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("M", "male", SexLevel.EXACT),
        ("other", "X", SexLevel.EXACT),
        ("F", "M", SexLevel.FAR),
        ("F", "unknown", SexLevel.MISSING),
        ("F", None, SexLevel.MISSING),
    ],
)
def test_sex_levels(left, right, level):
    assert both_ways(compare_sex, record(sex=left), record(sex=right)) == level


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ([("ssn", "123-45-6780")], [("SSN", "123456780")], IdentifierLevel.SAME_SYSTEM_EQUAL),
        (
            [("mrn", "1"), ("mrn", "2")],
            [("mrn", "2"), ("mrn", "3")],
            IdentifierLevel.SAME_SYSTEM_EQUAL,
        ),
        (
            [("ssn", "123456780"), ("mrn", "7")],
            [("ssn", "123456780"), ("mrn", "8")],
            IdentifierLevel.SAME_SYSTEM_EQUAL,
        ),
        ([("ssn", "123456780")], [("ssn", "123456781")], IdentifierLevel.SAME_SYSTEM_DIFFERENT),
        ([("ssn", "123456780")], [("mrn", "123456780")], IdentifierLevel.MISSING),
        ([("ssn", "123456780")], [], IdentifierLevel.MISSING),
    ],
)
def test_identifier_levels(left, right, level):
    assert (
        both_ways(compare_identifiers, record(identifiers=left), record(identifiers=right)) == level
    )


def test_identifier_values_are_listed_with_their_system():
    comparison = compare_identifiers(
        record(identifiers=[("ssn", "123-45-6780"), ("mrn", "9")]), record()
    )
    assert comparison.left == ("mrn|9", "ssn|123456780")
    assert comparison.right is None


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        (["617-555-0100", "617-555-0199"], ["+1 617 555 0199"], ContactLevel.EXACT),
        (["617-555-0100"], ["617-555-0101"], ContactLevel.FAR),
        (["617-555-0100"], [], ContactLevel.MISSING),
    ],
)
def test_phone_levels(left, right, level):
    assert both_ways(compare_phone, record(phones=left), record(phones=right)) == level


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("02139-4307", "02139", LocationLevel.EXACT),
        ("02139", "02142", LocationLevel.CLOSE),
        ("02139", "10001", LocationLevel.FAR),
        ("AB", "AC", LocationLevel.FAR),  # too short to share an area prefix
        ("02139", None, LocationLevel.MISSING),
    ],
)
def test_postal_code_levels(left, right, level):
    assert (
        both_ways(compare_postal_code, record(postal_code=left), record(postal_code=right)) == level
    )


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("12 Main Street", "12 MAIN ST.", LocationLevel.EXACT),
        ("12 Main St", "12 Mian St", LocationLevel.CLOSE),
        ("Main St 12", "12 Main St", LocationLevel.CLOSE),
        ("12 Main St", "13 Main St", LocationLevel.FAR),  # another house
        ("12 Main St", "12 Elm Ave", LocationLevel.FAR),
        ("12 Main St", None, LocationLevel.MISSING),
    ],
)
def test_address_levels(left, right, level):
    assert (
        both_ways(compare_address, record(address_line=left), record(address_line=right)) == level
    )


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("Ann@Example.org", "ann@example.org", ContactLevel.EXACT),
        ("ann@example.org", "anne@example.org", ContactLevel.FAR),
        ("ann@example.org", None, ContactLevel.MISSING),
    ],
)
def test_email_levels(left, right, level):
    assert both_ways(compare_email, record(email=left), record(email=right)) == level


def test_compare_records_covers_every_field_in_order():
    comparison = compare_records(
        record(family="Smith", given="Bill", birth_date="1980-05-17"),
        record(family="Smith", given="William", birth_date="1980-05-17"),
    )
    assert tuple(entry.field for entry in comparison.fields) == FIELDS
    assert comparison.level_vector() == {
        "family": "EXACT",
        "given": "ALIAS",
        "birth_date": "EXACT",
        "sex": "MISSING",
        "identifiers": "MISSING",
        "phone": "MISSING",
        "postal_code": "MISSING",
        "address": "MISSING",
        "email": "MISSING",
    }
    assert comparison.for_field("given").level == NameLevel.ALIAS
    with pytest.raises(KeyError):
        comparison.for_field("shoe_size")


def test_compare_records_treats_placeholders_as_missing():
    left = MatchRecord(phones=("5555555555",), identifiers=(("ssn", "000000000"),))
    right = MatchRecord(phones=("5555555555",), identifiers=(("ssn", "000000000"),))
    levels = compare_records(left, right).level_vector()
    assert levels["phone"] == "MISSING"
    assert levels["identifiers"] == "MISSING"


def test_compare_records_uses_the_tenant_policy():
    clinic = PlaceholderPolicy().with_extras(phones=["617-555-0100"])
    left, right = record(phones=["617-555-0100"]), record(phones=["617-555-0100"])
    assert compare_records(left, right).level_vector()["phone"] == "EXACT"
    assert compare_records(left, right, policy=clinic).level_vector()["phone"] == "MISSING"


def test_field_levels_never_list_missing():
    assert all("MISSING" not in levels for levels in FIELD_LEVELS.values())
    assert set(FIELD_LEVELS) == set(FIELDS)
