"""Image preparation for model calls: hash the file, convert any mode to RGB, cap the size.

The original file is never changed; every backend gets the same prepared pixels, so results
do not depend on which backend decoded an odd PNG mode.

Decoding is bounded. An image file is untrusted input: a 1.5 MB PNG can declare 20000 x 20000
pixels and take 1.2 GB once decoded (a decompression bomb), and a file cut short still has a
valid header. So every image is checked before its pixels are decoded (file size, then the
pixel count it declares, after a JPEG's reduced-scale draft), decodes run within a process-wide
pixel budget, and any failure is an :class:`ImageError` that names the file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = 400_000_000  # Pillow's own guard; ours (MAX_DECODE_PIXELS) is stricter

#: The most pixels one image may have once decoded. A JPEG counts at the reduced scale it is
#: decoded at (up to 1/8 per side), so huge JPEG scans are still downscaled, not refused.
MAX_DECODE_PIXELS = 64_000_000
#: Image files larger than this are not read at all.
MAX_FILE_BYTES = 100 * 2**20


class ImageError(ValueError):
    """An image that cannot be used: unreadable, not an image, truncated, corrupt, or too large
    to decode safely. The message names the file and says what is wrong with it; ``reason`` is
    the second half alone ("is 20000x20000 pixels ...", "cannot be decoded: ...")."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"image {name} {reason}")
        self.name = name
        self.reason = reason


