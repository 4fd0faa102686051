"""Identifier minting: SSN issuance rules, MRN check digits, uniqueness, OID systems."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registration.synthetic import (
    SSN_SYSTEM,
    drivers_license_system,
    facility_systems,
    luhn_is_valid,
    ssn_is_valid,
)
from registration.synthetic.identifiers import (
    SSN_SPACE,
    IdentifierFactory,
    UniqueCodeSequence,
    ssn_from_index,
    tenant_number,
)


def seeded(seed):
    """A reproducible rng for test data (not for secrets)."""
    return random.Random(seed)  # noqa: S311 - deterministic synthetic test data


@pytest.mark.parametrize("value", ["001-01-0001", "123-45-6789", "665-99-9999", "899-12-3456"])
def test_issuable_ssns_are_valid(value):
    assert ssn_is_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "000-12-3456",  # area 000 never issued
        "666-12-3456",  # area 666 never issued
        "900-12-3456",  # 9xx reserved (ITINs, advertising)
        "987-65-4321",
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
        "123456789",
        "123-45-678",
        "12a-45-6789",
        " 123-45-6789",
    ],
)
def test_unissuable_or_malformed_ssns_are_invalid(value):
    assert not ssn_is_valid(value)


@given(st.integers(min_value=0, max_value=SSN_SPACE - 1))
def test_every_ssn_index_maps_to_a_valid_ssn(index):
    assert ssn_is_valid(ssn_from_index(index))


@given(st.lists(st.integers(min_value=0, max_value=SSN_SPACE - 1), min_size=2, max_size=30))
def test_distinct_ssn_indexes_give_distinct_ssns(indexes):
    assert len({ssn_from_index(i) for i in indexes}) == len(set(indexes))


def test_ssn_indexes_cover_both_ends_of_the_issuable_range():
    assert ssn_from_index(0) == "001-01-0001"
    assert ssn_from_index(SSN_SPACE - 1) == "899-99-9999"
    assert ssn_from_index(665 * 99 * 9999) == "667-01-0001"  # 666 skipped


@pytest.mark.parametrize("index", [-1, SSN_SPACE])
def test_ssn_index_out_of_range_is_rejected(index):
    with pytest.raises(ValueError, match="SSN index"):
        ssn_from_index(index)


def test_unique_code_sequence_is_a_permutation_until_exhausted():
    sequence = UniqueCodeSequence(12, seeded(3))
    values = [sequence.next_value() for _ in range(12)]
    assert sorted(values) == list(range(12))
    with pytest.raises(OverflowError):
        sequence.next_value()


def test_unique_code_sequence_needs_a_real_space():
    with pytest.raises(ValueError, match="at least two"):
        UniqueCodeSequence(1, seeded(0))


def test_factory_mints_unique_valid_identifiers():
    factory = IdentifierFactory("clinic-a", seeded(11))
    ssns = [factory.new_ssn() for _ in range(5000)]
    mrns = [factory.new_mrn(index % 3) for index in range(5000)]
    licences = [factory.new_drivers_license("TX") for _ in range(5000)]
    assert all(ssn.system == SSN_SYSTEM and ssn.type_code == "SS" for ssn in ssns)
    assert all(ssn_is_valid(ssn.value) for ssn in ssns)
    assert len({ssn.value for ssn in ssns}) == 5000
    assert all(len(mrn.value) == 10 and luhn_is_valid(mrn.value) for mrn in mrns)
    assert {mrn.system for mrn in mrns} == set(facility_systems("clinic-a"))
    assert len({mrn.value for mrn in mrns}) == 5000
    assert all(lic.system == "urn:oid:2.16.840.1.113883.4.3.48" for lic in licences)
    assert all(lic.value[0].isupper() and lic.value[1:].isdigit() for lic in licences)
    assert len({lic.value for lic in licences}) == 5000


def test_facility_systems_are_stable_per_tenant_and_differ_between_tenants():
    systems = facility_systems("demo")
    assert systems == facility_systems("demo")
    assert len(systems) == 3
    assert systems[0] == f"urn:oid:2.16.840.1.113883.3.{tenant_number('demo')}.1"
    assert set(systems).isdisjoint(facility_systems("other-tenant"))


def test_drivers_license_system_uses_the_state_fips_code():
    assert drivers_license_system("CA") == "urn:oid:2.16.840.1.113883.4.3.6"
    with pytest.raises(KeyError):
        drivers_license_system("XX")
