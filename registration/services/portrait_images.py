"""Turning an upload into the stored portrait: decode it for real (only JPEG, PNG or WebP, with
Pillow's decompression-bomb guard), drop every metadata block (EXIF with GPS, XMP, ICC,
comments), apply the EXIF orientation, and re-encode a bounded-size baseline JPEG.

A file that is too large, not an image, of another format, truncated or a decompression bomb
is refused with a field error saying which; nothing is stored.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from tenancy.errors import DomainError, FieldError, ValidationFailedError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


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
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError) as exc:  # unreadable EXIF block
        raise _refuse("corrupt_image", "The image metadata is corrupt.") from exc
    flat = _flatten(upright)
    flat.thumbnail((limits.max_dimension, limits.max_dimension), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=limits.quality, optimize=True)
    return NormalizedPortrait(jpeg=out.getvalue(), width=flat.width, height=flat.height)
