"""A restricted patient's portrait and vital status follow the restricted-patient rules (REST and
console): 403 `restricted-patient` with the break-glass hint without a grant, allowed through a
break-glass grant with every read audited with the grant id. The civil-registry inbox (a system
path) still records a restricted patient's death."""

import io
from datetime import date
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from mpi.services.death_notifications import DeathNotification, Outcome, death_notification_apply
from registration.selectors.portraits import portrait_exists
from registration.selectors.vital_status import vital_status_current
from registration.services.inputs import IdentifierInput
from registration.services.patients import patient_register
from registration.services.portraits import portrait_replace
from registration.services.vital_status import DeathDate
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.factories import make_tenant, make_user
from tests.integration.restricted.conftest import (
    REASON,
    assert_restricted,
    audit_details,
    break_glass,
    expire,
)
from tests.patient_builders import patient_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portrait_keys")]
SSN = "http://hl7.org/fhir/sid/us-ssn"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 240)).save(out, format="JPEG")
    return out.getvalue()


def with_portrait(world: dict[str, Any]) -> int:
    """Give the restricted patient a portrait (system actor); its new version."""
    secret = world["secret"]
    with tenant_scope(world["tenant"].id):
        portrait_replace(actor=None, patient_id=secret.id, expected_version=None, image=jpeg())
        secret.refresh_from_db()
        return int(secret.version)


class TestPortraitRest:
    @pytest.mark.parametrize("method", ["get", "put", "delete"])
    def test_every_method_is_403_with_the_hint(self, client: Client, world, method):
        version = with_portrait(world)
        url = f"/api/v1/patients/{world['secret'].id}/portrait"
        kwargs: dict[str, Any] = {"headers": {**world["desk"].header, "If-Match": f'"{version}"'}}
        if method == "put":
            kwargs.update(data=jpeg(), content_type="image/jpeg")
        assert_restricted(getattr(client, method)(url, **kwargs), "Okafor")
        with tenant_scope(world["tenant"].id):
            assert portrait_exists(patient_id=world["secret"].id)
        assert audit_details(world["tenant"], "patient.portrait_read", world["secret"].id) == []

    def test_break_glass_opens_read_replace_and_remove(self, client: Client, world):
        version = with_portrait(world)
        secret, desk = world["secret"], world["desk"]
        grant_id = break_glass(client, desk, secret.id)
        url = f"/api/v1/patients/{secret.id}/portrait"
        read = client.get(url, headers=desk.header)
        assert read.status_code == 200
        assert read["Content-Type"] == "image/jpeg"
        assert audit_details(world["tenant"], "patient.portrait_read", secret.id) == [
            {"grant_id": grant_id, "break_glass": True}
        ]
        replaced = client.put(
            url,
            data=jpeg(),
            content_type="image/jpeg",
            headers={**desk.header, "If-Match": f'"{version}"'},
        )
        assert replaced.status_code == 204, replaced.content
        removed = client.delete(url, headers={**desk.header, "If-Match": replaced["ETag"]})
        assert removed.status_code == 204, removed.content
        expire(grant_id, world["tenant"])
        assert_restricted(client.get(url, headers=desk.header))

    def test_a_normal_patient_is_unaffected_and_audited_without_a_grant(
        self, client: Client, world
    ):
        normal = world["normal"]
        with tenant_scope(world["tenant"].id):
            portrait_replace(actor=None, patient_id=normal.id, expected_version=None, image=jpeg())
        read = client.get(f"/api/v1/patients/{normal.id}/portrait", headers=world["desk"].header)
        assert read.status_code == 200
        assert audit_details(world["tenant"], "patient.portrait_read", normal.id) == [{}]

    def test_an_unknown_patient_is_404(self, client: Client, world):
        missing = "00000000-0000-4000-8000-000000000000"
        response = client.get(f"/api/v1/patients/{missing}/portrait", headers=world["desk"].header)
        assert response.status_code == 404


class TestPortraitConsole:
    def test_image_and_upload_are_refused_until_break_glass(self, client: Client, world):
        version = with_portrait(world)
        tenant, secret = world["tenant"], world["secret"]
        client.force_login(make_user(tenant, Role.FRONT_DESK))
        base = f"/admin/registration/patient/{secret.id}"
        image = client.get(f"{base}/portrait/")
        assert image.status_code == 403
        assert "break-glass-form" in image.content.decode()
        upload = client.post(f"{base}/portrait/change/", {"version": version, "remove": "on"})
        assert upload.status_code == 403
        with tenant_scope(tenant.id):
            assert portrait_exists(patient_id=secret.id)
        assert client.post(f"{base}/break-glass/", REASON).status_code == 302
        image = client.get(f"{base}/portrait/")
        assert image.status_code == 200
        assert image["Content-Type"] == "image/jpeg"
        with tenant_scope(tenant.id):
            from registration.models import PatientAccessGrant

            grant = PatientAccessGrant.objects.get()
        assert audit_details(tenant, "patient.portrait_read", secret.id) == [
            {"grant_id": str(grant.id), "break_glass": True}
        ]
        removed = client.post(f"{base}/portrait/change/", {"version": version, "remove": "on"})
        assert removed.status_code == 302
        with tenant_scope(tenant.id):
            assert not portrait_exists(patient_id=secret.id)


