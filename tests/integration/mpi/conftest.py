"""Shared set-up of the MPI tests: a tenant scope and patients registered through the services."""

from datetime import date

import pytest

from registration.models import Patient
from registration.services.inputs import (
    AddressInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tests.factories import make_tenant

MRN = "urn:oid:2.16.840.1.113883.19.5"
SSN = "http://hl7.org/fhir/sid/us-ssn"


def person(
    family: str,
    given: str,
    birth_date: date | None,
    *,
    gender: str = "female",
    mrn: str | None = None,
    ssn: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    line: str = "",
    postal_code: str = "",
    maiden: str | None = None,
) -> PatientInput:
    """A patient record with only what a test says (no shared household by default)."""
    names = [NameInput(family=family, given=tuple(given.split()))]
    if maiden:
        names.append(NameInput(family=maiden, given=tuple(given.split()[:1]), use="maiden"))
    identifiers = []
    if mrn:
        identifiers.append(IdentifierInput(system=MRN, value=mrn, type_code="MR"))
    if ssn:
        identifiers.append(IdentifierInput(system=SSN, value=ssn, type_code="SS"))
    telecoms = []
    if phone:
        telecoms.append(TelecomInput(system="phone", value=phone, use="mobile"))
    if email:
        telecoms.append(TelecomInput(system="email", value=email, use="home"))
    addresses = (
        (AddressInput(lines=(line,) if line else (), postal_code=postal_code),)
        if line or postal_code
        else ()
    )
    return PatientInput(
        names=tuple(names),
        gender=gender,
        birth_date=birth_date,
        identifiers=tuple(identifiers),
        telecoms=tuple(telecoms),
        addresses=addresses,
    )


def register(data: PatientInput) -> Patient:
    """Register `data` in the current tenant scope, whatever duplicates it resembles."""
    return patient_register(actor=None, data=data, duplicate_override_reason="test population")


@pytest.fixture
def tenant(db):
    return make_tenant()


@pytest.fixture
def scope(tenant):
    with tenant_scope(tenant.id):
        yield tenant
