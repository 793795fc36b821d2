"""Image preparation for model calls: hash the file, convert any mode to RGB, cap the size.

The original file is never changed; every backend gets the same prepared pixels, so results
do not depend on which backend decoded an odd PNG mode.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = 400_000_000  # huge scans are downscaled, not refused


def file_sha256(path: str | Path) -> str:
    """Content hash of an image file; part of every cache key that uses the image."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels from any mode: transparency is laid on white, 16-bit and CMYK are converted."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits by the actual range, not by clipping
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype("uint8"), mode="L").convert("RGB")
    return image.convert("RGB")


def load_rgb(path: str | Path | io.BytesIO, max_side: int | None = 1024) -> Image.Image:
    """Decode an image file to RGB, downscaled so its longer side is at most ``max_side``."""
    with Image.open(path) as opened:
        if max_side and max(opened.size) > max_side * 2 and opened.format == "JPEG":
            opened.draft("RGB", (max_side, max_side))  # fast JPEG decode at reduced scale
        image = to_rgb(opened)
        image.load()
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def encode_png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode_jpeg_base64(image: Image.Image, quality: int = 92) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


#: Formats every vision API accepts as they are.
_PASSTHROUGH = {"JPEG": "image/jpeg", "PNG": "image/png"}


def prepared_bytes(path: str | Path, max_side: int | None = 1024, image_format: str = "auto") -> tuple[bytes, str]:
    """The image as sent to an API: (bytes, MIME type).

    A file that already is an RGB JPEG or PNG within ``max_side`` and without an EXIF rotation
    is sent byte for byte: nothing is lost to re-encoding, and nothing is decoded. Anything else
    is converted to RGB, downscaled, and encoded again (JPEG for JPEG sources, PNG otherwise).
    ``image_format="png"`` sends every image as a PNG (an RGB PNG file still goes as it is).
    """
    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as opened:
        fmt = opened.format or ""
        fits = not max_side or max(opened.size) <= max_side
        allowed = ("PNG",) if image_format == "png" else tuple(_PASSTHROUGH)
        if fmt in allowed and opened.mode == "RGB" and fits:
            # only JPEGs carry EXIF rotations in practice; a rotated one must be turned upright
            if fmt != "JPEG" or opened.getexif().get(0x0112, 1) == 1:
                return raw, _PASSTHROUGH[fmt]
    image = load_rgb(io.BytesIO(raw), max_side)
    if fmt == "JPEG" and image_format != "png":
        return base64.b64decode(encode_jpeg_base64(image, quality=92)), "image/jpeg"
    return base64.b64decode(encode_png_base64(image)), "image/png"


def data_url(path: str, max_side: int | None = 1024, image_format: str = "auto") -> str:
    """A ``data:`` URL of the image as sent to an API (see :func:`prepared_bytes`)."""
    data, mime = prepared_bytes(path, max_side, image_format)
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
