"""The records every benchmark loader returns: what a benchmark is, what was loaded, what was not.

A loader reads a benchmark's *own* published files and maps each question to a
:class:`~vscbench.schema.Sample`. Everything it could not use is kept in a
:class:`BenchmarkReport` as :class:`~vscbench.benchmarks.findings.Finding` records (file, row,
column, what is wrong), so a user pointed at the wrong file learns which file, which row and
what to do instead of getting a short run with no explanation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from vscbench.benchmarks.findings import DatasetError, Finding, HasFindings, count_kinds
from vscbench.schema import Sample

Modality = Literal["text", "image+text"]
Measure = Literal["sra_s", "sra_u", "sra_a", "pairs"]


@dataclass(frozen=True)
class BenchmarkInfo:
    """What a benchmark is, what it measures and where to get it (nothing of it is bundled).

    ``labels`` are the sides the benchmark has; ``measures`` the figures that are defined on it
    (a benchmark with only safe queries has SRA_s and nothing else). ``hub_revision`` is the
    commit a hub download is pinned to; without one, a hub load needs an explicit revision.
    """

    name: str
    title: str
    modality: Modality
    measures: tuple[Measure, ...]
    labels: tuple[str, ...]
    pairs: bool
    description: str
    licence: str
    url: str
    paper: str
    get_it: str
    """How to obtain the files and what to point ``--data`` at."""
    expected_files: tuple[str, ...]
    expected_samples: int | None
    """Samples a complete copy gives with the default options (``None`` when it depends)."""
    gated: bool = False
    non_commercial: bool = False
    hub_id: str | None = None
    hub_revision: str | None = None
    hub_configs: tuple[str, ...] = ()
    variants: tuple[str, ...] = ("text",)
    options: tuple[tuple[str, str], ...] = ()
    """Loader keyword options and what each does (``vscbench benchmarks list --json`` shows them)."""
    aliases: tuple[str, ...] = ()

    @property
    def access(self) -> str:
        """``open``, ``gated``, ``non-commercial`` or both, as a person would say it."""
        parts = [p for p, flag in (("gated", self.gated), ("non-commercial", self.non_commercial)) if flag]
        return ", ".join(parts) or "open"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = dict(self.options)
        data["access"] = self.access
        data["bundled"] = False
        return data


@dataclass
class BenchmarkReport(HasFindings):
    """What a loader met: defects and warnings (file, row, column), and the samples it could not use."""

    benchmark: str
    source: str
    findings: list[Finding] = field(default_factory=list)
    unusable: dict[str, str] = field(default_factory=dict)
    """Sample id -> reason, for every sample the files describe but that cannot be asked."""
    loaded: Counter = field(default_factory=Counter)
    """Samples kept, per label."""
    pairs: int = 0
    expected: int | None = None

    def add(
        self, kind: str, file: str, row: int | None, column: str | None, detail: str, severity: str = "defect"
    ) -> None:
        self.findings.append(Finding(kind, file, row, column, detail, severity))  # type: ignore[arg-type]

    def count(self, samples: Sequence[Sample]) -> None:
        """Fill the per-label counts and the pair count from the samples kept."""
        self.loaded = Counter(s.label for s in samples)
        keys: dict[str, set[str]] = {}
        for sample in samples:
            if sample.pair_key:
                keys.setdefault(sample.pair_key, set()).add(sample.label)
        self.pairs = sum(1 for labels in keys.values() if labels == {"safe", "unsafe"})

    def summary(self) -> str:
        """One line: what was loaded, what could not be used and why, how many defects."""
        total = sum(self.loaded.values())
        sides = ", ".join(f"{self.loaded[label]} {label}" for label in ("safe", "unsafe") if self.loaded[label])
        text = f"{self.benchmark}: loaded {total} samples" + (f" ({sides})" if sides else "")
        if self.pairs:
            text += f", {self.pairs} safe/unsafe pairs"
        if self.expected is not None and total + len(self.unusable) != self.expected:
            text += f"; a complete copy describes {self.expected}"
        if self.unusable:
            reasons = Counter(self.unusable.values())
            why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common(3))
            text += f"; {len(self.unusable)} could not be used ({why})"
        if self.findings:
            text += f"; {len(self.defects)} defects, {len(self.warnings)} warnings"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "source": self.source,
            "ok": self.ok,
            "summary": self.summary(),
            "loaded": dict(self.loaded),
            "pairs": self.pairs,
            "expected": self.expected,
            "unusable": dict(self.unusable),
            "counts": count_kinds(self.findings),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class LoadedBenchmark:
    """The samples of one benchmark that can be asked, the report of what could not, and its info."""

    info: BenchmarkInfo
    samples: list[Sample]
    report: BenchmarkReport
    source: Path | str

    def __len__(self) -> int:
        return len(self.samples)

    def filter(
        self,
        variants: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
    ) -> list[Sample]:
        out = self.samples
        if variants:
            out = [s for s in out if s.variant in set(variants)]
        if categories:
            out = [s for s in out if s.category in set(categories)]
        if labels:
            out = [s for s in out if s.label in set(labels)]
        return out


def make_sample(
    benchmark: str,
    local_id: str,
    *,
    category: str,
    variant: str,
    label: str,
    prompt: str,
    source_file: str,
    source_row: int | None,
    image_path: Path | None = None,
    pair_key: str | None = None,
    question: str | None = None,
    cluster: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Sample:
    """A Sample in the shape every non-VSCBench loader shares.

    ``subset`` is the benchmark's name, ids are ``benchmark/local_id``, ``meta`` carries the
    benchmark name and the cluster (samples asking one underlying prompt share it), and
    ``question`` is dropped when it equals the prompt.
    """
    extra = dict(meta or {})
    extra["benchmark"] = benchmark
    extra["cluster"] = f"{benchmark}/{cluster}" if cluster else f"{benchmark}/{local_id}"
    return Sample(
        id=f"{benchmark}/{local_id}",
        subset=benchmark,
        category=category,
        variant=variant,
        label=label,
        prompt=prompt,
        image_path=image_path,
        pair_key=f"{benchmark}/{pair_key}" if pair_key else None,
        question=question if question and question != prompt else None,
        source_file=source_file,
        source_row=source_row,
        meta=extra,
    )


def finish(info: BenchmarkInfo, samples: list[Sample], report: BenchmarkReport, source: Path | str) -> LoadedBenchmark:
    """Drop repeated ids, count what was kept, say when the copy is not complete, and bundle it."""
    samples = drop_duplicates(samples, report)
    report.count(samples)
    report.expected = report.expected if report.expected is not None else info.expected_samples
    described = len(samples) + len(report.unusable)
    if report.expected is not None and described != report.expected:
        report.add(
            "incomplete_copy", report.source, None, None,
            f"the files describe {described} samples; a complete copy of {info.title} with these options "
            f"describes {report.expected}. Get the full files: {info.get_it}",
            "warning",
        )  # fmt: skip
    return LoadedBenchmark(info=info, samples=samples, report=report, source=source)


def drop_duplicates(samples: list[Sample], report: BenchmarkReport) -> list[Sample]:
    """Keep the first sample of each id; a repeated id is a defect of the data (two rows claim it)."""
    first: dict[str, Sample] = {}
    for sample in samples:
        if sample.id in first:
            kept = first[sample.id]
            report.add(
                "duplicate_id", sample.source_file or report.source, sample.source_row, None,
                f"{sample.id} is already used by row {kept.source_row}; this row is left out",
            )  # fmt: skip
            continue
        first[sample.id] = sample
    return list(first.values())


def not_bundled(info: BenchmarkInfo) -> str:
    """The sentence every 'not found' error ends with: it is not bundled, and where to get it."""
    terms = f" ({info.access}; licence {info.licence})" if info.access != "open" else f" (licence {info.licence})"
    return f"{info.title} is not bundled with vscbench{terms}. Get it: {info.get_it}"


def locate(data: str | Path, info: BenchmarkInfo, candidates: Sequence[str]) -> Path:
    """The benchmark's main file: ``data`` itself when it is a file, else the first of
    ``candidates`` (paths relative to the folder) that exists. Raises DatasetError saying what
    was expected and where to get it."""
    path = Path(data).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist. {not_bundled(info)}")
    if path.is_file():
        return path
    for candidate in candidates:
        if (path / candidate).exists():
            return path / candidate
    expected = ", ".join(candidates)
    raise DatasetError(
        f"{path} is a folder without the {info.title} files (looked for: {expected}). {not_bundled(info)}"
    )
