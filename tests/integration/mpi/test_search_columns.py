"""The matching keys on patient names are kept by the registration services and the bulk
loader alike (never by signals), so online and bulk-loaded patients block the same way."""

import uuid
from dataclasses import replace
from datetime import date

import pytest

from registration.models import PatientName
from registration.services.bulk import patients_bulk_load
from registration.services.inputs import NameInput
from registration.services.patients import patient_patch, patient_update
from tenancy.db import tenant_scope
from tests.integration.mpi.conftest import person, register

pytestmark = pytest.mark.django_db

COLUMNS = (
    "family_folded",
    "given_folded",
    "given_names_folded",
    "family_phonetic",
    "given_phonetic",
    "birth_year",
)


def keys(patient_id):
    return list(
        PatientName.objects.filter(patient_id=patient_id).order_by("position").values_list(*COLUMNS)
    )


def test_registration_derives_the_keys(scope):
    patient = register(person("García-López", "José María", date(1980, 4, 5), maiden="Eze"))
    assert keys(patient.id) == [
        ("garcia lopez", "jose", "jose maria", "KRXLPS", "JS", 1980),
        ("eze", "jose", "jose", "ES", "JS", 1980),
    ]


def test_a_birth_date_change_alone_moves_every_name_row(scope):
    data = person("Okafor", "Adaeze", date(1987, 3, 14), maiden="Eze")
    patient = register(data)
    patient_patch(
        actor=None, patient_id=patient.id, expected_version=1, changes={"birth_date": None}
    )
    assert [row[-1] for row in keys(patient.id)] == [None, None]
    patient_update(
        actor=None,
        patient_id=patient.id,
        expected_version=2,
        data=replace(data, birth_date=date(1988, 1, 2)),
    )
    assert [row[-1] for row in keys(patient.id)] == [1988, 1988]


def test_a_name_change_rekeys_the_rows(scope):
    data = person("Okafor", "Adaeze", date(1987, 3, 14))
    patient = register(data)
    patient_update(
        actor=None,
        patient_id=patient.id,
        expected_version=1,
        data=replace(data, names=(NameInput(family="Wright", given=("Ada",)),)),
    )
    assert keys(patient.id) == [("wright", "ada", "ada", "RT", "AT", 1987)]


def test_bulk_load_and_registration_store_the_same_keys(tenant):
    data = person("Nguyễn", "Thị Mai", date(1990, 12, 1), maiden="Trần")
    patient_id = uuid.uuid4()
    patients_bulk_load(tenant_id=tenant.id, actor=None, records=[(patient_id, data)])
    with tenant_scope(tenant.id):
        online = register(data)
        assert keys(patient_id) == keys(online.id)
        assert keys(patient_id)[0] == ("nguyen", "thi", "thi mai", "NKYN", "0", 1990)
