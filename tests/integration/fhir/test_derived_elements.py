"""FHIR Patient elements owned by other features: deceased[x] from vital status, photo from the
portrait, link from merges and enterprise links, and `$ihe-pix` across linked and merged
records. All driven through the real services (no fixtures faking their rows)."""

import io
import os
from datetime import date
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from mpi.selectors.cross_reference import linked_patient_ids
from mpi.services.enterprise import enterprise_link_pair
from mpi.services.merges import patients_merge, patients_unmerge
from registration.fhir.derived import ReadOnlyElementError
from registration.fhir.mapping import check_input_against, patient_input_from_json
from registration.models import Patient
from registration.selectors.portraits import portrait_exists
from registration.services.portraits import portrait_replace
from registration.services.vital_status import DeathDate, vital_status_record_death
from tenancy.db import tenant_scope
from tenancy.models import ModuleEntitlement, Role
from tenancy.services.entitlements import module_entitlement_end
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import FHIR_JSON, full_patient, strict_parse
from tests.integration.mpi.conftest import MRN, SSN, person, register

pytestmark = pytest.mark.django_db


def _tenant_and_client(*modules: str) -> tuple[Any, Client]:
    tenant = make_tenant(modules=modules or None)
    return tenant, Client(headers=make_api_key(tenant, Role.INTEGRATOR).header)


def _read(client: Client, patient_id: Any) -> dict[str, Any]:
    response = client.get(f"/fhir/Patient/{patient_id}")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    strict_parse(body)
    return body


def _put(client: Client, body: dict[str, Any]) -> Any:
    return client.put(
        f"/fhir/Patient/{body['id']}",
        body,
        content_type=FHIR_JSON,
        headers={"If-Match": f'W/"{body["meta"]["versionId"]}"'},
    )


def _died(tenant: Any, patient: Patient, value: date | None, precision: str = "day") -> None:
    with tenant_scope(tenant.id):
        vital_status_record_death(
            actor=None,
            patient_id=patient.id,
            expected_version=Patient.objects.get(id=patient.id).version,
            death=DeathDate(value=value, precision=precision),
            source="hospital",
            channel="rest",
        )


# --- deceased[x] -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "precision", "element", "rendered"),
    [
        (date(2021, 1, 1), "year", "deceasedDateTime", "2021"),
        (date(2021, 7, 1), "month", "deceasedDateTime", "2021-07"),
        (date(2021, 7, 19), "day", "deceasedDateTime", "2021-07-19"),
        (None, "day", "deceasedBoolean", True),
    ],
)
def test_deceased_renders_the_vital_status_with_its_precision(value, precision, element, rendered):
    tenant, client = _tenant_and_client()
    with tenant_scope(tenant.id):
        patient = register(person("Lind", "Eva", date(1940, 2, 2)))
    assert "deceasedBoolean" not in _read(client, patient.id)  # alive: nothing invented
    _died(tenant, patient, value, precision)
    body = _read(client, patient.id)
    assert body[element] == rendered
    other = "deceasedBoolean" if element == "deceasedDateTime" else "deceasedDateTime"
    assert other not in body
    # What was read can be written back unchanged (the same vital status is accepted).
    response = _put(client, body)
    assert response.status_code == 200, response.content
    assert response.json()[element] == rendered


def test_a_write_changing_the_vital_status_is_422_pointing_at_its_api():
    tenant, client = _tenant_and_client()
    with tenant_scope(tenant.id):
        patient = register(person("Lind", "Eva", date(1940, 2, 2)))
    body = _read(client, patient.id)
    response = _put(client, {**body, "deceasedBoolean": True})
    assert response.status_code == 422
    outcome = response.json()
    strict_parse(outcome)
    assert outcome["issue"][0]["code"] == "business-rule"
    assert "vital-status" in outcome["issue"][0]["diagnostics"]
    assert outcome["issue"][1]["expression"] == ["Patient.deceasedBoolean"]
    # An alive patient may be stated alive.
    assert _put(client, {**body, "deceasedBoolean": False}).status_code == 200

    _died(tenant, patient, date(2021, 7, 19))
    body = _read(client, patient.id)
    for changed in (
        {"deceasedDateTime": "2021-07-20"},
        {"deceasedDateTime": "2021-07"},
        {"deceasedBoolean": False},
    ):
        current = {k: v for k, v in body.items() if k != "deceasedDateTime"}
        assert _put(client, {**current, **changed}).status_code == 422, changed
    same_day = {**body, "deceasedDateTime": "2021-07-19T10:00:00+02:00"}
    assert _put(client, same_day).status_code == 200
    body = _read(client, patient.id)
    no_date = {k: v for k, v in body.items() if k != "deceasedDateTime"}
    assert _put(client, {**no_date, "deceasedBoolean": True}).status_code == 200
    with tenant_scope(tenant.id):
        assert Patient.objects.get(id=patient.id).deceased_date == date(2021, 7, 19)


