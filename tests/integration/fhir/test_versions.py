"""Retained versions: vread returns any version exactly as it was, history lists them all
newest first, restricted rules hold for old versions, and records whose earlier versions were
never kept answer what they can."""

from datetime import date
from typing import Any
from uuid import UUID

import pytest
from django.test import Client

from mpi.services.merges import patients_merge, patients_unmerge
from registration.models import Patient, PatientVersion
from registration.services.access import access_grant_revoke, break_glass_open
from registration.services.inputs import IdentifierInput, NameInput
from registration.services.patients import identifier_add, patient_register
from registration.services.vital_status import DeathDate, vital_status_record_death
from tenancy.db import tenant_scope
from tenancy.models import Role
from tenancy.principal import Principal
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import FHIR_JSON, full_patient, strict_parse
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
RESTRICTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    "code": "R",
    "display": "restricted",
}


@pytest.fixture
def world() -> dict[str, Any]:
    tenant = make_tenant()
    key = make_api_key(tenant, Role.INTEGRATOR)
    steward = make_api_key(tenant, Role.DATA_STEWARD)
    return {
        "tenant": tenant,
        "key": key,
        "client": Client(headers=key.header),
        "steward": Client(headers=steward.header),
    }


def _put(client: Client, body: dict[str, Any], version: int) -> dict[str, Any]:
    response = client.put(
        f"/fhir/Patient/{body['id']}",
        body,
        content_type=FHIR_JSON,
        headers={"If-Match": f'W/"{version}"'},
    )
    assert response.status_code == 200, response.content
    result: dict[str, Any] = response.json()
    return result


def _vread(client: Client, patient_id: Any, version: int) -> dict[str, Any]:
    response = client.get(f"/fhir/Patient/{patient_id}/_history/{version}")
    assert response.status_code == 200, response.content
    assert response["ETag"] == f'W/"{version}"'
    body: dict[str, Any] = response.json()
    strict_parse(body)
    return body


