"""Portraits: normalisation, envelope encryption at rest, tamper detection, rotation, refused
uploads, the REST endpoints, and production's refusal to start without a key."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from PIL import Image

from outbox.models import OutboxEvent
from registration.models import Patient, Portrait
from registration.selectors.portraits import portrait_exists, portrait_get
from registration.services.patients import patient_register
from registration.services.portrait_crypto import (
    PortraitIntegrityError,
    PortraitKeyUnavailableError,
)
from registration.services.portrait_images import PortraitTooLargeError
from registration.services.portraits import portrait_remove, portrait_replace
from tenancy.db import tenant_scope
from tenancy.errors import NotFoundError, PreconditionFailedError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant
from tests.integration.portraits.conftest import (
    GPS_IFD,
    MARKER,
    b64,
    image_bytes,
    jpeg_with_comment,
    jpeg_with_exif,
    png_chunk,
    png_claiming,
    zip_archive,
)
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def scope():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        yield tenant


def register() -> Patient:
    return patient_register(actor=None, data=patient_data(), duplicate_override_reason="test")


def upload(patient, data, version=None):
    return portrait_replace(actor=None, patient_id=patient.id, expected_version=version, image=data)


def in_db(patient_id) -> tuple[bytes, bytes, bytes, str]:
    """The stored columns as the database returns them (inside the tenant's scope)."""
    row = Portrait.objects.values_list("ciphertext", "wrapped_key", "nonce", "key_id").get(
        patient_id=patient_id
    )
    return bytes(row[0]), bytes(row[1]), bytes(row[2]), row[3]


class TestRoundTrip:
    def test_upright_metadata_free_bounded_jpeg(self, scope, settings):
        settings.PORTRAIT_MAX_DIMENSION = 48
        patient = register()
        original = jpeg_with_exif(width=64, height=32)
        assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)[1] == "N"
        upload(patient, original, version=1)
        image = portrait_get(patient_id=patient.id)
        assert image.content_type == "image/jpeg"
        decoded = Image.open(io.BytesIO(image.data))
        assert decoded.format == "JPEG"
        # Orientation 6 (rotate 90°) applied, then bounded: 64x32 -> 32x64 -> 24x48.
        assert decoded.size == (24, 48) == (image.width, image.height)
        assert not decoded.getexif()
        assert not decoded.getexif().get_ifd(GPS_IFD)
        assert not decoded.info.get("exif")
        assert MARKER.encode() not in image.data
        assert b"Exif" not in image.data
        # The green half (left, before rotating) is now on top.
        top: Any = decoded.getpixel((12, 4))
        bottom: Any = decoded.getpixel((12, 44))
        assert top[1] > 150
        assert bottom[0] > 150
        assert Patient.objects.get(id=patient.id).version == 2
        event = OutboxEvent.objects.filter(event_type="patient.updated").latest("id")
        assert event.payload["changed_fields"] == ["portrait"]
        audit = AuditEvent.objects.get(action="patient.portrait_replaced")
        assert audit.details == {
            "version": 2,
            "created": True,
            "key_id": "k1",
            "byte_size": len(image.data),
        }

    @pytest.mark.parametrize(("fmt", "mode"), [("PNG", "RGBA"), ("WEBP", "RGB"), ("PNG", "RGB")])
    def test_png_and_webp_are_accepted(self, scope, fmt, mode):
        patient = register()
        upload(patient, image_bytes(fmt, mode=mode))
        assert Image.open(io.BytesIO(portrait_get(patient_id=patient.id).data)).format == "JPEG"

    def test_replace_and_remove(self, scope):
        patient = register()
        upload(patient, image_bytes("PNG", size=(10, 10)))
        upload(patient, image_bytes("PNG", size=(20, 10)), version=2)
        assert Portrait.objects.count() == 1
        assert portrait_get(patient_id=patient.id).width == 20
        with pytest.raises(PreconditionFailedError):
            portrait_remove(actor=None, patient_id=patient.id, expected_version=2)
        portrait_remove(actor=None, patient_id=patient.id, expected_version=3)
        assert not portrait_exists(patient_id=patient.id)
        with pytest.raises(NotFoundError):
            portrait_get(patient_id=patient.id)
        with pytest.raises(NotFoundError):
            portrait_remove(actor=None, patient_id=patient.id, expected_version=None)


