"""Portrait storage as the database holds it, with committed rows: a ciphertext copied into
another tenant does not decrypt, and key rotation re-wraps resumably (across tenants)."""

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from registration.selectors.portraits import portrait_get
from registration.services.patients import patient_register
from registration.services.portrait_crypto import PortraitIntegrityError
from registration.services.portraits import portrait_replace
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent
from tests.factories import make_tenant
from tests.integration.portraits.conftest import image_bytes
from tests.patient_builders import patient_data


def register():
    return patient_register(actor=None, data=patient_data(), duplicate_override_reason="test")


def upload(patient, data):
    return portrait_replace(actor=None, patient_id=patient.id, expected_version=None, image=data)


def stored(owner_connection, tenant_id, patient_id) -> tuple[bytes, bytes, bytes, str]:
    """The stored columns as the table owner sees them (committed rows; RLS is forced on the
    owner too, so it names the tenant)."""
    owner_connection.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant_id)])
    row = owner_connection.execute(
        "SELECT ciphertext, wrapped_key, nonce, key_id FROM registration_portrait"
        " WHERE patient_id = %s",
        [patient_id],
    ).fetchone()
    return bytes(row[0]), bytes(row[1]), bytes(row[2]), row[3]


class TestTenantBinding:
    def test_a_row_copied_to_another_tenant_does_not_decrypt(self, committed_db, owner_connection):
        tenant, other = make_tenant(), make_tenant()
        with tenant_scope(tenant.id):
            patient = register()
            upload(patient, image_bytes("PNG"))
        with tenant_scope(other.id):
            target = register()
        ciphertext, wrapped, nonce, key_id = stored(owner_connection, tenant.id, patient.id)
        owner_connection.execute("SELECT set_config('app.tenant_id', %s, false)", [str(other.id)])
        owner_connection.execute(
            "INSERT INTO registration_portrait (tenant_id, patient_id, key_id, wrapped_key, nonce,"
            " ciphertext, content_type, width, height, byte_size, created_at, updated_at,"
            " updated_by) VALUES (%s, %s, %s, %s, %s, %s, 'image/jpeg', 1, 1, 1, now(), now(), '')",
            [other.id, target.id, key_id, wrapped, nonce, ciphertext],
        )
        with tenant_scope(other.id), pytest.raises(PortraitIntegrityError):
            portrait_get(patient_id=target.id)


class TestRotation:
    def test_rotation_rewraps_resumably_and_keeps_images(
        self, settings, committed_db, owner_connection
    ):
        tenant, other = make_tenant(), make_tenant()
        patients: list[tuple[Any, Any, bytes]] = []
        for owner in (tenant, tenant, tenant, other):
            with tenant_scope(owner.id):
                patient = register()
                upload(patient, image_bytes("PNG", size=(8 + len(patients), 8)))
            patients.append((owner, patient, stored(owner_connection, owner.id, patient.id)[0]))
        settings.PORTRAIT_ACTIVE_KEY_ID = "k2"
        out = io.StringIO()
        call_command(
            "portraits_rotate_key",
            "--tenant",
            str(tenant.id),
            "--batch",
            "2",
            "--max-batches",
            "1",
            stdout=out,
        )  # interrupted after one batch
        assert "re-wrapped 2" in out.getvalue()
        keys = [stored(owner_connection, o.id, p.id)[3] for o, p, _ in patients]
        assert sorted(keys) == ["k1", "k1", "k2", "k2"]
        call_command("portraits_rotate_key", "--batch", "2", stdout=out)  # resumes
        settings.PORTRAIT_KEYS = {"k2": settings.PORTRAIT_KEYS["k2"]}  # the old key retired
        for owner, patient, ciphertext in patients:
            now = stored(owner_connection, owner.id, patient.id)
            assert now[3] == "k2"
            assert now[0] == ciphertext  # only the data keys were re-wrapped
            with tenant_scope(owner.id):
                assert Image.open(io.BytesIO(portrait_get(patient_id=patient.id).data)).width
        with tenant_scope(tenant.id):
            assert AuditEvent.objects.filter(action="portrait.keys_rotated").count() == 2

    def test_a_portrait_that_fails_authentication_is_reported_and_the_rest_rotated(
        self, settings, committed_db, owner_connection
    ):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            patients = [register() for _ in range(5)]
            for patient in patients:
                upload(patient, image_bytes("PNG"))
        bad = patients[1]
        wrapped = bytearray(stored(owner_connection, tenant.id, bad.id)[1])
        wrapped[-1] ^= 1
        owner_connection.execute(
            "UPDATE registration_portrait SET wrapped_key = %s WHERE patient_id = %s",
            [bytes(wrapped), bad.id],
        )
        bad_id = owner_connection.execute(
            "SELECT id FROM registration_portrait WHERE patient_id = %s", [bad.id]
        ).fetchone()[0]
        settings.PORTRAIT_ACTIVE_KEY_ID = "k2"
        out = io.StringIO()
        with pytest.raises(CommandError, match=f"1 portrait.*{tenant.id}/{bad_id}"):
            call_command("portraits_rotate_key", "--batch", "2", stdout=out)
        assert "re-wrapped 4" in out.getvalue()
        keys = {p.id: stored(owner_connection, tenant.id, p.id)[3] for p in patients}
        assert keys.pop(bad.id) == "k1"  # left as it was, not re-wrapped
        assert set(keys.values()) == {"k2"}
        with tenant_scope(tenant.id):
            failed = [
                e.details.get("failed_portrait_ids")
                for e in AuditEvent.objects.filter(action="portrait.keys_rotated")
            ]
        assert [bad_id] in failed
        # Run again: only the bad row is left, and it is reported again, nothing else changes.
        with pytest.raises(CommandError, match=str(bad_id)):
            call_command("portraits_rotate_key", "--batch", "2", stdout=out)
        assert "re-wrapped 0" in out.getvalue().splitlines()[-1]
