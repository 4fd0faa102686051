"""Portrait test set-up: two random key-encryption keys, images made with Pillow."""

import base64
import io
import os
import struct
import zipfile
import zlib

import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def portrait_keys(settings):
    settings.PORTRAIT_KEYS = {"k1": os.urandom(32), "k2": os.urandom(32)}
    settings.PORTRAIT_ACTIVE_KEY_ID = "k1"
    return settings.PORTRAIT_KEYS


MARKER = "SECRET-GPS-MARKER-47.6062N"
GPS_IFD = 0x8825


def jpeg_with_exif(width=64, height=32, orientation=6) -> bytes:
    """A JPEG whose EXIF says 'rotate 90°' and carries a description and GPS-like marker."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(width // 2):
        for y in range(height):
            image.putpixel((x, y), (20, 200, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = MARKER
    gps = exif.get_ifd(GPS_IFD)  # where the photo was taken
    gps.update({1: "N", 2: (47.0, 36.0, 22.32), 3: "W", 4: (122.0, 19.0, 55.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=MARKER.encode())
    return out.getvalue()


def image_bytes(fmt: str, size=(40, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 240) if mode == "RGB" else (10, 120, 240, 100)).save(
        out, format=fmt
    )
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb's shape)."""
    chunk = png_chunk
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def zip_archive() -> bytes:
    """A small ZIP (a JAR's shape) to hide behind an image."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Main-Class: Evil\n")
        archive.writestr("Evil.class", b"\xca\xfe\xba\xbe" + b"\x00" * 64)
    return out.getvalue()


def jpeg_with_comment(comment: bytes) -> bytes:
    """A JPEG whose COM segment carries `comment` (early in the file)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 90, 90)).save(out, format="JPEG", comment=comment)
    return out.getvalue()
