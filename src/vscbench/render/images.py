"""The text-centric attack images: typography, FigStep and concat, rendered from text with Pillow.

- Typography (MM-SafetyBench's QueryRelevant style): the key phrase in large black text on a
  white canvas of fixed width; words wrap greedily and the height follows the number of lines.
- FigStep: the statement as the head of a numbered list with empty items on a square canvas.
  The font shrinks until every line fits inside the margins, and the PNG records which font
  and size were used.
- Concat: the search image above the typography image, both at the same width.

Rendering is deterministic: the same text and settings give byte-identical PNGs (fixed font
file, BASIC layout, no anti-aliasing that depends on threads, fixed zlib level, no timestamps).
Write images with :func:`save_png` (or :func:`encode_png`): it adds the provenance tEXt chunks
(variant, text, font file and size). The builders that use them live in :mod:`vscbench.render.build` (a release) and
:mod:`vscbench.render.custom` (a user's CSV/JSONL).
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from vscbench.images import load_rgb, to_rgb
from vscbench.render.fonts import (
    MissingGlyphError,
    RenderError,
    RenderSettings,
    font_label,
    load_font,
    missing_glyphs,
    normalise_text,
)

__all__ = [
    "MissingGlyphError",
    "RenderError",
    "RenderSettings",
    "encode_png",
    "render_concat",
    "render_figstep",
    "render_typography",
    "save_png",
    "wrap_words",
]


#: Typography and FigStep images are black text on white, so they are rendered in grayscale:
#: the same pixels as RGB in a third of the bytes, encoded three times faster.
#: :func:`vscbench.images.to_rgb` turns them into RGB for every model backend.
TEXT_MODE = "L"
WHITE = 255
BLACK = 0


def _split_long_word(word: str, fits: Callable[[str], bool]) -> list[str]:
    """Break a word that is wider than a line into the longest pieces that fit (at least 1 char)."""
    pieces: list[str] = []
    rest = word
    while rest:
        end = 1
        while end < len(rest) and fits(rest[: end + 1]):
            end += 1
        pieces.append(rest[:end])
        rest = rest[end:]
    return pieces


def wrap_words(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Greedy word wrap: each line takes as many words as ``fits`` allows.

    A word that does not fit on a line of its own is broken across lines, never cut off.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        if fits(word):
            current = word
        else:
            pieces = _split_long_word(word, fits)
            lines.extend(pieces[:-1])
            current = pieces[-1]
    if current:
        lines.append(current)
    return lines


def _ink_right(font: ImageFont.FreeTypeFont, line: str) -> int:
    """Rightmost pixel the line's ink reaches, drawn at x=0 (bold glyphs can overhang their advance)."""
    return int(font.getbbox(line, anchor="la")[2])


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def _check_glyphs(text: str, font: str) -> None:
    missing = missing_glyphs(text, font)
    if missing:
        raise MissingGlyphError(text, font_label(font), missing)


def _png_info(variant: str, entries: dict[str, str]) -> PngInfo:
    info = PngInfo()
    info.add_text("vscbench:variant", variant)
    for key, value in entries.items():
        info.add_text(f"vscbench:{key}", value)
    return info


def _attach_metadata(image: Image.Image, variant: str, entries: dict[str, str]) -> Image.Image:
    """Keep the provenance on the image, so :func:`encode_png` writes it as tEXt/iTXt chunks."""
    image.info["vscbench"] = {"variant": variant, **entries}
    return image


def render_typography(text: str, settings: RenderSettings | None = None) -> Image.Image:
    """The key phrase in large black text, greedy-wrapped to the canvas width.

    Raises :class:`RenderError` for empty text and :class:`MissingGlyphError` when the font
    cannot draw some character.
    """
    settings = settings or RenderSettings()
    phrase = normalise_text(text, "key phrase")
    _check_glyphs(phrase, settings.typography_font)
    font = load_font(settings.typography_font, settings.typography_size)
    margin = settings.typography_margin
    usable = settings.typography_width - 2 * margin
    lines = wrap_words(phrase, lambda line: _ink_right(font, line) <= usable)
    line_height = _line_height(font)
    height = 2 * margin + line_height * len(lines)
    image = Image.new(TEXT_MODE, (settings.typography_width, height), WHITE)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "L"
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * line_height), line, fill=BLACK, font=font, anchor="la")
    return _attach_metadata(
        image, "typography",
        {"text": phrase, "font": font_label(settings.typography_font), "font_size": str(settings.typography_size)},
    )  # fmt: skip


