"""Turn a user's own prompts (CSV or JSONL) into a text-centric release folder the loader accepts.

The output has the release's spreadsheet, columns and file-name pattern, so every command
that reads a release (run, check, report) works on it unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.vscbench import TEXT_CENTRIC_COLUMNS, TEXT_CENTRIC_DIR, TEXT_CENTRIC_FILE
from vscbench.render.build import ProgressCallback, build_release_images
from vscbench.render.fonts import MissingGlyphError, RenderSettings, font_label, missing_glyphs

#: Columns a custom file must have; ``search_img`` (a path to a photo) and ``focus`` are optional.
CUSTOM_REQUIRED_COLUMNS = ("type", "prompt_origin", "prompt_mm", "object", "prompt_figstep")
CUSTOM_OPTIONAL_COLUMNS = ("search_img", "focus")

_UNSAFE_FILE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


@dataclass(frozen=True)
class CustomRow:
    """One prompt of the user's file, with the line it came from (for error messages)."""

    line: int
    values: dict[str, str]


def _read_rows(path: Path) -> list[CustomRow]:
    """Rows of a CSV (header line) or JSONL (one object per line) file, all values as text."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise DatasetError(f"{path}: unsupported file type {suffix or '(none)'}; give a .csv or .jsonl file")
    if not path.is_file():
        raise DatasetError(f"{path} does not exist; give the path of your CSV or JSONL file of prompts")
    text = path.read_text(encoding="utf-8-sig")
    rows: list[CustomRow] = []
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in reader.fieldnames or []]
        _check_header(path, header, "the header line")
        for record in reader:
            values = {k.strip(): (v or "") for k, v in record.items() if k}
            if any(v.strip() for v in values.values()):
                rows.append(CustomRow(reader.line_num, values))
        return rows
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path} line {number} is not valid JSON ({exc.msg}); each line must be one object"
            ) from exc
        if not isinstance(record, dict):
            raise DatasetError(f"{path} line {number} is a JSON {type(record).__name__}, not an object with columns")
        _check_header(path, list(record), f"line {number}")
        values = {str(k): "" if v is None else str(v) for k, v in record.items()}
        rows.append(CustomRow(number, values))
    return rows


def _check_header(path: Path, columns: list[str], where: str) -> None:
    missing = [c for c in CUSTOM_REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DatasetError(
            f"{path}: {where} lacks the column(s) {', '.join(missing)}. Required: "
            f"{', '.join(CUSTOM_REQUIRED_COLUMNS)}; optional: {', '.join(CUSTOM_OPTIONAL_COLUMNS)}."
        )


def typography_file_name(index: int, key_phrase: str) -> str:
    """The release's pattern, ``<index>_<key phrase, spaces as _>.png``, made safe for any file system."""
    stem = _UNSAFE_FILE_CHARS.sub("_", "_".join(key_phrase.split()))[:80].strip("._") or "object"
    return f"{index}_{stem}.png"


def _validate(path: Path, rows: list[CustomRow], settings: RenderSettings) -> list[Path | None]:
    """Check every row before writing anything; returns each row's search image (or None)."""
    problems: list[str] = []
    searches: list[Path | None] = []
    fonts = {"object": settings.typography_font, "prompt_figstep": settings.figstep_font}
    for row in rows:
        for column in ("type", "object", "prompt_figstep"):
            if not row.values.get(column, "").strip():
                problems.append(f"line {row.line}: column {column} is empty or whitespace-only")
            elif column in fonts and (missing := missing_glyphs(row.values[column], fonts[column])):
                error = MissingGlyphError(row.values[column], font_label(fonts[column]), missing)
                problems.append(f"line {row.line}: column {column}: {error}")
        search_text = row.values.get("search_img", "").strip()
        search = None
        if search_text:
            search = Path(search_text).expanduser()
            if not search.is_absolute():
                search = path.parent / search
            if not search.is_file():
                problems.append(f"line {row.line}: search image {search_text} not found (looked at {search})")
        searches.append(search)
    if not rows:
        problems.append("no prompts in the file")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DatasetError(f"{path}: {shown}. Fix these rows and run again.")
    return searches


def build_custom(
    file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    settings: RenderSettings | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> Path:
    """Render a CSV/JSONL of prompts into a new release folder; returns the folder.

    Writes ``vscbench_text_centric.xlsx`` with the standard columns and file names (including
    the release's own ``<index>_fistep.png`` spelling), copies each optional search image into
    ``search/``, and renders typography, FigStep and (where a search image was given) concat.
    Rows without a search image get no search or concat image. Raises :class:`DatasetError`
    naming the file, line and column for bad input, and when an image cannot be rendered.
    """
    import openpyxl

    source = Path(file).expanduser()
    root = Path(out).expanduser()
    settings = settings or RenderSettings()
    rows = _read_rows(source)
    searches = _validate(source, rows, settings)
    sheet_path = root / TEXT_CENTRIC_FILE
    if sheet_path.exists() and not force:
        raise DatasetError(f"{sheet_path} already exists; choose another --out folder or pass --force to overwrite it")
    images = root / TEXT_CENTRIC_DIR
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "text_centric"
    sheet.append(list(TEXT_CENTRIC_COLUMNS))
    line_of_sheet_row: dict[int, int] = {}
    for index, (row, search) in enumerate(zip(rows, searches)):
        values = row.values
        search_name = concat_name = ""
        if search is not None:
            search_name = f"d_{index}_0{search.suffix.lower()}"
            concat_name = f"{index}_concat.png"
            (images / "search").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(search, images / "search" / search_name)
        record = {
            "type": values["type"].strip(),
            "focus": values.get("focus", "").strip(),
            "prompt_origin": values["prompt_origin"],
            "prompt_mm": values["prompt_mm"],
            "object": values["object"],
            "search_img": search_name,
            "typography_img": typography_file_name(index, values["object"]),
            "concat_img": concat_name,
            "prompt_figstep": values["prompt_figstep"],
            "figstep_img": f"{index}_fistep.png",
        }
        sheet.append([record[c] for c in TEXT_CENTRIC_COLUMNS])
        line_of_sheet_row[index + 2] = row.line
    root.mkdir(parents=True, exist_ok=True)
    workbook.save(sheet_path)
    report = build_release_images(root, workers=workers, force=True, settings=settings, progress=progress)
    failures = [
        f for f in report.failures
        if not (f.variant == "concat" and searches[f.row - 2] is None)
    ]  # fmt: skip
    if failures:
        details = "; ".join(
            f"line {line_of_sheet_row.get(f.row, f.row)} {f.variant}: {f.reason}" for f in failures[:10]
        )
        raise DatasetError(f"{source}: {len(failures)} image(s) could not be rendered: {details}")
    return root
