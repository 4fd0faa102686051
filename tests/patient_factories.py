"""Patients for tests, registered through the real services inside the tenant's scope."""

from datetime import date
from typing import Any

from registration.models import Patient
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.models import Tenant
from tenancy.principal import Principal

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def patient_input(
    *,
    family: str = "Lovelace",
    given: tuple[str, ...] = ("Ada",),
    birth_date: date | None = date(1985, 12, 10),
    gender: str = "female",
    mrn: str | None = "MRN-1001",
    phone: str | None = "+1 555 010 1001",
    city: str = "Springfield",
    postal_code: str = "12345",
) -> PatientInput:
    """A plausible, valid record; pass None to leave the MRN or phone out."""
    return PatientInput(
        names=(NameInput(family=family, given=given),),
        gender=gender,
        birth_date=birth_date,
        identifiers=(
            (IdentifierInput(system=MRN_SYSTEM, value=mrn, type_code="MR"),) if mrn else ()
        ),
        telecoms=(TelecomInput(system="phone", value=phone, use="mobile"),) if phone else (),
        addresses=(AddressInput(lines=("1 Main Street",), city=city, postal_code=postal_code),),
        contacts=(ContactInput(relationship="N", family=family, given=("Byron",)),),
    )


def make_patient(
    tenant: Tenant,
    *,
    actor: Principal | None = None,
    duplicate_override_reason: str | None = None,
    data: PatientInput | None = None,
    **fields: Any,
) -> Patient:
    """Register a patient in `tenant` (fields as for patient_input, or a whole `data`)."""
    with tenant_scope(tenant.id):
        return patient_register(
            actor=actor,
            data=data or patient_input(**fields),
            duplicate_override_reason=duplicate_override_reason,
        )
