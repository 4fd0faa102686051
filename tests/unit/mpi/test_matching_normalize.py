"""Normalization: folding, names, nicknames, dates, phones, codes and placeholder policy."""

from datetime import UTC, date, datetime

import pytest

from mpi.matching.normalize import (
    NICKNAME_GROUPS,
    PartialDate,
    PlaceholderPolicy,
    are_given_name_aliases,
    fold_text,
    name_key,
    name_tokens,
    normalize_address,
    normalize_email,
    normalize_identifier_system,
    normalize_identifier_value,
    normalize_name,
    normalize_phone,
    normalize_postal_code,
    normalize_sex,
    parse_partial_date,
    phonetic_keys,
    significant_name_tokens,
)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("García-López", "garcia lopez"),
        ("  ÉMILE   Zoë ", "emile zoe"),
        ("Søren Łukasz", "soren lukasz"),
        ("Straße", "strasse"),
        ("O'Brien", "o brien"),
        ("ÆSIR Œuvre", "aesir oeuvre"),
        ("ﬁnn", "finn"),  # compatibility ligature
        ("---", ""),
    ],
)
def test_fold_text_strips_accents_case_and_punctuation(raw, folded):
    assert fold_text(raw) == folded


def test_normalize_name_drops_titles_and_suffixes():
    assert normalize_name("Dr. John Smith Jr.") == "john smith"
    assert normalize_name("Jr.") is None
    assert normalize_name(None) is None


def test_compound_surname_parts_and_joined_key():
    assert normalize_name("García-López") == "garcia lopez"
    assert name_tokens("garcia lopez") == ("garcia", "lopez")
    assert normalize_name("van der Berg") == "van der berg"
    assert name_key("van der berg") == name_key("vanderberg") == "vanderberg"
    assert normalize_name("O'Brien") == "o brien"
    assert name_key("o brien") == "obrien"


def test_significant_tokens_ignore_particles_and_initials():
    assert significant_name_tokens("de la cruz") == frozenset({"cruz"})
    assert significant_name_tokens("van der berg j") == frozenset({"berg"})


def test_phonetic_keys_are_nysiis_and_metaphone_of_the_joined_name():
    assert phonetic_keys("smith") == ("SNAT", "SM0")
    assert phonetic_keys("smyth")[1] == phonetic_keys("smith")[1]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("William", "Bill"),
        ("bill", "Billy"),
        ("Robert", "Bob"),
        ("Elizabeth", "Liz"),
        ("Beth", "Betty"),
        ("Margaret", "Peggy"),
        ("Maggie", "Margaret"),
        ("Harry", "Harold"),
        ("Harry", "Henry"),
        ("Mary Ann", "Molly"),  # first part of a compound given name
        ("José", "jose"),  # same name
    ],
)
def test_known_nicknames_are_aliases(left, right):
    assert are_given_name_aliases(left, right)
    assert are_given_name_aliases(right, left)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Harold", "Henry"),  # both alias Harry, but are not aliases of each other
        ("William", "Robert"),
        ("Xavier", "Bill"),
        ("Bill", None),
        (None, None),
    ],
)
def test_unrelated_names_are_not_aliases(left, right):
    assert not are_given_name_aliases(left, right)


def test_nickname_table_is_substantial():
    assert len(NICKNAME_GROUPS) >= 100
    assert all(len(group) >= 2 for group in NICKNAME_GROUPS)


class TestPartialDate:
    def test_precision_and_isoformat(self):
        assert PartialDate(1980).isoformat() == "1980"
        assert PartialDate(1980, 5).isoformat() == "1980-05"
        assert PartialDate(1980, 5, 7).isoformat() == "1980-05-07"
        assert PartialDate(1980, 5, 7).is_complete
        assert not PartialDate(1980, 5).is_complete
        assert PartialDate(2000, 2, 29).is_complete  # leap day

    def test_from_date(self):
        assert PartialDate.from_date(date(1980, 5, 17)) == PartialDate(1980, 5, 17)

    @pytest.mark.parametrize(
        ("year", "month", "day"),
        [
            (0, None, None),
            (10000, None, None),
            (1980, None, 5),
            (1980, 13, None),
            (1980, 0, None),
            (1981, 2, 29),
            (1980, 4, 31),
            (1980, 4, 0),
        ],
    )
    def test_impossible_dates_are_rejected(self, year, month, day):
        with pytest.raises(ValueError, match=r"range|needs"):
            PartialDate(year, month, day)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("1980", PartialDate(1980)),
        ("1980-05", PartialDate(1980, 5)),
        ("1980-05-17", PartialDate(1980, 5, 17)),
        (" 1980/5/7 ", PartialDate(1980, 5, 7)),
        (date(1980, 5, 17), PartialDate(1980, 5, 17)),
        (datetime(1980, 5, 17, 13, 45, tzinfo=UTC), PartialDate(1980, 5, 17)),
        (PartialDate(1980, 5), PartialDate(1980, 5)),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_parse_partial_date(raw, parsed):
    assert parse_partial_date(raw) == parsed


@pytest.mark.parametrize("raw", ["17/05/1980", "May 1980", "1980-13", "1980-02-30", "80-05-17"])
def test_parse_partial_date_rejects_malformed_input(raw):
    with pytest.raises(ValueError, match=r"date|range"):
        parse_partial_date(raw)


