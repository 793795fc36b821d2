"""Read the files benchmarks publish: CSV, JSON, JSONL, Parquet, and Hugging Face ``datasets``.

Every reader returns a :class:`Table`: the rows as plain dicts with the number a person would
use to find them (spreadsheet row for CSV, where the header is row 1; line for JSONL; entry
for JSON lists and Parquet), so a loader's findings point at the right place. Image columns of
a ``datasets`` table are kept raw (``{bytes, path}``): nothing is decoded while loading, and
embedded bytes are written once to the content-addressed image cache that
:mod:`vscbench.benchmarks.samples` uses.

A hub dataset is named ``hf:OWNER/NAME`` or ``hf:OWNER/NAME@REVISION``. It is always loaded at
a pinned revision: the one given, else the benchmark's pinned one; never a moving branch.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from vscbench.benchmarks.cells import MAX_PROMPT_CHARS, OUTSIDE_DATA
from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, locate, not_bundled
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.samples import default_image_cache, materialise_image

_HUB = re.compile(r"^hf:(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
SAVED_DATASET_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


@dataclass
class Table:
    """Rows read from one file or dataset, numbered as a person would look them up."""

    file: str
    """The name findings use: the file's name, or the hub id with its revision."""
    rows: list[tuple[int, dict[str, Any]]]
    columns: list[str]
    base: Path | None = None
    """Folder that relative image paths in the rows are resolved against."""
    row_word: str = "row"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HubRef:
    repo: str
    revision: str | None


def parse_hub(source: str | Path) -> HubRef | None:
    """``hf:OWNER/NAME[@REVISION]`` as a :class:`HubRef`; anything else is not a hub id."""
    match = _HUB.match(str(source))
    return HubRef(match["repo"], match["revision"]) if match else None


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in SAVED_DATASET_MARKERS)


def _unreadable(path: Path, why: object, fix: str) -> DatasetError:
    return DatasetError(f"{path} cannot be read ({why}). {fix}")


def read_csv(path: Path, delimiter: str | None = None) -> Table:
    """A CSV (or TSV) file with a header row; the first data row is row 2, as in a spreadsheet."""
    sep = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=sep)
            rows = [(index + 2, dict(record)) for index, record in enumerate(reader)]
            columns = [c for c in (reader.fieldnames or []) if c is not None]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable(path, exc, "Give the benchmark's CSV file as published (UTF-8, header row first).") from exc
    for _, record in rows:
        record.pop(None, None)  # cells beyond the header: reported by the loader as a bad row if it matters
    return Table(file=path.name, rows=rows, columns=columns, base=path.parent)


def load_json(path: Path) -> Any:
    """Parse a JSON file; a syntax error names the line and column."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise _unreadable(path, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                          "Download the file again; it may be truncated.") from exc  # fmt: skip
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc, "Check the path and that the file is UTF-8 JSON.") from exc


def records_table(data: Any, file: str, base: Path | None) -> Table:
    """A JSON list of objects (entry 1, 2, ...) or an object of objects (its keys in ``__key__``)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    if isinstance(data, list):
        items: Iterable[tuple[str | None, Any]] = ((None, item) for item in data)
    elif isinstance(data, dict):
        items = data.items()
    else:
        raise DatasetError(
            f"{file} holds a JSON {type(data).__name__}; expected a list of objects or an object of objects."
        )
    for index, (key, item) in enumerate(items, start=1):
        record = (
            dict(item) if isinstance(item, dict) else {"__error__": f"expected an object, got {type(item).__name__}"}
        )
        if key is not None:
            record["__key__"] = str(key)
        rows.append((index, record))
    columns = sorted({k for _, r in rows for k in r if not k.startswith("__")})
    return Table(file=file, rows=rows, columns=columns, base=base, row_word="entry")


def read_jsonl(path: Path) -> Table:
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError as exc:
                    rows.append((number, {"__error__": f"not valid JSON ({exc})"}))
                    continue
                rows.append((number, item if isinstance(item, dict) else {"__error__": "expected a JSON object"}))
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc, "Check the path and that the file is UTF-8 JSON lines.") from exc
    columns = sorted({k for _, r in rows for k in r if not k.startswith("__")})
    return Table(file=path.name, rows=rows, columns=columns, base=path.parent, row_word="line")