def test_every_version_reads_back_exactly_as_it_was_after_later_edits(world):
    client = world["client"]
    created = client.post("/fhir/Patient", full_patient("MRN-V1"), content_type=FHIR_JSON)
    assert created.status_code == 201, created.content
    v1 = created.json()
    pid = v1["id"]
    renamed = {**v1, "gender": "other", "name": [{"family": "Renamed", "given": ["Ada"]}]}
    renamed["extension"] = [renamed["extension"][1]]  # the mother's maiden name removed
    v2 = _put(client, renamed, 1)
    with tenant_scope(world["tenant"].id):
        identifier_add(
            actor=None,
            patient_id=UUID(pid),
            identifier=IdentifierInput(system="urn:oid:1.2.3.77", value="EXTRA-1"),
        )
        vital_status_record_death(
            actor=None,
            patient_id=UUID(pid),
            expected_version=3,
            death=DeathDate(date(2026, 1, 5)),
            source="hospital",
            channel="rest",
        )
    for version, expected in ((1, v1), (2, v2)):
        assert _vread(client, pid, version) == expected
    v3 = _vread(client, pid, 3)
    assert v3["identifier"][-1]["value"] == "EXTRA-1"
    assert "deceasedDateTime" not in v3
    v4 = _vread(client, pid, 4)
    assert v4["deceasedDateTime"] == "2026-01-05"
    assert v4 == client.get(f"/fhir/Patient/{pid}").json()

    history = client.get(f"/fhir/Patient/{pid}/_history").json()
    strict_parse(history)
    assert history["type"] == "history"
    assert history["total"] == 4
    entries = history["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert [e["resource"] for e in entries] == [v4, v3, v2, v1]
    assert entries[-1]["request"] == {"method": "POST", "url": "Patient"}
    assert entries[-1]["response"]["status"] == "201 Created"
    assert entries[0]["request"] == {"method": "PUT", "url": f"Patient/{pid}"}
    assert [e["response"]["lastModified"] for e in entries] == [
        e["resource"]["meta"]["lastUpdated"] for e in entries
    ]
    missing = client.get(f"/fhir/Patient/{pid}/_history/5")
    assert missing.status_code == 404
    assert "No such version" in missing.json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Patient/{pid}/_history/x").status_code == 404
    unsupported = client.get(f"/fhir/Patient/{pid}/_history", {"_since": "2026-01-01"})
    assert unsupported.status_code == 400
    assert unsupported.json()["issue"][0]["code"] == "invalid"


def test_merge_and_unmerge_keep_both_records_versions(world):
    client = world["client"]
    tenant = world["tenant"]
    with tenant_scope(tenant.id):
        survivor = patient_register(actor=None, data=patient_data())
        subsumed = patient_register(
            actor=None,
            data=patient_data(names=(NameInput(family="Okafor", given=("Ada",)),)),
            duplicate_override_reason="test: a second record of one person",
        )
    before = {p.id: _vread(client, p.id, 1) for p in (survivor, subsumed)}
    steward = Principal(tenant_id=tenant.id, roles=frozenset({Role.DATA_STEWARD}))
    with tenant_scope(tenant.id):
        merge = patients_merge(
            actor=steward,
            survivor_id=survivor.id,
            subsumed_id=subsumed.id,
            field_choices=None,
            reason="same person",
            expected_versions={survivor.id: 1, subsumed.id: 1},
        )
    merged = _vread(client, subsumed.id, 2)
    assert merged["active"] is False
    assert merged["link"] == [
        {"other": {"reference": f"Patient/{survivor.id}"}, "type": "replaced-by"}
    ]
    with tenant_scope(tenant.id):
        patients_unmerge(actor=steward, merge_id=merge.id, reason="not the same person")
    for patient in (survivor, subsumed):
        assert _vread(client, patient.id, 1) == before[patient.id]
    assert _vread(client, subsumed.id, 2) == merged
    restored = _vread(client, subsumed.id, 3)
    assert restored["active"] is True
    assert "link" not in restored


def test_restricted_rules_hold_for_old_versions(world):
    client, tenant = world["client"], world["tenant"]
    created = client.post(
        "/fhir/Patient",
        full_patient("MRN-V2", meta={"security": [RESTRICTED]}),
        content_type=FHIR_JSON,
    )
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    # A grant lets the integrator lift the restriction (version 2 is normal).
    me = Principal(
        tenant_id=tenant.id, roles=frozenset({Role.INTEGRATOR}), api_key_id=world["key"].id
    )
    with tenant_scope(tenant.id):
        grant = break_glass_open(
            actor=me,
            patient_id=UUID(pid),
            reason_category="emergency",
            reason_text="Unconscious in the emergency room",
        )
    opened = client.get(f"/fhir/Patient/{pid}").json()
    _put(client, {**opened, "meta": {}}, 1)
    with tenant_scope(tenant.id):
        access_grant_revoke(actor=None, grant_id=grant.id)
    # Without a grant: the current (normal) version opens; the restricted one does not.
    assert "security" not in _vread(client, pid, 2).get("meta", {})
    denied = client.get(f"/fhir/Patient/{pid}/_history/1")
    assert denied.status_code == 403
    assert "Okafor" not in denied.content.decode()
    history = client.get(f"/fhir/Patient/{pid}/_history")
    assert history.status_code == 200
    strict_parse(history.json())
    old = history.json()["entry"][1]["resource"]
    assert set(old) == {"resourceType", "id", "meta"}
    assert {label["code"] for label in old["meta"]["security"]} == {"R", "MASKED"}
    assert "Adaeze" not in str(old)


def test_records_changed_before_versions_were_kept_offer_what_is_left(world):
    client, tenant = world["client"], world["tenant"]
    with tenant_scope(tenant.id):
        patient = patient_register(actor=None, data=patient_data())
        # As a record edited twice before this feature: at version 3, nothing retained.
        Patient.objects.filter(id=patient.id).update(version=3)
    gone = client.get(f"/fhir/Patient/{patient.id}/_history/1")
    assert gone.status_code == 404
    assert "before this server kept versions" in gone.json()["issue"][0]["diagnostics"]
    history = client.get(f"/fhir/Patient/{patient.id}/_history").json()
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"3"']
    v3 = _vread(client, patient.id, 3)
    _put(client, {**v3, "gender": "unknown"}, 3)
    assert _vread(client, patient.id, 3) == v3
    history = client.get(f"/fhir/Patient/{patient.id}/_history").json()
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"4"', 'W/"3"']
    with tenant_scope(tenant.id):
        assert list(
            PatientVersion.objects.filter(patient_id=patient.id).values_list("version", flat=True)
        ) == [3]


def test_versions_are_tenant_owned(world):
    client = world["client"]
    created = client.post("/fhir/Patient", full_patient("MRN-V3"), content_type=FHIR_JSON).json()
    _put(client, {**created, "gender": "other"}, 1)
    other = make_tenant()
    with tenant_scope(other.id):
        assert not PatientVersion.objects.exists()
    stranger = Client(headers=make_api_key(other, Role.INTEGRATOR).header)
    assert stranger.get(f"/fhir/Patient/{created['id']}/_history/1").status_code == 404