class TestVitalStatusRest:
    @pytest.mark.parametrize(
        ("suffix", "body"),
        [
            ("", None),
            ("", {"source": "hospital", "deceased_date": "2024-05-17"}),
            ("/verify", {}),
            ("/refute", {"reason": "seen alive today"}),
            ("/correct", {"deceased_date": "2024-05-18", "reason": "certificate says so"}),
        ],
    )
    def test_read_and_every_change_is_403_with_the_hint(self, client: Client, world, suffix, body):
        url = f"/api/v1/patients/{world['secret'].id}/vital-status{suffix}"
        headers = {**world["steward"].header, "If-Match": '"1"'}
        if body is None:
            response = client.get(url, headers=headers)
        else:
            response = client.post(url, data=body, content_type="application/json", headers=headers)
        assert_restricted(response, "Okafor")
        with tenant_scope(world["tenant"].id):
            assert vital_status_current(patient_id=world["secret"].id).status == "alive"

    def test_break_glass_opens_read_and_record(self, client: Client, world):
        secret, steward = world["secret"], world["steward"]
        grant_id = break_glass(client, steward, secret.id)
        url = f"/api/v1/patients/{secret.id}/vital-status"
        read = client.get(url, headers=steward.header)
        assert read.status_code == 200
        assert audit_details(world["tenant"], "patient.vital_status_read", secret.id) == [
            {"grant_id": grant_id, "break_glass": True}
        ]
        recorded = client.post(
            url,
            data={"source": "hospital", "deceased_date": "2024-05-17"},
            content_type="application/json",
            headers={**steward.header, "If-Match": read["ETag"]},
        )
        assert recorded.status_code == 201, recorded.content
        verified = client.post(
            f"{url}/verify",
            data={},
            content_type="application/json",
            headers={**steward.header, "If-Match": recorded["ETag"]},
        )
        assert verified.status_code == 200, verified.content
        assert verified.json()["verification"] == "verified"


class TestVitalStatusConsole:
    def test_the_page_is_refused_until_break_glass(self, client: Client, world):
        tenant, secret = world["tenant"], world["secret"]
        client.force_login(make_user(tenant, Role.FRONT_DESK))
        base = f"/admin/registration/patient/{secret.id}"
        page = client.get(f"{base}/vital-status/")
        assert page.status_code == 403
        assert "break-glass-form" in page.content.decode()
        post = client.post(
            f"{base}/vital-status/",
            {
                "action": "record",
                "version": "1",
                "deceased_date": "2024-05-17",
                "deceased_date_precision": "day",
                "source": "front_desk",
                "refuted_status": "alive",
                "reason": "",
            },
        )
        assert post.status_code == 403
        with tenant_scope(tenant.id):
            assert vital_status_current(patient_id=secret.id).status == "alive"
        assert audit_details(tenant, "patient.vital_status_read", secret.id) == []
        assert client.post(f"{base}/break-glass/", REASON).status_code == 302
        page = client.get(f"{base}/vital-status/")
        assert page.status_code == 200
        (details,) = audit_details(tenant, "patient.vital_status_read", secret.id)
        assert details["break_glass"] is True
        assert details["grant_id"]


def test_the_civil_registry_still_records_a_restricted_patients_death(db):
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        secret = patient_register(
            actor=None,
            data=patient_data(
                confidentiality="restricted",
                identifiers=(IdentifierInput(system=SSN, value="123-45-6789", type_code="SS"),),
            ),
        )
        applied = death_notification_apply(
            DeathNotification(
                inbox_message_id=1,
                notification_id="CR-restricted-1",
                identifier_system=SSN,
                identifier_value="123-45-6789",
                death=DeathDate(date(2024, 5, 17)),
            )
        )
        assert (applied.outcome, applied.patient_id) == (Outcome.RECORDED, secret.id)
        current = vital_status_current(patient_id=secret.id)
        assert current.deceased
        assert current.source == "civil_registry"
