"""Turning an upload into the stored portrait: decode it for real (only JPEG, PNG or WebP, with
Pillow's decompression-bomb guard), drop every metadata block (EXIF with GPS, XMP, ICC,
comments), apply the EXIF orientation, and re-encode a bounded-size baseline JPEG.

A file that is too large, not an image, of another format, truncated or a decompression bomb
is refused with a field error saying which; nothing is stored. So is a polyglot: a file that is
also a ZIP archive (a JAR, an Office document) or a PDF, or a PNG or WebP with data after the
image's end. Whatever else a JPEG carries (metadata, comments, a camera's trailer) is dropped
by the re-encoding: the stored bytes are always Pillow's own.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from tenancy.errors import DomainError, FieldError, ValidationFailedError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A ZIP reader finds the archive from its end-of-central-directory record (22 bytes, then a
# comment of up to 64 KiB); a PDF reader looks for its header in the first kilobyte.
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SIZE = 22
_ZIP_MAX_COMMENT = 0xFFFF
_PDF_HEADER = b"%PDF-"
_PDF_HEADER_WINDOW = 1024


class PortraitTooLargeError(DomainError):
    """The upload is larger than PORTRAIT_MAX_UPLOAD_BYTES."""

    code = "payload-too-large"
    title = "Upload too large"
    status = 413


@dataclass(frozen=True, slots=True)
class PortraitLimits:
    """The configured bounds of an upload and of the stored image."""

    max_bytes: int
    max_pixels: int
    max_dimension: int
    quality: int


@dataclass(frozen=True, slots=True)
class NormalizedPortrait:
    """The JPEG to store and its size."""

    jpeg: bytes
    width: int
    height: int


def _refuse(code: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(
        "The portrait was refused: " + message, errors=[FieldError("portrait", code, message)]
    )


def _decode(data: bytes, limits: PortraitLimits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
            if image.width * image.height > limits.max_pixels:
                raise _refuse("too_many_pixels", "The image has too many pixels.")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _refuse("too_many_pixels", "The image has too many pixels.") from exc
    except UnidentifiedImageError as exc:
        raise _refuse("not_an_image", "Not a JPEG, PNG or WebP image.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _refuse("corrupt_image", "The image is truncated or corrupt.") from exc
    return image


def _is_zip(data: bytes) -> bool:
    """Whether a ZIP reader would open this: an end record whose comment ends the file."""
    tail_start = max(0, len(data) - _ZIP_END_SIZE - _ZIP_MAX_COMMENT)
    position = data.rfind(_ZIP_END, tail_start)
    while position >= 0:
        if position + _ZIP_END_SIZE <= len(data):
            comment_length = int.from_bytes(data[position + 20 : position + 22], "little")
            if position + _ZIP_END_SIZE + comment_length == len(data):
                return True
        position = data.rfind(_ZIP_END, tail_start, position)
    return False


def _png_end(data: bytes) -> int:
    """Where the PNG ends: just after its IEND chunk (the decoder has read up to it)."""
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        position += 12 + length
        if kind == b"IEND":
            return position
    return len(data)


def _webp_end(data: bytes) -> int:
    """Where the WebP ends: the RIFF header's size (plus the 8-byte header itself)."""
    size = int.from_bytes(data[4:8], "little")
    return 8 + size + (size & 1)


def _refuse_polyglot(data: bytes, image_format: str | None) -> None:
    """Refuse a file that is also another kind of file: an archive, a PDF, data after the end."""
    if _is_zip(data) or _PDF_HEADER in data[:_PDF_HEADER_WINDOW]:
        raise _refuse("polyglot", "The file is also an archive or a document, not only an image.")
    end = {"PNG": _png_end, "WEBP": _webp_end}.get(image_format or "")
    if end is not None and end(data) < len(data):
        raise _refuse("polyglot", "The file carries other data after the image.")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels only: transparency onto white; a new image, so no metadata comes along."""
    if image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    converted = image.convert("RGB")
    clean = Image.new("RGB", converted.size)
    clean.paste(converted)
    return clean


def normalize_portrait(data: bytes, limits: PortraitLimits) -> NormalizedPortrait:
    """Validate by decoding and re-encode as a metadata-free, upright, bounded JPEG."""
    if len(data) > limits.max_bytes:
        raise PortraitTooLargeError(f"Portraits may be at most {limits.max_bytes} bytes.")
    if not data:
        raise _refuse("empty", "The upload is empty.")
    image = _decode(data, limits)
    _refuse_polyglot(data, image.format)
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError) as exc:  # unreadable EXIF block
        raise _refuse("corrupt_image", "The image metadata is corrupt.") from exc
    flat = _flatten(upright)
    flat.thumbnail((limits.max_dimension, limits.max_dimension), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=limits.quality, optimize=True)
    return NormalizedPortrait(jpeg=out.getvalue(), width=flat.width, height=flat.height)