class TestEncryptionAtRest:
    def test_the_database_never_holds_the_image(self, scope):
        patient = register()
        upload(patient, jpeg_with_exif())
        plain = portrait_get(patient_id=patient.id).data
        ciphertext, wrapped, nonce, key_id = in_db(patient.id)
        assert key_id == "k1"
        assert len(nonce) == 12
        assert len(wrapped) == 12 + 32 + 16
        assert len(ciphertext) == len(plain) + 16
        assert not ciphertext.startswith(b"\xff\xd8")
        for start in range(0, len(plain) - 16, 16):
            assert plain[start : start + 16] not in ciphertext

    def test_fresh_data_key_per_portrait(self, scope):
        first, second = register(), register()
        same = image_bytes("PNG")
        upload(first, same)
        upload(second, same)
        a, b = in_db(first.id), in_db(second.id)
        assert a[0] != b[0]
        assert a[1] != b[1]


class TestTampering:
    def test_a_changed_ciphertext_fails_loudly(self, scope):
        patient = register()
        upload(patient, image_bytes("PNG"))
        ciphertext = bytearray(in_db(patient.id)[0])
        ciphertext[10] ^= 1
        Portrait.objects.filter(patient_id=patient.id).update(ciphertext=bytes(ciphertext))
        with pytest.raises(PortraitIntegrityError):
            portrait_get(patient_id=patient.id)

    def test_a_changed_wrapped_key_or_key_id_fails(self, scope):
        patient = register()
        upload(patient, image_bytes("PNG"))
        Portrait.objects.filter(patient_id=patient.id).update(key_id="k2")
        with pytest.raises(PortraitIntegrityError):
            portrait_get(patient_id=patient.id)
        Portrait.objects.filter(patient_id=patient.id).update(key_id="gone")
        with pytest.raises(PortraitKeyUnavailableError):
            portrait_get(patient_id=patient.id)

    @pytest.mark.parametrize("column", ["wrapped_key", "nonce"])
    @pytest.mark.parametrize("position", [0, -1])
    def test_a_flipped_bit_in_the_wrapped_key_or_nonce_fails_loudly(self, scope, column, position):
        patient = register()
        upload(patient, image_bytes("PNG"))
        value = bytearray(
            Portrait.objects.values_list(column, flat=True).get(patient_id=patient.id)
        )
        value[position] ^= 0x80
        Portrait.objects.filter(patient_id=patient.id).update(**{column: bytes(value)})
        with pytest.raises(PortraitIntegrityError):
            portrait_get(patient_id=patient.id)

    def test_a_row_moved_to_another_patient_does_not_decrypt(self, scope):
        victim, other = register(), register()
        upload(victim, image_bytes("PNG"))
        Portrait.objects.filter(patient_id=victim.id).update(patient_id=other.id)
        with pytest.raises(PortraitIntegrityError):
            portrait_get(patient_id=other.id)


class TestRotationCommand:
    def test_an_unknown_target_key_is_refused(self, scope):
        with pytest.raises(Exception, match="not configured"):
            call_command("portraits_rotate_key", "--to", "nope")