class _PixelBudget:
    """Bounds the pixels being decoded at once across threads (backends decode in worker
    threads), so memory stays flat whatever the concurrency. A decode waits until it fits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._condition = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        cost = min(pixels, self.limit)
        with self._condition:
            self._condition.wait_for(lambda: self.used + cost <= self.limit)
            self.used += cost
        try:
            yield
        finally:
            with self._condition:
                self.used -= cost
                self._condition.notify_all()


_DECODING = _PixelBudget(MAX_DECODE_PIXELS)


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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):  # its own message names a buffer, not the file
        return "it is not an image format Pillow can read (or its header is damaged)"
    text = str(exc).strip()
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"the file is truncated or corrupt ({text or type(exc).__name__})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, refusing an unreadable or oversized file with its name."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(
                str(path),
                f"is {size:,} bytes; image files over {MAX_FILE_BYTES:,} bytes are refused "
                "(downscale or recompress it)",
            )
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(str(path), f"cannot be read ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def _opened(
    source: str | os.PathLike[str] | bytes, name: str, max_side: int | None
) -> Iterator[tuple[Image.Image, int]]:
    """The opened image (header parsed, pixels not decoded) and the pixels a decode will take.

    A JPEG is put in draft mode first (decoded at a reduced scale close to ``max_side``). Every
    failure inside the block, decoding included, becomes an :class:`ImageError` naming the file.
    """
    try:
        if isinstance(source, bytes):
            handle: Image.Image = Image.open(io.BytesIO(source))
        else:
            if Path(source).stat().st_size > MAX_FILE_BYTES:
                _read(source)  # raises, with the size
            handle = Image.open(source)
        with handle as opened:
            if max_side and opened.format == "JPEG" and max(opened.size) > max_side * 2:
                opened.draft("RGB", (max_side, max_side))  # fast JPEG decode at reduced scale
            width, height = opened.size
            if width * height > MAX_DECODE_PIXELS:
                raise ImageError(
                    name,
                    f"is {width}x{height} pixels ({width * height / 1e6:,.0f} megapixels "
                    f"to decode); images over {MAX_DECODE_PIXELS / 1e6:,.0f} megapixels are refused so that "
                    "one file cannot exhaust memory (a decompression bomb, or a scan to downscale first)",
                )
            yield opened, width * height
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"is refused as a decompression bomb ({exc})") from exc
    except Exception as exc:  # Pillow raises many types for broken files; all mean "unusable"
        if isinstance(exc, OSError) and not isinstance(source, bytes) and exc.filename:
            raise ImageError(name, f"cannot be read ({exc.strerror or exc})") from exc
        raise ImageError(name, f"cannot be decoded: {_reason(exc)}") from exc


def load_rgb(path: str | os.PathLike[str], max_side: int | None = 1024, *, data: bytes | None = None) -> Image.Image:
    """Decode an image file to RGB, downscaled so its longer side is at most ``max_side``.

    ``data`` (the file's bytes, already read) saves reading ``path`` again. Raises
    :class:`ImageError` naming ``path`` when the file cannot be used.
    """
    with _opened(path if data is None else data, str(path), max_side) as (opened, pixels), _DECODING.hold(pixels):
        image = to_rgb(opened)
        image.load()
        if max_side and max(image.size) > max_side:
            image = image.copy()
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def verify_image(path: str | Path, *, data: bytes | None = None) -> None:
    """Decode the whole file once (a JPEG at reduced scale, which still reads every byte) and
    return None; raise :class:`ImageError` naming it when it is truncated, corrupt, not an
    image, or too large to decode. What ``data check`` calls undecodable, this refuses."""
    with _opened(path if data is None else data, str(path), 256) as (opened, pixels), _DECODING.hold(pixels):
        opened.load()


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
    is sent byte for byte: nothing is lost to re-encoding. It is still decoded once, so that a
    truncated or corrupt file is refused here rather than sent. Anything else is converted to
    RGB, downscaled, and encoded again (JPEG for JPEG sources, PNG otherwise).
    ``image_format="png"`` sends every image as a PNG (an RGB PNG file still goes as it is).
    The released VSCBench encodings (:func:`released_bytes`) are chosen by their names
    (``file-as-png``, ``pil-native``, ``pil-resave-as-jpeg``). Raises :class:`ImageError`
    naming the file when it cannot be used.
    """
    if image_format in RELEASED_IMAGE_FORMATS:
        return released_bytes(path, image_format)
    raw = _read(path)
    with _opened(raw, str(path), None) as (opened, _):
        fmt = opened.format or ""
        fits = not max_side or max(opened.size) <= max_side
        allowed = ("PNG",) if image_format == "png" else tuple(_PASSTHROUGH)
        # only JPEGs carry EXIF rotations in practice; a rotated one must be turned upright
        upright = fmt != "JPEG" or opened.getexif().get(0x0112, 1) == 1
        passthrough = fmt in allowed and opened.mode == "RGB" and fits and upright
    if passthrough:
        verify_image(path, data=raw)
        return raw, _PASSTHROUGH[fmt]
    image = load_rgb(path, max_side, data=raw)
    if fmt == "JPEG" and image_format != "png":
        return base64.b64decode(encode_jpeg_base64(image, quality=92)), "image/jpeg"
    return base64.b64decode(encode_png_base64(image)), "image/png"


#: The released VSCBench code's image encodings, by provider (``utils_llm.py`` at commit 426fa1f).
RELEASED_IMAGE_FORMATS = ("file-as-png", "pil-native", "pil-resave-as-jpeg")
#: What the released Claude call accepts, and the MIME type it sends for each (WEBP goes as JPEG).
_PIL_NATIVE_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/jpeg"}


def released_bytes(path: str | Path, image_format: str) -> tuple[bytes, str]:
    """An image as one provider path of the released VSCBench code sends it: (bytes, MIME type).

    ``file-as-png`` (its OpenAI call): the file's own bytes, not decoded, labelled
    ``image/png`` whatever they hold. ``pil-native`` (its Claude call): decoded and saved
    again by Pillow in the file's own format with Pillow's defaults (a JPEG is re-compressed
    at quality 75), the real MIME type; a WEBP is turned into an RGB JPEG, any other format is
    refused (an :class:`ImageError`, a failed call). ``pil-resave-as-jpeg`` (its Gemini call):
    saved again by Pillow in its own format, labelled ``image/jpeg`` whatever it holds. No
    image is ever resized. Decoding keeps this module's guards (size, pixel budget).
    """
    raw = _read(path)
    if image_format == "file-as-png":
        return raw, "image/png"
    if image_format not in RELEASED_IMAGE_FORMATS:
        raise ValueError(f"unknown released image format {image_format!r}")
    with _opened(raw, str(path), None) as (opened, pixels), _DECODING.hold(pixels):
        fmt = (opened.format or "").upper()
        if image_format == "pil-native" and fmt not in _PIL_NATIVE_MIME:
            raise ImageError(
                str(path), f"is a {fmt or 'unknown'} image; the released Claude call takes JPEG, PNG and WEBP"
            )
        image: Image.Image = opened
        if image_format == "pil-native" and fmt == "WEBP":
            image, fmt = opened.convert("RGB"), "JPEG"
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
    mime = _PIL_NATIVE_MIME[fmt] if image_format == "pil-native" else "image/jpeg"
    return buffer.getvalue(), mime


def data_url(path: str, max_side: int | None = 1024, image_format: str = "auto") -> str:
    """A ``data:`` URL of the image as sent to an API (see :func:`prepared_bytes`)."""
    data, mime = prepared_bytes(path, max_side, image_format)
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
