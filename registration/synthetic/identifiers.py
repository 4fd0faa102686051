"""Identifier systems and unique, valid-looking identifier values for synthetic records.

Matching benchmarks lean heavily on identifiers, so they must behave like real ones: SSNs avoid
the areas the SSA does not issue (000, 666, 9xx), MRNs carry a check digit, driver's licences
live in the per-state HL7 OID arc, and no two synthetic people share an SSN or licence by
accident (a collision would be a false "true match" signal in the benchmark).
"""

from __future__ import annotations

import math
import random
import re
import zlib
from typing import NamedTuple

from registration.synthetic.checksums import luhn_check_digit_of_int

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
"""FHIR identifier system for US Social Security numbers."""

MRN_SYSTEM_ROOT = "urn:oid:2.16.840.1.113883.3"
"""OID arc under which synthetic facility MRN systems are minted (`<root>.<tenant>.<facility>`)."""

DRIVERS_LICENSE_SYSTEM_ROOT = "urn:oid:2.16.840.1.113883.4.3"
"""HL7 OID arc for US driver's licences; the state's FIPS code is the last arc."""

MRN_TYPE = "MR"
SSN_TYPE = "SS"
DRIVERS_LICENSE_TYPE = "DL"

FACILITIES_PER_TENANT = 3

STATE_FIPS: dict[str, int] = {
    "AL": 1, "AK": 2, "AZ": 4, "AR": 5, "CA": 6, "CO": 8, "CT": 9, "DE": 10, "DC": 11,
    "FL": 12, "GA": 13, "HI": 15, "ID": 16, "IL": 17, "IN": 18, "IA": 19, "KS": 20, "KY": 21,
    "LA": 22, "ME": 23, "MD": 24, "MA": 25, "MI": 26, "MN": 27, "MS": 28, "MO": 29, "MT": 30,
    "NE": 31, "NV": 32, "NH": 33, "NJ": 34, "NM": 35, "NY": 36, "NC": 37, "ND": 38, "OH": 39,
    "OK": 40, "OR": 41, "PA": 42, "RI": 44, "SC": 45, "SD": 46, "TN": 47, "TX": 48, "UT": 49,
    "VT": 50, "VA": 51, "WA": 53, "WV": 54, "WI": 55, "WY": 56,
}  # fmt: skip
"""US states (and DC) with their FIPS codes, used for licence systems and home states."""

_SSN_AREAS = 898  # 001-899 without 666
_SSN_GROUPS = 99  # 01-99
_SSN_SERIALS = 9999  # 0001-9999
SSN_SPACE = _SSN_AREAS * _SSN_GROUPS * _SSN_SERIALS
"""How many distinct issuable SSNs exist (and so how many people can get one)."""
_SSN_PATTERN = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_MRN_BODY_LOW = 100_000_000  # nine-digit body without a leading zero, then a check digit
_MRN_BODY_SPACE = 900_000_000
_LICENCE_DIGITS = 10_000_000
_LICENCE_SPACE = 26 * _LICENCE_DIGITS


class Identifier(NamedTuple):
    """One business identifier of a record, shaped like a FHIR Identifier (system, value, type)."""

    system: str
    value: str
    type_code: str


def tenant_number(tenant_label: str) -> int:
    """Derive a stable numeric OID arc for a tenant so MRN systems differ between tenants."""
    return zlib.crc32(tenant_label.encode("utf-8")) % 100_000


def facility_systems(tenant_label: str) -> tuple[str, ...]:
    """Return the MRN identifier systems of the tenant's facilities, primary facility first."""
    number = tenant_number(tenant_label)
    return tuple(
        f"{MRN_SYSTEM_ROOT}.{number}.{facility}" for facility in range(1, FACILITIES_PER_TENANT + 1)
    )


def drivers_license_system(state: str) -> str:
    """Return the HL7 driver's licence identifier system of a US state (by postal code)."""
    return f"{DRIVERS_LICENSE_SYSTEM_ROOT}.{STATE_FIPS[state]}"