class TestRefusedUploads:
    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (b"", "empty"),
            (b"%PDF-1.7 definitely not an image", "not_an_image"),
            (image_bytes("GIF"), "not_an_image"),
            (image_bytes("BMP"), "not_an_image"),
            (jpeg_with_exif()[:300], "corrupt_image"),
            (image_bytes("PNG", size=(300, 300))[:-40], "corrupt_image"),
            (png_claiming(100_000, 100_000), "too_many_pixels"),
            (png_claiming(3000, 3000), "too_many_pixels"),
            (jpeg_with_exif() + zip_archive(), "polyglot"),
            (image_bytes("PNG") + zip_archive(), "polyglot"),
            (image_bytes("PNG") + b"<html><script>alert(1)</script></html>", "polyglot"),
            (image_bytes("WEBP") + b"<script>alert(1)</script>", "polyglot"),
            (jpeg_with_comment(b"%PDF-1.7\n1 0 obj <<>> endobj"), "polyglot"),
        ],
        ids=[
            "empty",
            "pdf",
            "gif",
            "bmp",
            "truncated-jpeg",
            "truncated-png",
            "bomb",
            "too-big",
            "jpeg-jar",
            "png-zip",
            "png-html",
            "webp-script",
            "jpeg-pdf",
        ],
    )
    def test_refused_with_a_clear_error_and_nothing_stored(self, scope, settings, data, code):
        settings.PORTRAIT_MAX_PIXELS = 4_000_000
        patient = register()
        with pytest.raises(ValidationFailedError) as error:
            upload(patient, data)
        assert [(e.field, e.code) for e in error.value.errors] == [("portrait", code)]
        assert not Portrait.objects.exists()
        assert Patient.objects.get(id=patient.id).version == 1

    def test_what_else_a_jpeg_carries_is_dropped_not_stored(self, scope):
        payload = b"<script>alert(document.cookie)</script>"
        patient = register()
        # Script in a comment and a camera-style trailer after the end: the JPEG decodes, and
        # the stored image is Pillow's own encoding, without either.
        upload(patient, jpeg_with_comment(payload) + b"SEFH" + payload)
        stored = portrait_get(patient_id=patient.id).data
        assert payload not in stored
        assert stored.endswith(b"\xff\xd9")
        assert Image.open(io.BytesIO(stored)).format == "JPEG"

    def test_an_image_that_only_looks_like_a_zip_end_is_accepted(self, scope):
        # The end-of-archive signature inside a PNG chunk, not where a ZIP reader finds it.
        png = image_bytes("PNG")
        patient = register()
        upload(
            patient,
            png[:-12] + png_chunk(b"tEXt", b"note\x00PK\x05\x06" + b"\x00" * 18) + png[-12:],
        )
        assert portrait_get(patient_id=patient.id).width == 40

    def test_oversized_is_413(self, scope, settings):
        settings.PORTRAIT_MAX_UPLOAD_BYTES = 100
        patient = register()
        with pytest.raises(PortraitTooLargeError) as error:
            upload(patient, image_bytes("PNG", size=(200, 200)))
        assert error.value.status == 413
        assert not Portrait.objects.exists()

    def test_no_key_configured_stores_nothing(self, scope, settings):
        settings.PORTRAIT_KEYS = {}
        settings.PORTRAIT_ACTIVE_KEY_ID = ""
        patient = register()
        with pytest.raises(PortraitKeyUnavailableError):
            upload(patient, image_bytes("PNG"))
        assert not Portrait.objects.exists()


class TestApi:
    def test_put_get_delete(self):
        tenant, other = make_tenant(), make_tenant()
        with tenant_scope(tenant.id):
            patient = register()
        with tenant_scope(other.id):
            foreign = register()
        desk = make_api_key(tenant, Role.FRONT_DESK)
        auditor = make_api_key(tenant, Role.AUDITOR)
        client = Client()
        url = f"/api/v1/patients/{patient.id}/portrait"
        png = image_bytes("PNG")

        def put(body, content_type="image/png", if_match='"1"', key=desk):
            headers = {**key.header}
            if if_match:
                headers["If-Match"] = if_match
            return client.put(url, body, content_type=content_type, headers=headers)

        assert client.get(url).status_code == 401
        assert client.get(url, headers=auditor.header).status_code == 403
        assert client.get(url, headers=desk.header).status_code == 404
        foreign_url = f"/api/v1/patients/{foreign.id}/portrait"
        assert client.get(foreign_url, headers=desk.header).status_code == 404
        assert put(png, if_match=None).status_code == 428
        assert put(png, content_type="text/plain").status_code == 415
        refused = put(b"not an image")
        assert refused.status_code == 422
        assert refused["Content-Type"] == "application/problem+json"
        assert refused.json()["errors"][0]["code"] == "not_an_image"
        polyglot = put(png + zip_archive())
        assert (polyglot.status_code, polyglot["Content-Type"]) == (422, "application/problem+json")
        assert polyglot.json()["errors"][0]["code"] == "polyglot"
        with override_settings(PORTRAIT_MAX_UPLOAD_BYTES=len(png) - 1):
            too_large = put(png)
        assert (too_large.status_code, too_large["Content-Type"]) == (
            413,
            "application/problem+json",
        )
        assert too_large.json()["type"].endswith("payload-too-large")
        with tenant_scope(tenant.id):
            assert not Portrait.objects.exists()
        response = put(png)
        assert response.status_code == 204
        assert response["ETag"] == '"2"'
        assert put(png).status_code == 412
        response = client.get(url, headers=desk.header)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "no-store"
        assert Image.open(io.BytesIO(response.content)).format == "JPEG"
        not_acceptable = client.get(url, headers={**desk.header, "Accept": "application/json"})
        assert not_acceptable.status_code == 406
        with tenant_scope(tenant.id):
            assert AuditEvent.objects.filter(action="patient.portrait_read").count() == 1
        headers = {**desk.header, "If-Match": '"2"'}
        assert client.delete(url, headers=headers).status_code == 204
        assert client.get(url, headers=desk.header).status_code == 404


