"""Placeholder releases: the real spreadsheets with generated images in the release layout.

The benchmark's images cannot be redistributed or downloaded everywhere; tests, benchmarks and
offline demos use small generated images under the exact file names the spreadsheets reference.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from PIL import Image

from vscbench.benchmarks.vscbench import (
    IMAGE_CENTRIC_COLUMNS,
    IMAGE_CENTRIC_DIR,
    IMAGE_CENTRIC_FILE,
    TEXT_CENTRIC_COLUMNS,
    TEXT_CENTRIC_DIR,
    TEXT_CENTRIC_FILE,
    TEXT_IMAGE_VARIANTS,
    read_sheet,
)
from vscbench.benchmarks.vscbench_layout import PLACEHOLDER_FILE, PLACEHOLDER_LABEL

#: What the marker file of a placeholder release says to whoever opens the folder.
PLACEHOLDER_NOTE = (
    "The images in this folder are generated placeholders: small solid colours under the file names\n"
    "the VSCBench spreadsheets reference, so every command runs offline. Answers to them say nothing\n"
    f"about a model. Every output made from this folder says: {PLACEHOLDER_LABEL}.\n"
    "Get the real images with `vscbench data fetch --dest DIR`.\n"
)

#: Where the real metadata lives in CI and on developer machines (next to the checkout).
DEFAULT_SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "vscbench"


def shared_metadata_dir() -> Path:
    """The folder holding the real spreadsheets: $VSCBENCH_SHARED, or ../shared/vscbench."""
    return Path(os.environ.get("VSCBENCH_SHARED", DEFAULT_SHARED))


def _colour(name: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(name.encode()).digest()
    return digest[0], digest[1], digest[2]


def write_placeholder(path: Path, size: tuple[int, int] = (48, 32)) -> None:
    """A small solid image whose colour depends on its name, saved in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, _colour(path.name))
    suffix = path.suffix.lower()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(suffix, "PNG")
    image.save(path, format=fmt)


def referenced_images(root: Path) -> list[Path]:
    """Every image path the spreadsheets in ``root`` reference, in the release layout."""
    paths: list[Path] = []
    if (root / IMAGE_CENTRIC_FILE).is_file():
        _, rows = read_sheet(root / IMAGE_CENTRIC_FILE, IMAGE_CENTRIC_COLUMNS)
        for _, record in rows:
            category = str(record.get("Category") or "").strip()
            for column in IMAGE_CENTRIC_COLUMNS[2:]:
                name = str(record.get(column) or "").strip()
                if name and category:
                    paths.append(root / IMAGE_CENTRIC_DIR / category / name)
    if (root / TEXT_CENTRIC_FILE).is_file():
        _, rows = read_sheet(root / TEXT_CENTRIC_FILE, TEXT_CENTRIC_COLUMNS)
        for _, record in rows:
            for variant, column in TEXT_IMAGE_VARIANTS.items():
                name = str(record.get(column) or "").strip()
                if name:
                    paths.append(root / TEXT_CENTRIC_DIR / variant / name)
    return list(dict.fromkeys(paths))


def make_placeholder_release(
    dest: str | Path,
    source: str | Path | None = None,
    with_images: bool = True,
) -> Path:
    """Copy the real spreadsheets into ``dest`` and write a placeholder for every referenced image,
    and the marker file that has every output of this folder say it holds placeholders."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    src = Path(source) if source else shared_metadata_dir()
    for name in (IMAGE_CENTRIC_FILE, TEXT_CENTRIC_FILE):
        if not (src / name).is_file():
            raise FileNotFoundError(
                f"{src / name} not found: set VSCBENCH_SHARED to the folder with the VSCBench spreadsheets"
            )
        shutil.copyfile(src / name, root / name)
    (root / PLACEHOLDER_FILE).write_text(PLACEHOLDER_NOTE, encoding="utf-8")
    if with_images:
        for path in referenced_images(root):
            if not path.exists():
                write_placeholder(path)
    return root