def _arrow_rows(dataset: Any) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Rows of a ``datasets.Dataset`` without decoding images (``{bytes, path}`` stays raw)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for batch in dataset.with_format("arrow").iter(batch_size=256):
        for record in batch.to_pylist():
            rows.append((len(rows) + 1, record))
    return rows, list(dataset.column_names)


def read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        rows: list[tuple[int, dict[str, Any]]] = []
        for batch in parquet.iter_batches(batch_size=256):
            for record in batch.to_pylist():
                rows.append((len(rows) + 1, record))
        columns = list(parquet.schema_arrow.names)
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc, "Give a Parquet file as published on the benchmark's hub page.") from exc
    return Table(file=path.name, rows=rows, columns=columns, base=path.parent)


def _pick_split(loaded: Any, split: str | None, where: str) -> Any:
    import datasets

    if not isinstance(loaded, datasets.DatasetDict):
        return loaded
    if split is not None:
        if split not in loaded:
            raise DatasetError(f"{where} has no split {split!r}; it has {', '.join(loaded)}. Pass split=NAME.")
        return loaded[split]
    if len(loaded) == 1:
        return next(iter(loaded.values()))
    raise DatasetError(f"{where} holds the splits {', '.join(loaded)}; choose one with split=NAME.")


def read_saved_dataset(path: Path, split: str | None = None) -> Table:
    """A folder written by ``datasets``' ``save_to_disk`` (a Dataset, or a DatasetDict and a split)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise _unreadable(path, exc, "Give a folder written by datasets' save_to_disk.") from exc
    rows, columns = _arrow_rows(_pick_split(loaded, split, str(path)))
    return Table(file=path.name, rows=rows, columns=columns, base=path, row_word="entry")


def read_hub(ref: HubRef, config: str | None, split: str, revision: str | None) -> Table:
    """A dataset on the Hugging Face Hub at a pinned revision (``ref.revision``, else ``revision``)."""
    import datasets

    pinned = ref.revision or revision
    if not pinned:
        raise DatasetError(
            f"hf:{ref.repo} has no pinned revision; name the commit to load, e.g. hf:{ref.repo}@COMMIT_SHA "
            "(the dataset page's 'Files and versions' history lists them), so that results can be repeated."
        )
    try:
        loaded = datasets.load_dataset(ref.repo, config, split=split, revision=pinned)
    except Exception as exc:  # network, gating, unknown config: the datasets message says which
        raise DatasetError(
            f"hf:{ref.repo}@{pinned} (config {config or 'default'}, split {split}) could not be loaded: {exc}. "
            "If the dataset is gated, accept its terms on the Hub and log in (`hf auth login`); "
            "or download the files and pass their folder with --data."
        ) from exc
    rows, columns = _arrow_rows(_pick_split(loaded, split, f"hf:{ref.repo}"))
    return Table(file=f"hf:{ref.repo}@{pinned}", rows=rows, columns=columns, base=None, row_word="entry")


def read_table(path: Path, split: str | None = None) -> Table:
    """Any one-table file the benchmarks publish, chosen by suffix (or a saved dataset folder)."""
    if is_saved_dataset(path):
        return read_saved_dataset(path, split)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return read_csv(path)
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        return records_table(load_json(path), path.name, path.parent)
    if suffix == ".parquet":
        return read_parquet(path)
    raise DatasetError(
        f"{path} is not a CSV, JSON, JSONL or Parquet file, nor a folder saved with datasets' save_to_disk."
    )


def missing_columns(table: Table, required: Iterable[str]) -> list[str]:
    return [c for c in required if c not in table.columns]


def text(value: Any) -> str:
    """A cell as stripped text (numbers that are whole print without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


class ImageProblem(str):
    """Why an image cell cannot be used; ``kind`` and ``reason`` are the finding's kind and the
    unusable samples' reason."""

    kind: str
    reason: str

    def __new__(cls, text: str, kind: str, reason: str) -> Self:
        problem = super().__new__(cls, text)
        problem.kind, problem.reason = kind, reason
        return problem


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, every link followed, stays inside ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def image_cell(value: Any, base: Path | None, cache_dir: Path | None = None) -> tuple[Path | None, ImageProblem | None]:
    """An image column's value as a file inside ``base`` (the data folder), or embedded bytes
    (a ``datasets`` ``{bytes, path}`` dict) written to the image cache. Returns (path, problem).

    A path is untrusted: an absolute one, one that climbs out with ``..``, or a link that leads
    out of ``base`` is refused, so a data file can never make vscbench read or send a file from
    elsewhere on the machine.
    """
    cache = cache_dir or default_image_cache()
    name: str | None = None
    if isinstance(value, dict):
        data, name = value.get("bytes"), value.get("path")
        if data:
            return materialise_image(bytes(data), name, cache), None
    elif isinstance(value, (bytes, bytearray)):
        if value:
            return materialise_image(bytes(value), None, cache), None
        return None, ImageProblem("the embedded image is empty", "empty_image", "image empty")
    elif isinstance(value, str):
        name = value.strip()
    elif value is not None:
        return None, ImageProblem(
            f"an image must be a path or bytes, not {type(value).__name__}", "missing_image_name", "image not named"
        )
    if not name:
        return None, ImageProblem("no image is named", "missing_image_name", "image not named")
    if base is None:
        return None, ImageProblem(
            f"the image {name!r} is a path, but this dataset has no folder to hold it (embed the image bytes)",
            "missing_image", "image missing",
        )  # fmt: skip
    path = base / name
    if Path(name).is_absolute() or name.startswith("~") or not is_inside(path, base):
        return None, ImageProblem(
            f"the image path {name!r} leads outside the data folder {base}; it is never read",
            "image_outside_data", OUTSIDE_DATA,
        )  # fmt: skip
    if not path.is_file():
        return None, ImageProblem(f"image file {path} does not exist", "missing_image", "image missing")
    return path, None


def prompt_text(
    report: BenchmarkReport, file: str, row: int | None, column: str, value: Any, where: str = ""
) -> tuple[str, str | None]:
    """A prompt field as text, or ``("", reason)`` with a finding: empty, not text (a number, a
    list), or longer than :data:`~vscbench.benchmarks.cells.MAX_PROMPT_CHARS` (a runaway cell would
    be sent, and paid for, per sample). ``where`` names the entry in the finding's detail."""
    lead = f"{where}: " if where else ""
    if value is None or (isinstance(value, str) and not value.strip()):
        report.add("missing_prompt", file, row, column, f"{lead}the prompt is empty")
        return "", "prompt missing"
    if not isinstance(value, str):
        report.add("prompt_not_text", file, row, column,
                   f"{lead}the prompt holds a {type(value).__name__} ({str(value)[:40]!r}), not text; it is not asked")  # fmt: skip
        return "", "prompt is not text"
    prompt = value.strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        report.add("prompt_too_long", file, row, column,
                   f"{lead}the prompt holds {len(prompt):,} characters, more than {MAX_PROMPT_CHARS:,}; it is not "
                   f"asked (it starts {prompt[:40]!r})")  # fmt: skip
        return "", "prompt too long"
    return prompt, None


def open_table(
    data: str | Path,
    info: BenchmarkInfo,
    candidates: Iterable[str],
    *,
    split: str | None = None,
    config: str | None = None,
    revision: str | None = None,
) -> Table:
    """The benchmark's table from wherever the user keeps it: its published file (or a folder
    holding it under one of ``candidates``), a saved ``datasets`` folder, or ``hf:OWNER/NAME``."""
    ref = parse_hub(data)
    if ref is not None:
        if info.hub_id is None:
            raise DatasetError(f"{info.title} is not loaded from the Hugging Face Hub by vscbench. {not_bundled(info)}")
        pinned = revision or (info.hub_revision if ref.repo.lower() == info.hub_id.lower() else None)
        return read_hub(ref, config, split or "train", pinned)
    path = Path(data).expanduser()
    if is_saved_dataset(path):
        return read_saved_dataset(path, split)
    return read_table(locate(path, info, list(candidates)), split)


def usable_image(
    report: BenchmarkReport,
    file: str,
    row: int | None,
    column: str,
    value: object,
    base: Path | None,
    sample_ids: Iterable[str],
    cache_dir: Path | None = None,
) -> Path | None:
    """The image of a row when it can be used; otherwise a finding, and the samples that needed
    it are marked unusable (the image is only checked to exist, never decoded here)."""
    path, problem = image_cell(value, base, cache_dir)
    if problem is None:
        return path
    report.add(problem.kind, file, row, column, str(problem))
    for sample_id in sample_ids:
        report.unusable[sample_id] = problem.reason
    return None