def _settings_import(
    env: dict[str, str], code: str = "print('started')"
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "REGSVC_ENV": "production",
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": "postgres://app@127.0.0.1:5432/db",
        "DATABASE_OWNER_URL": "postgres://owner@127.0.0.1:5432/db",
        "DATABASE_RELAY_URL": "postgres://relay@127.0.0.1:5432/db",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "ALLOWED_HOSTS": "example.org",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.run(  # noqa: S603 - this interpreter, the test's own code
        [
            sys.executable,
            "-c",
            f"import django; django.setup(); from django.conf import settings; {code}",
        ],
        env={**base, **env},
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
        timeout=60,
    )


class TestProductionKeys:
    def test_refuses_to_start_without_a_key(self):
        result = _settings_import({})
        assert result.returncode != 0
        assert (
            "PORTRAIT_KEYS, PORTRAIT_KEYS_FILE or PORTRAIT_KEK_DIR must be set in production"
            in result.stderr
        )

    def test_refuses_a_malformed_key_without_printing_it(self):
        result = _settings_import({"PORTRAIT_KEYS": "k1:c2hvcnQ="})
        assert result.returncode != 0
        assert "c2hvcnQ" not in result.stderr

    def test_starts_with_a_mounted_key_file(self, tmp_path):
        keys = tmp_path / "portrait-keys"
        keys.write_text(f"old:{b64(os.urandom(32))}\nnew:{b64(os.urandom(32))}\n")
        result = _settings_import({"PORTRAIT_KEYS_FILE": str(keys)})
        assert result.returncode == 0, result.stderr
        assert "started" in result.stdout
        wrong = _settings_import({"PORTRAIT_KEYS_FILE": str(keys), "PORTRAIT_ACTIVE_KEY_ID": "x"})
        assert "PORTRAIT_ACTIVE_KEY_ID names no key" in wrong.stderr

    def test_starts_with_a_mounted_key_directory_and_wraps_with_the_newest_id(self, tmp_path):
        # As a Kubernetes secret volume: one file per key id, plus its own `..data` entries.
        (tmp_path / "kek-2026-01").write_text(b64(os.urandom(32)) + "\n")
        (tmp_path / "kek-2026-11").write_text(b64(os.urandom(32)))
        (tmp_path / "..data").mkdir()
        result = _settings_import(
            {"PORTRAIT_KEK_DIR": str(tmp_path)},
            code="print(sorted(settings.PORTRAIT_KEYS), settings.PORTRAIT_ACTIVE_KEY_ID)",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['kek-2026-01', 'kek-2026-11'] kek-2026-11"
        (tmp_path / "kek-2026-12").write_text("c2hvcnQ=")
        short = _settings_import({"PORTRAIT_KEK_DIR": str(tmp_path)})
        assert short.returncode != 0
        assert "c2hvcnQ" not in short.stderr

    def test_a_process_that_never_touches_portraits_starts_without_a_key(self):
        result = _settings_import({"PORTRAIT_KEYS_REQUIRED": "0"})
        assert result.returncode == 0, result.stderr
        assert "started" in result.stdout


class TestNothingInLogs:
    def test_keys_and_image_bytes_never_reach_the_logs(self, caplog, portrait_keys):
        upload_body = jpeg_with_exif()  # made before capturing: Pillow logs its own writing
        caplog.set_level(logging.DEBUG)
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            patient = register()
        desk = make_api_key(tenant, Role.FRONT_DESK)
        client = Client()
        url = f"/api/v1/patients/{patient.id}/portrait"
        response = client.put(
            url,
            upload_body,
            content_type="image/jpeg",
            headers={**desk.header, "If-Match": '"1"'},
        )
        assert response.status_code == 204
        image = client.get(url, headers=desk.header).content
        call_command("portraits_rotate_key", "--to", "k2", "--tenant", str(tenant.id))
        with tenant_scope(tenant.id):
            sealed = bytearray(
                Portrait.objects.values_list("ciphertext", flat=True).get(patient_id=patient.id)
            )
            sealed[5] ^= 1
            Portrait.objects.filter(patient_id=patient.id).update(ciphertext=bytes(sealed))
        broken = client.get(url, headers=desk.header)
        assert (broken.status_code, broken["Content-Type"]) == (500, "application/problem+json")
        assert broken.json()["type"].endswith("portrait-integrity")
        logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
        assert caplog.records  # the requests were logged at all
        for key in portrait_keys.values():
            assert b64(key) not in logged
            assert key.hex() not in logged
        assert MARKER not in logged
        assert repr(image[100:132])[2:-1] not in logged
        assert repr(upload_body[200:232])[2:-1] not in logged
