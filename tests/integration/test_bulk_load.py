"""Bulk loading: COPY through staging tables into RLS-protected tables, in batches."""

import csv
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from outbox.models import OutboxEvent
from registration.models import Patient, PatientIdentifier, PatientName
from registration.services.bulk import patients_bulk_load
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent
from tests.factories import make_tenant
from tests.patient_builders import patient_data


@pytest.mark.django_db
def test_valid_records_load_invalid_ones_are_reported():
    tenant = make_tenant()
    good = [(uuid4(), patient_data()) for _ in range(5)]
    bad = (uuid4(), patient_data(birth_date=timezone.localdate() + timedelta(days=3)))
    report = patients_bulk_load(tenant_id=tenant.id, actor=None, records=[*good, bad], batch_size=2)
    assert (report.loaded, report.rejected) == (5, 1)
    assert report.rejections == [(str(bad[0]), ["birth_date: future"])]
    with tenant_scope(tenant.id):
        assert set(Patient.objects.values_list("id", flat=True)) == {pid for pid, _ in good}
        name = PatientName.objects.filter(patient_id=good[0][0]).get()
        assert (name.family_folded, name.given_folded) == ("okafor", "adaeze")
        assert name.given_names_folded == "adaeze grace"
        assert AuditEvent.objects.get(action="patients.bulk_loaded").details["loaded"] == 5
        events = OutboxEvent.objects.filter(event_type="patient.registered")
        assert {e.payload["patient_id"] for e in events} == {str(pid) for pid, _ in good}


@pytest.mark.django_db
def test_identifier_already_in_use_is_skipped_and_counted():
    tenant = make_tenant()
    first = patient_data()
    clash = patient_data(identifiers=first.identifiers)
    report = patients_bulk_load(
        tenant_id=tenant.id, actor=None, records=[(uuid4(), first), (uuid4(), clash)]
    )
    assert (report.loaded, report.identifiers_skipped) == (2, 1)
    with tenant_scope(tenant.id):
        assert PatientIdentifier.objects.count() == 1


@pytest.mark.django_db
def test_generate_command_loads_population_and_truth(tmp_path):
    tenant = make_tenant()
    truth = tmp_path / "truth.csv"
    call_command(
        "patients_generate", tenant=tenant.slug, count=300, seed=5, truth=truth, batch_size=100
    )
    with truth.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300
    assert len({r["person_id"] for r in rows}) < 300  # some true duplicates
    with tenant_scope(tenant.id):
        assert Patient.objects.count() == 300
        assert set(Patient.objects.values_list("id", flat=True)) == {
            UUID(r["record_id"]) for r in rows
        }


@pytest.mark.django_db
def test_generate_command_errors():
    with pytest.raises(CommandError, match="No tenant"):
        call_command("patients_generate", tenant="nope", count=1)
    tenant = make_tenant()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("patients_generate", tenant=tenant.slug, count=0)
