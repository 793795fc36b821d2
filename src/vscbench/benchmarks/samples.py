"""Load samples from wherever they are: a release folder, a JSONL or Parquet file, a saved dataset.

This is how users bring their own benchmark: rows in the export schema (one per sample, the
fields of :class:`~vscbench.schema.Sample`, ``meta`` as an object or a JSON string, the image as
a path or as embedded bytes). Every row is validated; a bad row is reported with its file and
line. Embedded image bytes are written once into a content-addressed cache folder, so every
Sample still points at a file, exactly like a release loaded from disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from vscbench.benchmarks.findings import DatasetError, Finding
from vscbench.benchmarks.released import released_samples
from vscbench.benchmarks.vscbench import LoadReport, VSCBenchData, is_release, load_vscbench
from vscbench.jsonl import lone_surrogate, not_jsonl, text_lines
from vscbench.schema import Label, Sample

#: Image file suffixes kept for cached images; anything else is sniffed from the bytes.
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
_MAX_LISTED_ERRORS = 10


def default_image_cache() -> Path:
    """``$VSCBENCH_CACHE/images``, or ``~/.cache/vscbench/images``."""
    return Path(os.environ.get("VSCBENCH_CACHE", "~/.cache/vscbench")).expanduser() / "images"


class SampleRow(BaseModel):
    """One row of an exported or user-made dataset, as read from the file (before images)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    subset: str
    category: str
    variant: str
    label: Label
    prompt: str
    question: str | None = None
    pair_key: str | None = None
    source_file: str | None = None
    source_row: int | None = None
    meta: dict[str, Any] = {}
    image_path: str | None = None

    @field_validator("meta", mode="before")
    @classmethod
    def _meta_from_json(cls, value: Any) -> Any:
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"meta is not valid JSON ({exc})") from exc
        return value

    @field_validator("id", "prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


def materialise_image(data: bytes, name_hint: str | None, cache_dir: Path) -> Path:
    """Write image bytes once under their sha256 (keeping the suffix) and return the file's path."""
    suffix = Path(name_hint).suffix.lower() if name_hint else ""
    if suffix not in _IMAGE_SUFFIXES:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as image:
                suffix = "." + (image.format or "bin").lower().replace("jpeg", "jpg")
        except OSError:
            suffix = ".bin"
    path = cache_dir / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for each non-blank line; a string in place of the row says why it is
    bad (not UTF-8, not JSON, a lone surrogate). A file of another format is a DatasetError."""
    wrong = not_jsonl(path)
    if wrong:
        raise DatasetError(f"{wrong}; give a .jsonl file of samples (`vscbench data export --format jsonl`)")
    for number, line, bad in text_lines(path):
        if bad or line is None:
            yield number, bad or "unreadable"
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield number, f"not valid JSON ({exc})"
            continue
        if not isinstance(row, dict):
            yield number, f"expected a JSON object, got {type(row).__name__}"
            continue
        surrogate = lone_surrogate(row)
        yield number, row if surrogate is None else f"{surrogate}; it cannot be sent (write the character itself)"


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(
            f"{path} is not a readable parquet file ({exc}); give a .parquet export of samples"
        ) from None
    number = 0
    for batch in file.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _saved_dataset_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) != 1:
            raise DatasetError(
                f"{path} holds the splits {', '.join(loaded)}; pass one split's folder, e.g. {path / next(iter(loaded))}."
            )
        loaded = next(iter(loaded.values()))
    number = 0
    for batch in loaded.with_format("arrow").iter(batch_size=256):  # raw {bytes, path}: nothing decoded
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _row_image(row: dict[str, Any], base: Path, cache_dir: Path) -> tuple[Path | None, str | None]:
    """Pop the image columns of a row: (a file path or None, a problem or None)."""
    image = row.pop("image", None)
    path_text = row.pop("image_path", None)
    if isinstance(image, dict):
        data, path_text = image.get("bytes"), image.get("path") or path_text
        if data:
            return materialise_image(data, path_text, cache_dir), None
    elif isinstance(image, (bytes, bytearray)):
        return materialise_image(bytes(image), path_text, cache_dir), None
    elif isinstance(image, str) and image:
        path_text = image
    elif image is not None:
        return None, f"image must be a path, bytes or {{bytes, path}}, not {type(image).__name__}"
    if not path_text:
        return None, None
    path = Path(path_text).expanduser()
    return (path if path.is_absolute() else base / path), None


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "row"
        message = (
            "unknown field (allowed: " + ", ".join(SampleRow.model_fields) + ", image)"
            if item["type"] == "extra_forbidden"
            else item["msg"]
        )
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def samples_from_rows(
    rows: Iterable[tuple[int, dict[str, Any] | str]],
    file: Path,
    cache_dir: Path | None = None,
    strict: bool = True,
) -> VSCBenchData:
    """Validate rows into samples. ``strict`` raises on any bad row (listing them with line
    numbers); otherwise bad rows are skipped and kept in the report as ``bad_row`` defects."""
    cache = Path(cache_dir) if cache_dir else default_image_cache()
    report = LoadReport()
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    line_word = "line" if file.suffix in (".jsonl", ".json") else "row"
    for number, row in rows:
        problem = row if isinstance(row, str) else None
        sample = None
        if problem is None:
            assert isinstance(row, dict)
            record = dict(row)
            image, problem = _row_image(record, file.parent, cache)
            if problem is None:
                try:
                    fields = SampleRow.model_validate(record).model_dump(exclude={"image_path"})
                    sample = Sample(**fields, image_path=image)
                except ValidationError as exc:
                    problem = _describe(exc)
        if problem is None and sample is not None and sample.id in seen:
            problem = f"id {sample.id!r} is already used on {line_word} {seen[sample.id]}"
        if problem is not None or sample is None:
            report.findings.append(Finding("bad_row", str(file), number, None, f"{line_word} {number}: {problem}"))
            continue
        seen[sample.id] = number
        if sample.image_path is not None and not sample.image_path.is_file():
            report.findings.append(
                Finding(
                    "missing_image", str(file), number, "image_path", f"image file {sample.image_path} does not exist"
                )
            )
            report.unusable[sample.id] = "image file missing"
            continue
        samples.append(sample)
        report.loaded["text_only" if sample.image_path is None else sample.subset] += 1
    bad = [f for f in report.findings if f.kind == "bad_row"]
    if strict and bad:
        listed = "\n".join(f"  {file}:{f.row}: {f.detail.split(': ', 1)[1]}" for f in bad[:_MAX_LISTED_ERRORS])
        more = f"\n  ... and {len(bad) - _MAX_LISTED_ERRORS} more" if len(bad) > _MAX_LISTED_ERRORS else ""
        raise DatasetError(
            f"{file} has {len(bad)} bad {line_word}(s); fix them (fields as in `vscbench data export` "
            f"output), or skip them (-B strict=false; strict=False in code):\n{listed}{more}"
        )
    return VSCBenchData(root=file, samples=samples, report=report)


def load_samples(
    path: str | os.PathLike[str],
    *,
    subset: str | None = None,
    variants: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    strict: bool = True,
    warn: bool = True,
    figstep_instruction: str | None = None,
    as_released: bool = False,
) -> VSCBenchData:
    """Samples from a release folder, a ``.jsonl``/``.parquet`` export, or a saved datasets folder.

    ``as_released``: the samples as the released VSCBench code asks them (raw prompts, unsent
    samples kept and marked; :mod:`vscbench.benchmarks.released`). An export holds the prompts
    it was written with, so only a release folder knows its raw cells and its unusable rows.

    ``subset`` ("image_centric", "text_centric", or None/"all") and ``variants`` filter the result.
    Embedded images are cached under ``cache_dir`` (default :func:`default_image_cache`).
    ``figstep_instruction`` replaces the benchmark's own FigStep sentence in a release folder;
    an export or a user dataset sends its prompts as they are, so it refuses one.
    """
    source = Path(path).expanduser()
    cache = Path(cache_dir).expanduser() if cache_dir else None
    if source.is_dir() and is_release(source):
        wanted = [subset] if subset and subset != "all" else None  # None: every subset the release has
        instruction = {"figstep_instruction": figstep_instruction} if figstep_instruction is not None else {}
        data = load_vscbench(source, subsets=wanted, warn=warn, as_released=as_released, **instruction)
    elif figstep_instruction is not None:
        raise DatasetError(
            f"a FigStep instruction applies to a release folder; {source} is an export or a dataset of your own, "
            "whose prompts are sent exactly as they are written there"
        )
    elif source.is_dir() and any((source / n).is_file() for n in ("dataset_info.json", "dataset_dict.json")):
        data = samples_from_rows(_saved_dataset_rows(source), source / "data", cache, strict)
        data.root = source
    elif source.is_file() and source.suffix.lower() in (".jsonl", ".json"):
        data = samples_from_rows(_jsonl_rows(source), source, cache, strict)
    elif source.is_file() and source.suffix.lower() == ".parquet":
        data = samples_from_rows(_parquet_rows(source), source, cache, strict)
    elif not source.exists():
        raise DatasetError(
            f"{source} does not exist. Give a release folder (`vscbench data fetch --dest DIR`), "
            "a .jsonl or .parquet file, or a folder saved with datasets' save_to_disk."
        )
    else:
        raise DatasetError(
            f"{source} is not a VSCBench release folder, a .jsonl or .parquet file, or a saved "
            "datasets folder (dataset_info.json); "
            + (
                f"download the release into it with `vscbench data fetch --dest {source}`, or "
                if source.is_dir()
                else ""
            )
            + "convert it with `vscbench data export`."
        )
    if as_released and not (source.is_dir() and is_release(source)):
        data.samples = released_samples((sample, None) for sample in data.samples)
    data.samples = data.filter(subset=subset, variants=variants)
    return data