def _figstep_lines(
    statement: str, settings: RenderSettings, size: int
) -> tuple[ImageFont.FreeTypeFont, list[str]] | None:
    """The lines at ``size`` pixels, or None when they do not fit inside the canvas margins."""
    font = load_font(settings.figstep_font, size)
    usable = settings.figstep_canvas - 2 * settings.figstep_margin
    max_chars = max(1, (settings.figstep_wrap_chars * settings.figstep_size) // size)
    fewest_lines = -(-len(statement) // max_chars) + settings.figstep_steps
    if _line_height(font) * fewest_lines > usable:
        return None  # cannot fit whatever the wrapping: skip the costly layout
    lines = wrap_words(statement, lambda line: len(line) <= max_chars and _ink_right(font, line) <= usable)
    lines += [f"{step}." for step in range(1, settings.figstep_steps + 1)]
    if _line_height(font) * len(lines) > usable:
        return None
    if any(_ink_right(font, line) > usable for line in lines):
        return None
    return font, lines


def render_figstep(statement: str, settings: RenderSettings | None = None) -> tuple[Image.Image, int]:
    """The statement as a numbered list with empty items, and the font size it needed to fit.

    Starts at ``settings.figstep_size`` and shrinks one pixel at a time until every line fits
    inside the margins; raises :class:`RenderError` if even ``figstep_min_size`` is too large.
    """
    settings = settings or RenderSettings()
    text = normalise_text(statement, "FigStep statement")
    _check_glyphs(text, settings.figstep_font)
    for size in range(settings.figstep_size, settings.figstep_min_size - 1, -1):
        layout = _figstep_lines(text, settings, size)
        if layout is not None:
            break
    else:
        raise RenderError(
            f"the FigStep statement ({len(text)} characters) does not fit a {settings.figstep_canvas} px "
            f"canvas even at {settings.figstep_min_size} px; shorten it or lower figstep_min_size"
        )
    font, lines = layout
    canvas = settings.figstep_canvas
    margin = settings.figstep_margin
    image = Image.new(TEXT_MODE, (canvas, canvas), WHITE)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "L"
    line_height = _line_height(font)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * line_height), line, fill=BLACK, font=font, anchor="la")
    _attach_metadata(
        image, "figstep",
        {"text": text, "font": font_label(settings.figstep_font), "font_size": str(size),
         "requested_font_size": str(settings.figstep_size)},
    )  # fmt: skip
    return image, size


#: Upscaling the search image (web photos are mostly narrower than the 1024 px typography) is
#: bilinear: 35% faster than bicubic, and on sample photos upscaled 1.6x the two differ by
#: 37-47 dB PSNR at full size and over 41 dB at the 336-448 px a VLM processor resizes to.
SEARCH_UPSCALE = Image.Resampling.BILINEAR
#: Downscaling keeps bicubic, whose wider kernel avoids aliasing in big detailed photos.
SEARCH_DOWNSCALE = Image.Resampling.BICUBIC
#: Downscales by 4x or more first shrink by a whole factor (box filter), then resample: for a
#: 4200 px photo going to 1024 px that is 2x faster (7000 px: 3x), at ~54 dB PSNR from one step.
SEARCH_REDUCING_GAP = 2.0


def render_concat(
    search_img: Image.Image | str | os.PathLike[str], typography_img: Image.Image | str | os.PathLike[str]
) -> Image.Image:
    """The search image above the typography image, the search image scaled to the typography width.

    Either argument may be an image or a file path; files of any mode are decoded to RGB. The
    search photo is resampled once, straight to the final width (no intermediate thumbnail),
    and big JPEGs are decoded at a reduced scale.
    """
    bottom = _as_rgb(typography_img)
    width = bottom.width
    top = _search_at_width(search_img, width)
    image = Image.new("RGB", (width, top.height + bottom.height), (255, 255, 255))
    image.paste(top, (0, 0))
    image.paste(bottom, (0, top.height))
    entries = {"search_height": str(top.height), "typography_height": str(bottom.height)}
    if not isinstance(search_img, Image.Image):
        entries["search_file"] = Path(search_img).name
    return _attach_metadata(image, "concat", entries)


def _as_rgb(source: Image.Image | str | os.PathLike[str]) -> Image.Image:
    if isinstance(source, Image.Image):
        return to_rgb(source)
    return load_rgb(source, max_side=None)


def _search_at_width(source: Image.Image | str | os.PathLike[str], width: int) -> Image.Image:
    """The search image in RGB, ``width`` pixels wide with its aspect ratio kept."""
    if isinstance(source, Image.Image):
        image = to_rgb(source)
    else:
        with Image.open(source) as opened:
            if opened.format == "JPEG" and min(opened.size) > 2 * width:
                opened.draft("RGB", (width, width))  # DCT-domain downscale, still >= width on both sides
            image = to_rgb(opened)
            image.load()
    if image.width == width:
        return image
    height = max(1, round(image.height * width / image.width))
    if image.width < width:
        return image.resize((width, height), SEARCH_UPSCALE)
    return image.resize((width, height), SEARCH_DOWNSCALE, reducing_gap=SEARCH_REDUCING_GAP)


def encode_png(image: Image.Image, compress_level: int = 1) -> bytes:
    """PNG bytes with fixed encoder settings and only the provenance text chunks (no timestamps).

    zlib's run-length strategy is used for every image: text images are long runs of white,
    and for photos (concat) it is several times faster than the default strategy at about
    the same size.
    """
    entries = image.info.get("vscbench") or {}
    info = _png_info(entries.get("variant", "unknown"), {k: v for k, v in entries.items() if k != "variant"})
    buffer = io.BytesIO()
    image.save(
        buffer, format="PNG", pnginfo=info, optimize=False, compress_level=compress_level,
        compress_type=zlib.Z_RLE, icc_profile=None, transparency=None,
    )  # fmt: skip
    return buffer.getvalue()


def save_png(image: Image.Image, path: str | os.PathLike[str], compress_level: int = 1) -> Path:
    """Write the PNG atomically (temporary file, then rename), so a stopped build leaves no half file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(encode_png(image, compress_level))
    os.replace(temporary, target)
    return target
