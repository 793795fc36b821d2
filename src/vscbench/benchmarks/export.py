"""Export samples to Parquet, JSONL or a saved Hugging Face dataset, one row per sample.

Parquet and ``hf`` embed each image's original bytes (never re-encoded, so pixels are exactly
those of the release) in a ``datasets.Image`` column, so ``datasets.load_dataset("parquet", ...)``
yields PIL images. JSONL stays small and refers to the image files by path instead.
:func:`vscbench.benchmarks.samples.load_samples` reads all three back into the same samples.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vscbench.benchmarks.findings import DatasetError
from vscbench.schema import Sample

ExportFormat = Literal["parquet", "jsonl", "hf"]
EXPORT_FORMATS: tuple[str, ...] = ("parquet", "jsonl", "hf")
_BATCH_ROWS = 256

#: Columns in export order: every Sample field; ``meta`` is a JSON string so any keys fit one column.
TEXT_COLUMNS = ("id", "subset", "category", "variant", "label", "prompt", "question", "pair_key", "source_file")


def export_features() -> Any:
    """The ``datasets.Features`` of a Parquet/hf export (the image as a ``datasets.Image``)."""
    from datasets import Features, Image, Value

    columns: dict[str, Any] = {name: Value("string") for name in TEXT_COLUMNS}
    columns["source_row"] = Value("int64")
    columns["meta"] = Value("string")
    columns["image"] = Image()
    return Features(columns)


def _fields(sample: Sample) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(sample, name) for name in TEXT_COLUMNS}
    row["source_row"] = sample.source_row
    row["meta"] = json.dumps(sample.meta, ensure_ascii=False, sort_keys=True, default=str)
    return row


def _image_name(image: Path, root: Path | None) -> str:
    """The name stored with embedded bytes: the path under ``root`` when inside it, else the file name."""
    if root is not None:
        try:
            return image.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return image.name


def _read_image(sample: Sample) -> bytes:
    assert sample.image_path is not None
    try:
        return Path(sample.image_path).read_bytes()
    except OSError as exc:
        raise DatasetError(
            f"cannot read the image of sample {sample.id} ({sample.image_path}: {exc.strerror or exc}); "
            "run `vscbench data check` on the data, or export only the samples whose images exist."
        ) from exc


def embedded_rows(samples: Sequence[Sample], root: Path | None = None) -> Iterator[dict[str, Any]]:
    """Export rows with the image's bytes embedded (``image`` is None for text-only samples)."""
    for sample in samples:
        row = _fields(sample)
        if sample.image_path is None:
            row["image"] = None
        else:
            row["image"] = {"bytes": _read_image(sample), "path": _image_name(Path(sample.image_path), root)}
        yield row


def jsonl_row(sample: Sample, folder: Path, absolute_paths: bool = False) -> dict[str, Any]:
    """An export row whose ``image_path`` is relative to ``folder`` (or absolute)."""
    row = _fields(sample)
    image = sample.image_path
    if image is None:
        row["image_path"] = None
    elif absolute_paths:
        row["image_path"] = str(Path(image).resolve())
    else:
        row["image_path"] = Path(os.path.relpath(Path(image).resolve(), folder.resolve())).as_posix()
    return row


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not show,
    )  # fmt: skip


def _write_arrow(samples: Sequence[Sample], out: Path, kind: str, root: Path | None, show: bool) -> None:
    """Stream rows in batches into a Parquet file or an Arrow stream file (datasets' own format)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = export_features().arrow_schema
    batch: list[dict[str, Any]] = []
    with _progress(show) as progress:
        task = progress.add_task(f"export {out.name}", total=len(samples))
        if kind == "parquet":
            writer: Any = pq.ParquetWriter(out, schema)
        else:
            sink = pa.OSFile(str(out), "wb")
            writer = pa.ipc.new_stream(sink, schema)
        try:
            for row in embedded_rows(samples, root):
                batch.append(row)
                if len(batch) == _BATCH_ROWS:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    progress.advance(task, len(batch))
                    batch = []
            if batch or kind != "parquet":
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                progress.advance(task, len(batch))
        finally:
            writer.close()
            if kind != "parquet":
                sink.close()


def export_samples(
    samples: Sequence[Sample],
    fmt: ExportFormat | str,
    out: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    absolute_paths: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Write ``samples`` to ``out`` as ``parquet``, ``jsonl`` or ``hf`` (a save_to_disk folder).

    ``root`` (the release folder) names embedded images by their path inside it. The output is
    written beside ``out`` and renamed into place once complete, so a failed export leaves no
    half-written file under the final name.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    target = Path(out).expanduser()
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; choose another --out, or pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    base = Path(root) if root is not None else None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as handle, _progress(show_progress) as progress:
                task = progress.add_task(f"export {target.name}", total=len(samples))
                for sample in samples:
                    row = jsonl_row(sample, target.parent, absolute_paths)
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    progress.advance(task)
        elif fmt == "parquet":
            _write_arrow(samples, tmp, "parquet", base, show_progress)
        else:
            import datasets

            arrow_file = target.with_name(f".{target.name}.{os.getpid()}.arrow")
            bars_were_on = not datasets.are_progress_bars_disabled()
            try:
                _write_arrow(samples, arrow_file, "arrow", base, show_progress)
                datasets.disable_progress_bars()  # our own bar already showed the work
                datasets.Dataset.from_file(str(arrow_file)).save_to_disk(str(tmp))
            finally:
                if bars_were_on:
                    datasets.enable_progress_bars()
                arrow_file.unlink(missing_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return target