def test_create_may_state_alive_but_not_deceased():
    _, client = _tenant_and_client()
    for body, status in (
        (full_patient("MRN-D1", deceasedBoolean=True), 422),
        (full_patient("MRN-D2", deceasedDateTime="2020"), 422),
        (full_patient("MRN-D3", deceasedBoolean=False), 201),
    ):
        response = client.post("/fhir/Patient", body, content_type=FHIR_JSON)
        assert response.status_code == status, response.content


# --- photo -------------------------------------------------------------------------------


@pytest.fixture
def portrait_keys(settings):
    settings.PORTRAIT_KEYS = {"k1": os.urandom(32)}
    settings.PORTRAIT_ACTIVE_KEY_ID = "k1"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 64), (120, 30, 200)).save(out, format="JPEG")
    return out.getvalue()


def _with_portrait(tenant: Any) -> tuple[Patient, Patient]:
    with tenant_scope(tenant.id):
        pictured = register(person("Berg", "Ola", date(1970, 3, 3)))
        plain = register(person("Berg", "Kari", date(1972, 4, 4)))
        portrait_replace(actor=None, patient_id=pictured.id, expected_version=None, image=_jpeg())
    return pictured, plain


def test_photo_is_a_link_to_the_portrait_endpoint_never_the_bytes(portrait_keys):
    tenant, client = _tenant_and_client()
    pictured, plain = _with_portrait(tenant)
    body = _read(client, pictured.id)
    url = f"/api/v1/patients/{pictured.id}/portrait"
    assert body["photo"] == [{"contentType": "image/jpeg", "url": url}]
    assert "photo" not in _read(client, plain.id)
    # The URL is the real REST endpoint: it serves the JPEG.
    image = client.get(url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    # Search results carry it too (the portraits are prefetched, not read per patient).
    found = client.get("/fhir/Patient", {"family": "berg"}).json()
    photos = {e["resource"]["id"]: e["resource"].get("photo") for e in found["entry"]}
    assert photos == {
        str(pictured.id): [{"contentType": "image/jpeg", "url": url}],
        str(plain.id): None,
    }
    # Written back unchanged: accepted; changed or added: 422 pointing at the portrait API.
    assert _put(client, body).status_code == 200
    body = _read(client, pictured.id)
    changed = {**body, "photo": [{"contentType": "image/png", "data": "AAAA"}]}
    response = _put(client, changed)
    assert response.status_code == 422
    assert "portrait" in response.json()["issue"][0]["diagnostics"]
    plain_body = _read(client, plain.id)
    assert _put(client, {**plain_body, "photo": body["photo"]}).status_code == 422


def test_no_photo_without_the_portrait_licence(portrait_keys):
    tenant, client = _tenant_and_client()
    pictured, _ = _with_portrait(tenant)
    assert "photo" in _read(client, pictured.id)
    with tenant_scope(tenant.id):
        window = ModuleEntitlement.objects.get(module="portrait")
        module_entitlement_end(actor=None, entitlement_id=window.id)
        assert portrait_exists(patient_id=pictured.id)  # the portrait is still there
    body = _read(client, pictured.id)
    assert "photo" not in body
    # Without the licence the stored portrait is not stated, so a client may not state it.
    photo = [{"contentType": "image/jpeg", "url": f"/api/v1/patients/{pictured.id}/portrait"}]
    assert _put(client, {**body, "photo": photo}).status_code == 422


# --- link --------------------------------------------------------------------------------


def _merge(survivor: Patient, subsumed: Patient) -> Any:
    versions = {p.id: Patient.objects.get(id=p.id).version for p in (survivor, subsumed)}
    return patients_merge(
        actor=None,
        survivor_id=survivor.id,
        subsumed_id=subsumed.id,
        field_choices=None,
        reason="same person",
        expected_versions=versions,
    )


def _links(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((link["other"]["reference"], link["type"]) for link in body.get("link", []))


def test_merged_patients_read_inactive_replaced_by_the_final_survivor():
    tenant, client = _tenant_and_client()
    with tenant_scope(tenant.id):
        first = register(person("Moss", "Ian", date(1960, 1, 1), mrn="M-1"))
        second = register(person("Moss", "Ian", date(1960, 1, 1), mrn="M-2"))
        final = register(person("Moss", "Ian", date(1960, 1, 1), mrn="M-3"))
        _merge(second, first)
    subsumed = _read(client, first.id)
    assert subsumed["active"] is False
    assert _links(subsumed) == [(f"Patient/{second.id}", "replaced-by")]
    assert _links(_read(client, second.id)) == [(f"Patient/{first.id}", "replaces")]
    with tenant_scope(tenant.id):
        _merge(final, second)
    # The chain points at the final survivor.
    assert (f"Patient/{final.id}", "replaced-by") in _links(_read(client, first.id))
    assert (f"Patient/{first.id}", "replaced-by") not in _links(_read(client, first.id))
    survivor = _read(client, final.id)
    assert survivor["active"] is True
    assert (f"Patient/{second.id}", "replaces") in _links(survivor)

    # Search returns the merged records, inactive, with their links.
    found = client.get("/fhir/Patient", {"family": "moss"}).json()
    strict_parse(found)
    resources = {e["resource"]["id"]: e["resource"] for e in found["entry"]}
    assert resources[str(first.id)]["active"] is False
    assert (f"Patient/{final.id}", "replaced-by") in _links(resources[str(first.id)])
    inactive = client.get("/fhir/Patient", {"family": "moss", "active": "false"}).json()
    assert {e["resource"]["id"] for e in inactive["entry"]} == {str(first.id), str(second.id)}


def test_enterprise_links_are_seealso_and_links_are_not_written_through_fhir():
    tenant, client = _tenant_and_client()
    with tenant_scope(tenant.id):
        one = register(person("Hale", "Ann", date(1990, 5, 5), mrn="H-1"))
        two = register(person("Hale", "Ann", date(1990, 5, 5), mrn="H-2"))
        enterprise_link_pair(
            actor=None, patient_id=one.id, other_patient_id=two.id, source="steward"
        )
    body = _read(client, one.id)
    assert _links(body) == [(f"Patient/{two.id}", "seealso")]
    assert _links(_read(client, two.id)) == [(f"Patient/{one.id}", "seealso")]
    assert _put(client, body).status_code == 200  # the same links: accepted
    body = _read(client, one.id)
    response = _put(client, {**body, "link": []})
    assert response.status_code == 422
    assert "merge" in response.json()["issue"][0]["diagnostics"]
    created = client.post(
        "/fhir/Patient",
        full_patient(
            "MRN-L1", link=[{"other": {"reference": f"Patient/{one.id}"}, "type": "seealso"}]
        ),
        content_type=FHIR_JSON,
    )
    assert created.status_code == 422


def test_ndjson_style_input_check_refuses_derived_elements_on_new_records():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        body = full_patient("MRN-N1", deceasedBoolean=True)
        patient_input_from_json(body)  # accepted element ...
        with pytest.raises(ReadOnlyElementError, match="vital-status"):
            check_input_against(body, None)  # ... but not a change of the vital status
        check_input_against(full_patient("MRN-N2"), None)


# --- $ihe-pix across linked and merged records -----------------------------------------------


def _pix(client: Client, source: str) -> tuple[set[tuple[str, str]], set[str]]:
    response = client.get("/fhir/Patient/$ihe-pix", {"sourceIdentifier": source})
    assert response.status_code == 200, response.content
    body = response.json()
    strict_parse(body)
    identifiers = {
        (p["valueIdentifier"]["system"], p["valueIdentifier"]["value"])
        for p in body["parameter"]
        if p["name"] == "targetIdentifier"
    }
    ids = {p["valueReference"]["reference"] for p in body["parameter"] if p["name"] == "targetId"}
    return identifiers, ids


def test_pix_crosses_enterprise_links_and_merges():
    tenant, client = _tenant_and_client()
    with tenant_scope(tenant.id):
        clinic = register(person("Vos", "Pim", date(1955, 9, 9), mrn="V-1", ssn="111223333"))
        hospital = register(person("Vos", "Pim", date(1955, 9, 9), mrn="V-2"))
        duplicate = register(person("Vos", "Pim", date(1955, 9, 9), mrn="V-3"))
        stranger = register(person("Vos", "Pia", date(1956, 1, 1), mrn="V-9"))
    # Alone: only its own identifiers.
    identifiers, ids = _pix(client, f"{MRN}|V-1")
    assert identifiers == {(SSN, "111223333")}
    assert ids == {f"Patient/{clinic.id}"}

    with tenant_scope(tenant.id):
        enterprise_link_pair(
            actor=None, patient_id=clinic.id, other_patient_id=hospital.id, source="steward"
        )
    identifiers, ids = _pix(client, f"{MRN}|V-1")
    assert identifiers == {(SSN, "111223333"), (MRN, "V-2")}
    assert ids == {f"Patient/{clinic.id}", f"Patient/{hospital.id}"}
    # From the other side of the link as well.
    _, ids = _pix(client, f"{MRN}|V-2")
    assert ids == {f"Patient/{clinic.id}", f"Patient/{hospital.id}"}

    with tenant_scope(tenant.id):
        merge = _merge(hospital, duplicate)
    identifiers, ids = _pix(client, f"{MRN}|V-1")
    # The subsumed record's MRN now lives on the survivor (use=old) and the subsumed record
    # itself is cross-referenced.
    assert (MRN, "V-3") in identifiers
    assert ids == {f"Patient/{clinic.id}", f"Patient/{hospital.id}", f"Patient/{duplicate.id}"}
    assert f"Patient/{stranger.id}" not in ids
    _, from_old = _pix(client, f"{MRN}|V-3")
    assert from_old == ids

    with tenant_scope(tenant.id):
        assert linked_patient_ids(duplicate.id) == {clinic.id, hospital.id}
        patients_unmerge(actor=None, merge_id=merge.id, reason="not the same person after all")
        assert duplicate.id not in linked_patient_ids(clinic.id)
        assert linked_patient_ids(stranger.id) == set()
