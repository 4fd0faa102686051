"""The console's portrait: upload on the patient page, view it (audited), refusals, removal."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from registration.models import Portrait
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user
from tests.integration.portraits.conftest import image_bytes
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
BASE = "/admin/registration/patient/"


def test_upload_view_refuse_remove():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        patient = patient_register(actor=None, data=patient_data())
    desk, steward = Client(), Client()
    desk.force_login(make_user(tenant, Role.FRONT_DESK))
    steward.force_login(make_user(tenant, Role.DATA_STEWARD))
    change = f"{BASE}{patient.id}/portrait/change/"
    view = f"{BASE}{patient.id}/portrait/"

    assert desk.get(view).status_code == 404
    png = SimpleUploadedFile("me.png", image_bytes("PNG"), content_type="image/png")
    assert steward.post(change, {"version": "1", "image": png}).status_code == 403
    png = SimpleUploadedFile("me.png", image_bytes("PNG"), content_type="image/png")
    response = desk.post(change, {"version": "1", "image": png}, follow=True)
    assert "Portrait saved." in response.content.decode()
    assert 'id="portrait-image"' in response.content.decode()
    image = steward.get(view)
    assert image["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).format == "JPEG"

    bogus = SimpleUploadedFile("x.png", b"not really", content_type="image/png")
    response = desk.post(change, {"version": "2", "image": bogus}, follow=True)
    assert "Not a JPEG, PNG or WebP image." in response.content.decode()
    response = desk.post(change, {"version": "2"}, follow=True)
    assert "Choose an image file" in response.content.decode()
    response = desk.post(change, {"version": "1", "remove": "on"}, follow=True)
    assert "changed by someone else" in response.content.decode()
    response = desk.post(change, {"version": "2", "remove": "on"}, follow=True)
    assert "Portrait saved." in response.content.decode()
    with tenant_scope(tenant.id):
        assert not Portrait.objects.exists()
        assert AuditEvent.objects.filter(action="patient.portrait_read").count() == 1