@pytest.mark.parametrize(
    ("raw", "country_code", "normalized"),
    [
        ("+1 (617) 555-0100", None, "6175550100"),
        ("617.555.0100", None, "6175550100"),
        ("1-617-555-0100", None, "6175550100"),
        ("+353 1 234 5678", "353", "12345678"),
        ("+353 1 234 5678", None, "5312345678"),  # without the code, the last ten digits
        ("+44 20 7946 0958", "44", "2079460958"),
        ("555-0100", None, "5550100"),
        ("555-01", None, None),
        (None, None, None),
    ],
)
def test_normalize_phone(raw, country_code, normalized):
    assert normalize_phone(raw, country_code=country_code) == normalized


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("02139-4307", "02139"),
        ("021394307", "02139"),
        ("02139", "02139"),
        ("sw1a 1aa", "SW1A1AA"),
        ("H3Z-2Y7", "H3Z2Y7"),
        (" - ", None),
        (None, None),
    ],
)
def test_normalize_postal_code(raw, normalized):
    assert normalize_postal_code(raw) == normalized


def test_normalize_email():
    assert normalize_email(" John.Doe@Example.COM ") == "john.doe@example.com"
    assert normalize_email("not-an-email") is None
    assert normalize_email("a@b@c") is None
    assert normalize_email(None) is None


def test_normalize_identifier_parts():
    assert normalize_identifier_system(" SSN ") == "ssn"
    assert normalize_identifier_system("   ") is None
    assert normalize_identifier_system(None) is None
    assert normalize_identifier_value("000-12-3456") == "000123456"
    assert normalize_identifier_value("ab 12-c") == "AB12C"
    assert normalize_identifier_value("--") is None
    assert normalize_identifier_value(None) is None


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("M", "male"),
        ("Female", "female"),
        ("x", "other"),
        ("Non-binary", "other"),
        ("unknown", "unknown"),
        ("U", "unknown"),
        ("garbage", "unknown"),
        (None, None),
    ],
)
def test_normalize_sex(raw, normalized):
    assert normalize_sex(raw) == normalized


def test_normalize_address_abbreviates_street_types():
    assert normalize_address("12 Main Street, Apartment 4") == "12 main st apt 4"
    assert normalize_address("12 MAIN ST. APT #4") == "12 main st apt 4"
    assert normalize_address("  ") is None
    assert normalize_address(None) is None


class TestPlaceholderPolicy:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", "UNKNOWN"),
            ("name", "unk"),
            ("name", "Baby Boy"),
            ("name", "BABY-GIRL"),
            ("name", "John Doe"),
            ("name", "JANE DOE"),
            ("name", "Test"),
            ("name", "patient"),
            ("identifier", "000-00-0000"),
            ("identifier", "999-99-9999"),
            ("identifier", "123-45-6789"),
            ("identifier", "111111111"),
            ("identifier", "7777"),
            ("identifier", "0000"),
            ("phone", "(000) 000-0000"),
            ("phone", "555-555-5555"),
            ("phone", "+1 555 555 5555"),
            ("phone", "123-456-7890"),
            ("phone", "2222222222"),
            ("email", "NONE@none.com"),
            ("postal_code", "00000"),
            ("address", "Homeless"),
            ("birth_date", "1900-01-01"),
        ],
    )
    def test_default_placeholders(self, field, value):
        assert PlaceholderPolicy().is_placeholder(field, value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", "Doe"),
            ("name", "Smith"),
            ("name", "---"),
            ("identifier", "123-45-6780"),
            ("identifier", "AAAAAAAA"),
            ("identifier", "777"),  # too short to be a typed-over default
            ("identifier", "7"),
            ("phone", "617-555-0100"),
            ("phone", "12"),
            ("email", "jane@example.com"),
            ("postal_code", "02139"),
            ("address", "12 Main St"),
            ("birth_date", "1980-05-17"),
            ("birth_date", "not a date"),
        ],
    )
    def test_real_values_are_not_placeholders(self, field, value):
        assert not PlaceholderPolicy().is_placeholder(field, value)

    def test_tenant_extras_are_normalized_and_added(self):
        default = PlaceholderPolicy()
        tenant = default.with_extras(
            phones=["+1 (617) 555-0100", "12"],
            names=["NO NAME"],
            identifiers=["MRN-0"],
            emails=["front.desk@clinic.org"],
            postal_codes=["02139"],
            addresses=["1 Clinic Way"],
            birth_dates=["1970-01-01"],
        )
        assert tenant.is_placeholder("phone", "617.555.0100")
        assert tenant.is_placeholder("name", "no-name")
        assert tenant.is_placeholder("identifier", "mrn0")
        assert tenant.is_placeholder("email", "Front.Desk@clinic.org")
        assert tenant.is_placeholder("postal_code", "02139-1234")
        assert tenant.is_placeholder("address", "1 clinic way")
        assert tenant.is_placeholder("birth_date", "1970-01-01")
        assert tenant.is_placeholder("name", "Baby Girl")  # defaults kept
        assert not default.is_placeholder("phone", "617.555.0100")  # original unchanged
        assert "12" not in tenant.values_for("phone")  # unusable extras are dropped

    def test_replacing_defaults_normalizes_given_values(self):
        policy = PlaceholderPolicy(names=frozenset({"Baby Boy"}))
        assert policy.values_for("name") == frozenset({"baby boy"})
        assert not policy.is_placeholder("name", "unknown")
