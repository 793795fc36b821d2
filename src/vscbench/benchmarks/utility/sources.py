"""Where utility benchmark rows come from: the hub, local files, or ``datasets`` objects.

Every source is read into one Arrow table in the published schema:

* the Hugging Face hub (default): ``datasets.load_dataset(id, name=config, split=...,
  revision=...)`` with the ids and commits pinned in :data:`HUB_DEFAULTS`;
* a local parquet file, or a folder of them (``<split>-*.parquet`` files are preferred);
* a JSONL file (images as paths relative to the file, or ``{"bytes": <base64>}``);
* a ``datasets.save_to_disk`` folder (a Dataset, or a DatasetDict from which the split is taken);
* an in-memory ``datasets.Dataset`` / ``DatasetDict`` (for notebooks).

Arrow keeps images as encoded bytes (``struct<bytes, path>``), so nothing is decoded here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Literal

from vscbench.benchmarks.findings import DatasetError

log = logging.getLogger(__name__)

SourceKind = Literal["hub", "parquet", "jsonl", "disk", "dataset"]


@dataclass(frozen=True)
class HubDataset:
    """Where a benchmark lives on the hub, pinned to a commit so results stay comparable."""

    dataset_id: str
    config: str | None
    split: str
    revision: str


#: lmms-lab's copies are the ones lmms-eval scores against. POPE's ``default`` config holds all
#: 9,000 questions in one ``test`` split with a ``category`` column (random / popular /
#: adversarial). ``ScienceQA-IMG`` is the image subset of ScienceQA's test split (2,017
#: questions), with ``hint`` as context. The revisions are the repositories' head commits.
HUB_DEFAULTS: dict[str, HubDataset] = {
    "pope": HubDataset("lmms-lab/POPE", "default", "test", "4db1276663dfa5eb8ad16a52d24c31a09e470896"),
    "scienceqa": HubDataset("lmms-lab/ScienceQA", "ScienceQA-IMG", "test", "69dd4d6b67373d38f96a5badd5d24d0eb5bcdc50"),
}


def read_source(
    benchmark: str,
    data: Any,
    dataset_id: str | None = None,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The rows of ``data`` (or of the pinned hub copy when ``data`` is None) as an Arrow table,
    and an ``origin`` dict: kind, location, split, hub id/config/revision, and ``base`` (the
    folder that relative image paths are resolved against)."""
    if data is None:
        return _read_hub(benchmark, dataset_id, config, split, revision)
    if not isinstance(data, (str, Path)):
        table, used_split = _dataset_table(data, split, "the given dataset object")
        location = f"<in-memory {type(data).__name__}>"
        return table, {"kind": "dataset", "location": location, "split": used_split}
    path = Path(data).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist; pass a parquet/JSONL file or a save_to_disk folder")
    if path.is_dir() and any((path / name).is_file() for name in _DISK_MARKERS):
        import datasets

        table, used_split = _dataset_table(datasets.load_from_disk(str(path)), split, str(path))
        return table, {"kind": "disk", "location": str(path), "split": used_split, "base": path}
    if path.suffix in (".jsonl", ".json"):
        origin = {"kind": "jsonl", "location": str(path), "split": split, "base": path.parent}
        return _read_jsonl(path), origin
    files = _parquet_files(path, split)
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(f) for f in files]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    base = path if path.is_dir() else path.parent
    return table, {"kind": "parquet", "location": str(path), "split": split, "base": base}


_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def _read_hub(
    benchmark: str, dataset_id: str | None, config: str | None, split: str | None, revision: str | None
) -> tuple[Any, dict[str, Any]]:
    import datasets

    pinned = HUB_DEFAULTS[benchmark]
    if dataset_id is None or dataset_id == pinned.dataset_id:
        dataset_id, revision = pinned.dataset_id, revision or pinned.revision
        config = config or pinned.config
    elif revision is None:
        log.warning("loading %s without a pinned revision; results may not be repeatable", dataset_id)
    split = split or pinned.split
    try:
        loaded = datasets.load_dataset(dataset_id, name=config, split=split, revision=revision)
    except Exception as error:  # the hub raises many types; all mean "could not load"
        raise DatasetError(
            f"could not load {dataset_id} (config {config}, split {split}, revision {revision}) from "
            f"the Hugging Face hub: {error}. Without network access, download it elsewhere and "
            "pass the parquet files or a save_to_disk folder as data."
        ) from error
    table, _ = _dataset_table(loaded, split, dataset_id)
    origin = {"kind": "hub", "location": dataset_id, "dataset_id": dataset_id, "config": config}
    return table, origin | {"split": split, "revision": revision}


def _dataset_table(dataset: Any, split: str | None, where: str) -> tuple[Any, str | None]:
    """The Arrow table behind a Dataset (indices applied), or behind one split of a DatasetDict."""
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        available = sorted(dataset.keys())
        chosen = split or ("test" if "test" in available else available[0] if len(available) == 1 else None)
        if chosen not in available:
            raise DatasetError(f"{where} has splits {available}; choose one with split=... (--split)")
        dataset, split = dataset[chosen], chosen
    if not isinstance(dataset, datasets.Dataset):
        raise DatasetError(f"{where} is a {type(dataset).__name__}, not a datasets.Dataset")
    return dataset.with_format("arrow")[:], split


def _read_jsonl(path: Path) -> Any:
    import pyarrow as pa

    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path} line {number} is not JSON: {error}") from error
    if not rows:
        raise DatasetError(f"{path} holds no rows")
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DatasetError(f"{path}: a column mixes types across rows ({error}); keep one form") from error


def _parquet_files(path: Path, split: str | None) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.parquet"))
    if split:
        files = [f for f in files if f.name.startswith(f"{split}-") or f.stem == split] or files
    if not files:
        raise DatasetError(f"{path} holds no .parquet files and is not a save_to_disk folder")
    return files


def has_image(column: Any) -> list[bool]:
    """Whether each image cell holds something, computed in Arrow without copying the bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_struct(column.type):
        parts = [
            _non_empty(pc.struct_field(column, name))
            for name in ("bytes", "path")
            if column.type.get_field_index(name) >= 0
        ]
        filled = reduce(pc.or_, parts) if parts else pc.is_valid(column)
        return pc.and_(pc.is_valid(column), filled).to_pylist()
    return _non_empty(column).to_pylist()


def _non_empty(values: Any) -> Any:
    """True where a cell is present and, for text and bytes, not empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_null(kind):
        return pa.array([False] * len(values))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.fill_null(pc.greater(pc.utf8_length(values), 0), False)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pc.fill_null(pc.greater(pc.binary_length(values), 0), False)
    return pc.is_valid(values)
