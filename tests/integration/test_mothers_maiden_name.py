"""The mother's maiden name: an optional record field through REST (validated, masked for a
restricted patient), kept by merges, never in audit details or events."""

import json
from dataclasses import replace

import pytest
from django.test import Client

from mpi.services.merges import patients_merge
from outbox.models import OutboxEvent
from registration.console.forms import PatientForm
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tenancy.principal import Principal
from tests.factories import make_api_key, make_tenant
from tests.patient_builders import api_body, patient_data

pytestmark = pytest.mark.django_db
MAIDEN = "Oyelaran-Whitcombe"


def test_rest_stores_changes_and_validates_it_without_leaking_it():
    tenant = make_tenant()
    client = Client(headers=make_api_key(tenant, Role.FRONT_DESK).header)
    body = {**api_body(patient_data()), "mothers_maiden_name": MAIDEN}
    created = client.post("/api/v1/patients", body, content_type="application/json")
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    assert client.get(f"/api/v1/patients/{pid}").json()["mothers_maiden_name"] == MAIDEN
    patched = client.patch(
        f"/api/v1/patients/{pid}",
        {"mothers_maiden_name": "Adeyemi"},
        content_type="application/json",
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["mothers_maiden_name"] == "Adeyemi"
    too_long = client.patch(
        f"/api/v1/patients/{pid}",
        {"mothers_maiden_name": "x" * 101},
        content_type="application/json",
        headers={"If-Match": '"2"'},
    )
    assert too_long.status_code in {400, 422}
    assert [e["field"] for e in too_long.json()["errors"]] == ["mothers_maiden_name"]
    with tenant_scope(tenant.id):
        audit = json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))
        events = json.dumps(list(OutboxEvent.objects.values_list("payload", flat=True)))
        changed = AuditEvent.objects.get(action="patient.updated").details["changed"]
    assert changed == ["mothers_maiden_name"]
    for text in (audit, events):
        assert MAIDEN not in text
        assert "Adeyemi" not in text


def test_a_restricted_patient_is_listed_without_it():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        secret = patient_register(
            actor=None,
            data=patient_data(confidentiality="restricted", mothers_maiden_name=MAIDEN),
        )
    client = Client(headers=make_api_key(tenant, Role.FRONT_DESK).header)
    listed = client.get("/api/v1/patients", {"family": "okafor"})
    assert listed.status_code == 200
    (row,) = [r for r in listed.json()["results"] if r["id"] == str(secret.id)]
    assert row["masked"] is True
    assert row["mothers_maiden_name"] == ""
    assert MAIDEN not in listed.content.decode()
    fhir = client.get("/fhir/Patient", {"_id": str(secret.id)})
    assert fhir.status_code == 200
    assert MAIDEN not in fhir.content.decode()
    found = client.get("/fhir/Patient", {"mothersMaidenName": "Oyel"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(secret.id)]
    assert "extension" not in found["entry"][0]["resource"]


def test_a_merge_keeps_the_only_value_and_the_console_form_carries_it():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        survivor = patient_register(actor=None, data=patient_data())
        subsumed = patient_register(
            actor=None,
            data=patient_data(mothers_maiden_name=MAIDEN),
            duplicate_override_reason="test: a second record of one person",
        )
        patients_merge(
            actor=Principal(tenant_id=tenant.id, roles=frozenset({Role.DATA_STEWARD})),
            survivor_id=survivor.id,
            subsumed_id=subsumed.id,
            field_choices=None,
            reason="same person",
            expected_versions={survivor.id: 1, subsumed.id: 1},
        )
        survivor.refresh_from_db()
    assert survivor.mothers_maiden_name == MAIDEN
    data = replace(patient_data(), mothers_maiden_name=MAIDEN)
    assert PatientForm.initial_of(data)["mothers_maiden_name"] == MAIDEN
