"""Portrait normalisation without a database: where polyglot detection stops and what it lets
through (the integration tests drive the same function through the service and REST)."""

import io
import struct

import pytest
from PIL import Image

from registration.services.portrait_images import PortraitLimits, normalize_portrait
from tenancy.errors import ValidationFailedError

LIMITS = PortraitLimits(max_bytes=1_000_000, max_pixels=1_000_000, max_dimension=64, quality=85)


def encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (40, 80, 160)).save(out, format=fmt)
    return out.getvalue()


def zip_end(comment: bytes = b"") -> bytes:
    """An empty ZIP archive: only its end-of-central-directory record (and comment)."""
    return b"PK\x05\x06" + b"\x00" * 16 + struct.pack("<H", len(comment)) + comment


def refused_code(data: bytes) -> str:
    with pytest.raises(ValidationFailedError) as error:
        normalize_portrait(data, LIMITS)
    return error.value.errors[0].code


def test_a_png_without_its_end_chunk_is_still_an_image():
    png = encoded("PNG")
    assert png.endswith(b"IEND\xae\x42\x60\x82")
    assert normalize_portrait(png[:-12], LIMITS).width == 20


def test_an_incomplete_zip_record_at_the_end_of_a_jpeg_is_only_a_trailer():
    assert normalize_portrait(encoded("JPEG") + b"PK\x05\x06" + b"\x00" * 8, LIMITS).width == 20


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("comment", [b"", b"a zip comment"])
def test_any_image_that_is_also_a_zip_is_refused(fmt, comment):
    assert refused_code(encoded(fmt) + zip_end(comment)) == "polyglot"


def test_a_webp_longer_than_its_riff_size_is_refused():
    webp = encoded("WEBP")
    assert refused_code(webp + b"\x00\x00") == "polyglot"
    assert normalize_portrait(webp, LIMITS).height == 10
