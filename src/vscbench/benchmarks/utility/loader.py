"""POPE and ScienceQA as :class:`~vscbench.schema.Sample` lists: the helpfulness side of the trade.

VSCBench's central finding is that calibration methods buy safety with helpfulness. These two
public benchmarks measure the helpfulness: POPE (object hallucination, yes/no) and ScienceQA
(image questions, multiple choice).

Sources (hub, parquet, JSONL, ``save_to_disk`` folders) are read by
:mod:`vscbench.benchmarks.utility.sources`. Which id, config, split and revision were used is returned
in :class:`UtilitySource`, so a result can always be traced to the exact data.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from vscbench.benchmarks.findings import DatasetError, Finding, count_kinds
from vscbench.benchmarks.utility.rows import (
    BUILDERS,
    REQUIRED_COLUMNS,
    RowProblem,
    default_image_cache,
    finding_for,
    image_bytes,
    store_image_bytes,
)
from vscbench.benchmarks.utility.sources import HUB_DEFAULTS, HubDataset, SourceKind, has_image, read_source
from vscbench.schema import Sample

__all__ = [
    "BENCHMARKS", "HUB_DEFAULTS", "HubDataset", "UtilityData", "UtilitySource",
    "load_pope", "load_scienceqa", "load_utility", "stratified_indices",
]  # fmt: skip

Benchmark = Literal["pope", "scienceqa"]
BENCHMARKS: tuple[str, ...] = ("pope", "scienceqa")


#: Images are copied out of the table this many rows at a time, to bound memory on POPE.
_IMAGE_BATCH = 256


@dataclass(frozen=True)
class UtilitySource:
    """Exactly which data a utility run used, and what happened to its rows."""

    benchmark: str
    kind: SourceKind
    location: str
    dataset_id: str | None
    config: str | None
    split: str | None
    revision: str | None
    rows_read: int
    rows_without_image: int
    rows_rejected: int
    samples: int
    limit: int | None
    image_cache: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UtilityData:
    """Samples ready to run, where they came from, and every row that could not be used."""

    samples: list[Sample]
    source: UtilitySource
    findings: list[Finding] = field(default_factory=list)

    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for sample in self.samples:
            counts[sample.category] += 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.to_dict(),
            "categories": self.category_counts(),
            "findings": count_kinds(self.findings),
            "first_findings": [f.to_dict() for f in self.findings[:20]],
        }


def load_utility(
    benchmark: str,
    data: Any = None,
    *,
    dataset_id: str | None = None,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    limit: int | None = None,
    image_only: bool = True,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> UtilityData:
    """Load POPE or ScienceQA as samples.

    ``data`` is a local path or an in-memory ``datasets`` object; without it the hub copy in
    :data:`HUB_DEFAULTS` is loaded (``dataset_id``/``config``/``split``/``revision`` override
    it; a different id without a revision loads that repository's head and says so).
    ``limit`` keeps a deterministic subset stratified by category (and, for POPE, by the gold
    answer, so the yes/no balance is kept). ``image_only`` drops ScienceQA's text-only rows.
    Images are written to ``cache_dir`` (default ``~/.cache/vscbench/utility_images``).
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown utility benchmark {benchmark!r}; choose one of {BENCHMARKS}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    cache = Path(cache_dir) if cache_dir is not None else default_image_cache()
    table, origin = read_source(benchmark, data, dataset_id, config, split, revision)
    _check_columns(benchmark, table.column_names, origin)

    image_present = has_image(table.column("image"))
    candidates = [i for i in range(table.num_rows) if image_present[i] or not image_only]
    if benchmark == "pope":
        candidates = list(range(table.num_rows))  # a POPE row without an image is a defect
    metadata = table.drop_columns(["image"]).to_pylist()
    if limit is not None and limit < len(candidates):
        keys = [_stratum(benchmark, metadata[i]) for i in candidates]
        candidates = [candidates[j] for j in stratified_indices(keys, limit, seed)]

    samples, findings = _build_samples(benchmark, table, metadata, candidates, origin, cache)
    source = UtilitySource(
        benchmark=benchmark,
        kind=origin["kind"],
        location=origin["location"],
        dataset_id=origin.get("dataset_id"),
        config=origin.get("config"),
        split=origin.get("split"),
        revision=origin.get("revision"),
        rows_read=table.num_rows,
        rows_without_image=0 if benchmark == "pope" else image_present.count(False),
        rows_rejected=sum(1 for f in findings if f.severity == "defect"),
        samples=len(samples),
        limit=limit,
        image_cache=str(cache),
    )
    return UtilityData(samples=samples, source=source, findings=findings)


def load_pope(data: Any = None, **options: Any) -> UtilityData:
    """POPE (random / popular / adversarial) as samples; see :func:`load_utility`."""
    return load_utility("pope", data, **options)


def load_scienceqa(data: Any = None, **options: Any) -> UtilityData:
    """ScienceQA (image subset by default) as samples; see :func:`load_utility`."""
    return load_utility("scienceqa", data, **options)


def stratified_indices(keys: Sequence[Hashable], limit: int, seed: int = 0) -> list[int]:
    """Positions of a ``limit``-sized subset that keeps each key's share (largest remainder).

    Within a stratum, positions are ranked by a hash of ``(seed, position)``: the pick does not
    depend on Python's hash seed or on the machine, and a larger limit keeps every position a
    smaller one picked in the same stratum. Returned in original order.
    """
    total = len(keys)
    if limit >= total:
        return list(range(total))
    strata: dict[Hashable, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        strata[key].append(position)
    quotas = {key: limit * len(members) / total for key, members in strata.items()}
    allocation = {key: int(quota) for key, quota in quotas.items()}
    leftover = limit - sum(allocation.values())
    by_remainder = sorted(strata, key=lambda k: (-(quotas[k] - allocation[k]), -len(strata[k]), str(k)))
    for key in by_remainder[:leftover]:
        allocation[key] += 1

    def rank(position: int) -> str:
        return hashlib.sha256(f"{seed}:{position}".encode()).hexdigest()

    picked = [p for key, members in strata.items() for p in sorted(members, key=rank)[: allocation[key]]]
    return sorted(picked)


def _stratum(benchmark: str, row: dict[str, Any]) -> Hashable:
    if benchmark == "pope":
        return (str(row.get("category") or "").lower(), str(row.get("answer") or "").lower())
    return str(row.get("subject") or "").lower()


def _check_columns(benchmark: str, columns: Sequence[str], origin: dict[str, Any]) -> None:
    missing = [c for c in REQUIRED_COLUMNS[benchmark] if c not in columns]
    if missing:
        raise DatasetError(
            f"{origin['location']} lacks column(s) {missing} of the published {benchmark} schema "
            f"(it has {list(columns)}); rename the columns or pass the right file"
        )


def _build_samples(
    benchmark: str,
    table: Any,
    metadata: list[dict[str, Any]],
    positions: list[int],
    origin: dict[str, Any],
    cache: Path,
) -> tuple[list[Sample], list[Finding]]:
    import pyarrow as pa

    build = BUILDERS[benchmark]
    source_file = origin["location"]
    if origin["kind"] == "hub":
        source_file = f"{origin['dataset_id']}@{origin['revision'] or 'main'}:{origin['split']}"
    samples: list[Sample] = []
    findings: list[Finding] = []
    seen: set[str] = set()
    images = table.column("image")
    for start in range(0, len(positions), _IMAGE_BATCH):
        batch = positions[start : start + _IMAGE_BATCH]
        cells = images.take(pa.array(batch, type=pa.int64())).to_pylist()
        for position, cell in zip(batch, cells):
            try:
                data = image_bytes(cell, origin.get("base"))
                image_path = store_image_bytes(data, cache) if data else None
                sample = build(metadata[position], position, image_path, source_file)
            except RowProblem as problem:
                findings.append(finding_for(problem, source_file, position))
                continue
            if sample.id in seen:
                findings.append(
                    Finding(
                        "duplicate_id",
                        source_file,
                        position,
                        "id",
                        f"{sample.id} repeats; renamed {sample.id}#{position}",
                        severity="warning",
                    )
                )
                sample = sample.model_copy(update={"id": f"{sample.id}#{position}"})
            seen.add(sample.id)
            samples.append(sample)
    return samples, findings
