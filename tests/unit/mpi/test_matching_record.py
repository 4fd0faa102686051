"""MatchRecord: raw values in, normalized values out, placeholders gone."""

import pytest

from mpi.matching.normalize import PartialDate, PlaceholderPolicy
from mpi.matching.record import MatchRecord


def test_from_raw_normalizes_every_field():
    record = MatchRecord.from_raw(
        "r1",
        family="García-López",
        given="José",
        middle="María",
        birth_date="1980-05",
        sex="F",
        identifiers=[("SSN", "123-45-6780"), (" ssn ", "123456780"), ("MRN", "a-17")],
        phones=["+1 (617) 555-0100", "617.555.0100", "555-01", "0044 20 7946 0958"],
        postal_code="02139-4307",
        address_line="12 Main Street",
        email=" Jose@Example.org ",
    )
    assert record == MatchRecord(
        record_id="r1",
        family="garcia lopez",
        given="jose",
        middle="maria",
        birth_date=PartialDate(1980, 5),
        sex="female",
        identifiers=(("mrn", "A17"), ("ssn", "123456780")),
        phones=("2079460958", "6175550100"),
        postal_code="02139",
        address_line="12 main st",
        email="jose@example.org",
    )


def test_from_raw_drops_unusable_identifiers():
    record = MatchRecord.from_raw(identifiers=[("  ", "123"), ("mrn", "--"), ("mrn", "9")])
    assert record.identifiers == (("mrn", "9"),)


def test_from_raw_uses_the_tenant_country_code():
    record = MatchRecord.from_raw(phones=["+353 1 234 5678"], country_code="353")
    assert record.phones == ("12345678",)


def test_all_fields_default_to_unknown():
    record = MatchRecord.from_raw()
    assert record == MatchRecord()
    assert record.sex is None


def test_malformed_birth_date_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="date"):
        MatchRecord.from_raw(birth_date="17/05/1980")


def test_placeholders_become_unknown():
    record = MatchRecord.from_raw(
        family="Smith",
        given="BABY GIRL",
        middle="unknown",
        birth_date="1900-01-01",
        identifiers=[("ssn", "000-00-0000"), ("mrn", "42")],
        phones=["555-555-5555", "617-555-0100"],
        postal_code="00000",
        address_line="HOMELESS",
        email="none@none.com",
    )
    assert record.family == "smith"
    assert record.given is None
    assert record.middle is None
    assert record.birth_date is None
    assert record.identifiers == (("mrn", "42"),)
    assert record.phones == ("6175550100",)
    assert record.postal_code is None
    assert record.address_line is None
    assert record.email is None


def test_whole_name_placeholder_removes_both_parts():
    record = MatchRecord.from_raw(family="Doe", given="John")
    assert (record.family, record.given) == (None, None)
    assert MatchRecord.from_raw(family="Doe", given="Jane").family is None
    assert MatchRecord.from_raw(family="Doe", given="Richard").family == "doe"


def test_tenant_policy_is_applied():
    clinic = PlaceholderPolicy().with_extras(phones=["617-555-0100"])
    record = MatchRecord.from_raw(phones=["(617) 555-0100"], policy=clinic)
    assert record.phones == ()
    assert MatchRecord.from_raw(phones=["(617) 555-0100"]).phones == ("6175550100",)


def test_without_placeholders_cleans_directly_built_records():
    record = MatchRecord(
        family="unknown",
        given="pat",
        identifiers=(("ssn", "999999999"),),
        phones=("1234567890",),
        birth_date=PartialDate(1980, 1, 1),
    )
    cleaned = record.without_placeholders(PlaceholderPolicy())
    assert cleaned == MatchRecord(given="pat", birth_date=PartialDate(1980, 1, 1))
