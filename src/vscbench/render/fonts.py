"""Fonts for the rendered attack images: where they come from, which one, and what they can draw.

The fonts ship with an installed package (matplotlib's DejaVu set), so every machine renders
with the same font file; a guessed system path would make images differ between machines.
Pillow's BASIC layout engine is used on purpose: RAQM (the complex-script engine) is present
on some machines and not on others, and would change the pixels.
"""

from __future__ import annotations

import importlib.util
import os
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont


class RenderError(ValueError):
    """A text that cannot be rendered as asked. The message says why and what to do."""


class MissingGlyphError(RenderError):
    """The font has no glyph for some characters of the text (typically CJK with DejaVu)."""

    def __init__(self, text: str, font_file: str, missing: list[str]) -> None:
        self.text = text
        self.font_file = font_file
        self.missing = missing
        shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        super().__init__(
            f"the font {font_file} cannot draw {shown}{more} in {text!r}. Pass a font file that "
            "covers these characters with --font PATH (for CJK text, e.g. a Noto Sans CJK .otf/.ttc)"
        )


def matplotlib_font_dir() -> Path:
    """The DejaVu fonts folder inside the installed matplotlib package (found without importing it)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RenderError(
            "matplotlib is not installed, so its DejaVu fonts are unavailable. "
            "Install it (`pip install matplotlib`) or pass a font file with --font PATH."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


def resolve_font(font: str | os.PathLike[str]) -> Path:
    """A font file path: an existing path as given, or a bare file name from matplotlib's fonts."""
    candidate = Path(font).expanduser()
    if candidate.is_file():
        return candidate.resolve()
    if candidate.name == str(font):
        bundled = matplotlib_font_dir() / candidate.name
        if bundled.is_file():
            return bundled
    raise RenderError(
        f"font {font} not found: give the path of a .ttf/.otf/.ttc file, or the name of one of "
        f"matplotlib's fonts in {matplotlib_font_dir()} (e.g. DejaVuSans-Bold.ttf)"
    )


@dataclass(frozen=True)
class RenderSettings:
    """Everything that decides the pixels of a rendered image. Same settings -> same bytes.

    Defaults follow the originals: MM-SafetyBench typography (large bold text, 1024 px wide,
    greedy word wrap) and FigStep (760x760, bold monospace at 80 px, wrapped at 15 characters,
    then the empty items 1. 2. 3.). FigStep text is shrunk until it fits, which the original
    did not do.
    """

    typography_font: str = "DejaVuSans-Bold.ttf"
    typography_size: int = 90
    typography_width: int = 1024
    typography_margin: int = 20
    figstep_font: str = "DejaVuSansMono-Bold.ttf"
    figstep_size: int = 80
    figstep_min_size: int = 12
    figstep_canvas: int = 760
    figstep_margin: int = 16
    figstep_wrap_chars: int = 15
    """Characters per line at ``figstep_size``; scaled up as the font shrinks."""
    figstep_steps: int = 3
    png_compress_level: int = 1
    """zlib level; with the run-length strategy :func:`encode_png` uses, 1 gives the same sizes as 6, faster."""

    def with_font(self, font: str | os.PathLike[str] | None) -> RenderSettings:
        """The same settings with one font file for every variant (the CLI's ``--font``)."""
        if font is None:
            return self
        path = str(resolve_font(font))
        return replace(self, typography_font=path, figstep_font=path)


def font_label(font: str) -> str:
    """The font's file name: what goes into image metadata (a full path would differ per machine)."""
    return Path(font).name


@lru_cache(maxsize=256)
def load_font(font: str, size: int) -> ImageFont.FreeTypeFont:
    """A FreeType font at ``size`` pixels with the BASIC layout engine (identical on every machine)."""
    path = resolve_font(font)
    try:
        return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    except OSError as exc:
        raise RenderError(f"{path} could not be opened as a font ({exc}); pass a .ttf, .otf or .ttc file") from exc


@lru_cache(maxsize=16)
def _covered_codepoints(font: str) -> frozenset[int]:
    from fontTools.ttLib import TTCollection, TTFont

    path = resolve_font(font)
    if path.suffix.lower() == ".ttc":
        collection = TTCollection(str(path), lazy=True)
        cmap = collection.fonts[0].getBestCmap() or {}
    else:
        with TTFont(str(path), lazy=True) as opened:
            cmap = opened.getBestCmap() or {}
    return frozenset(cmap)


def missing_glyphs(text: str, font: str) -> list[str]:
    """Characters of ``text`` that the font has no glyph for, in order of first appearance.

    Whitespace and invisible format/combining characters are not required to have a glyph.
    """
    covered = _covered_codepoints(font)
    missing: dict[str, None] = {}
    for ch in text:
        if ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc", "Mn"):
            continue
        if ord(ch) not in covered:
            missing[ch] = None
    return list(missing)


def normalise_text(text: object, what: str) -> str:
    """NFC-composed text with runs of whitespace (newlines included) collapsed to one space.

    Composed accents draw with the font's own precomposed glyphs. Raises :class:`RenderError`
    when nothing visible is left.
    """
    if text is None:
        raise RenderError(f"the {what} is empty; there is nothing to render")
    cleaned = " ".join(unicodedata.normalize("NFC", str(text)).split())
    if not cleaned:
        raise RenderError(f"the {what} is empty or whitespace-only; there is nothing to render")
    return cleaned