def ssn_is_valid(value: str) -> bool:
    """Tell whether `value` is NNN-NN-NNNN with an issuable area, and non-zero group and serial."""
    match = _SSN_PATTERN.fullmatch(value)
    if match is None:
        return False
    area, group, serial = (int(part) for part in match.groups())
    return 0 < area < 900 and area != 666 and group != 0 and serial != 0


def ssn_from_index(index: int) -> str:
    """Map 0 <= index < SSN_SPACE one-to-one onto the issuable SSNs, formatted NNN-NN-NNNN.

    Areas run 001-899 skipping 666, groups 01-99 and serials 0001-9999, so every index gives a
    value `ssn_is_valid` accepts and distinct indexes give distinct SSNs.
    """
    if not 0 <= index < SSN_SPACE:
        raise ValueError(f"SSN index must be within [0, {SSN_SPACE}), got {index}")
    area_index, rest = divmod(index, _SSN_GROUPS * _SSN_SERIALS)
    group_index, serial_index = divmod(rest, _SSN_SERIALS)
    area = area_index + 1
    if area >= 666:
        area += 1
    return f"{area:03d}-{group_index + 1:02d}-{serial_index + 1:04d}"


class UniqueCodeSequence:
    """Hands out distinct, scattered integers in [0, size) without remembering past ones.

    An affine map `index -> (multiplier * index + offset) mod size` with a multiplier coprime to
    `size` is a bijection, so consecutive indexes give distinct values in O(1) memory; that keeps
    identifiers unique across a million-record stream while the generator stays streaming.
    """

    __slots__ = ("_multiplier", "_next_index", "_offset", "_size")

    def __init__(self, size: int, rng: random.Random) -> None:
        """Draw the bijection's parameters from `rng` so the sequence is reproducible per seed."""
        if size < 2:
            raise ValueError("A unique code sequence needs a space of at least two values")
        multiplier = rng.randrange(size // 3, size)
        while math.gcd(multiplier, size) != 1:
            multiplier = multiplier % (size - 1) + 1
        self._size = size
        self._multiplier = multiplier
        self._offset = rng.randrange(size)
        self._next_index = 0

    def next_value(self) -> int:
        """Return the next unused value; raise OverflowError once the space is exhausted."""
        index = self._next_index
        if index >= self._size:
            raise OverflowError(f"All {self._size} unique codes of this sequence are used")
        self._next_index = index + 1
        return (self._multiplier * index + self._offset) % self._size


class IdentifierFactory:
    """Mints unique SSNs, MRNs and driver's licences for one generated population."""

    __slots__ = ("_licences", "_mrns", "_ssns", "facility_systems")

    def __init__(self, tenant_label: str, rng: random.Random) -> None:
        """Prepare per-population unique sequences drawn from `rng`."""
        self.facility_systems = facility_systems(tenant_label)
        self._ssns = UniqueCodeSequence(SSN_SPACE, rng)
        self._mrns = UniqueCodeSequence(_MRN_BODY_SPACE, rng)
        self._licences = UniqueCodeSequence(_LICENCE_SPACE, rng)

    def new_mrn(self, facility_index: int) -> Identifier:
        """Return a never-used MRN (nine digits plus Luhn digit) in the given facility's system."""
        body = _MRN_BODY_LOW + self._mrns.next_value()
        value = f"{body}{luhn_check_digit_of_int(body)}"
        return Identifier(self.facility_systems[facility_index], value, MRN_TYPE)

    def new_ssn(self) -> Identifier:
        """Return a never-used SSN with an issuable area (001-899 except 666)."""
        return Identifier(SSN_SYSTEM, ssn_from_index(self._ssns.next_value()), SSN_TYPE)

    def new_drivers_license(self, state: str) -> Identifier:
        """Return a never-used licence number (a letter and seven digits) issued by `state`."""
        letter_index, digits = divmod(self._licences.next_value(), _LICENCE_DIGITS)
        return Identifier(
            drivers_license_system(state),
            f"{chr(65 + letter_index)}{digits:07d}",
            DRIVERS_LICENSE_TYPE,
        )
