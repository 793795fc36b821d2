"""Integrity report of a VSCBench release: every defect with its file, row and column.

The loader already reports what it can see without reading images (missing prompts, files and
columns, reused images, unchanged rewrites, unknown categories). The check adds the one thing
that needs the bytes: whether every image actually decodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from vscbench.benchmarks.findings import DatasetError, Finding, HasFindings, count_kinds
from vscbench.benchmarks.vscbench import LoadReport, VSCBenchData, count_group, load_vscbench
from vscbench.images import ImageError, verify_image
from vscbench.schema import Sample


def decode_error(path: Path) -> str | None:
    """Why an image file does not decode, or None when it does. Reads the whole file, in
    bounded memory (:func:`vscbench.images.verify_image`: the same test ``run`` applies)."""
    try:
        verify_image(path)
    except ImageError as exc:
        return exc.reason
    return None


@dataclass
class CheckReport(HasFindings):
    """The check's result: defects (exit code 1 when any), warnings, and sample accounting."""

    root: Path
    load: LoadReport
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "placeholder": self.load.placeholder,
            "findings": [f.to_dict() for f in self.defects],
            "counts": count_kinds(self.defects),
            "warnings": [f.to_dict() for f in self.warnings],
            "warning_counts": count_kinds(self.warnings),
            "samples": {
                "loaded": dict(self.load.loaded),
                "unusable": len(self.load.unusable),
                "described": self.load.expected(),
            },
        }


def verify_images(
    data: VSCBenchData,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Finding]:
    """Decode every image the loaded samples use; undecodable ones become findings and their
    samples move from ``data.samples`` to ``data.report.unusable``."""
    by_path: dict[Path, list[Sample]] = {}
    for sample in data.samples:
        if sample.image_path is not None:
            by_path.setdefault(sample.image_path, []).append(sample)
    paths = list(by_path)
    findings: list[Finding] = []
    broken: set[str] = set()
    done = 0
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        for path, error in zip(paths, pool.map(decode_error, paths)):
            done += 1
            if progress:
                progress(done, len(paths))
            if error is None:
                continue
            relative = path.relative_to(data.root).as_posix() if path.is_relative_to(data.root) else str(path)
            for sample in by_path[path]:
                column = _image_column(sample)
                findings.append(
                    Finding("undecodable_image", sample.source_file or "", sample.source_row, column,
                            f"image file {relative} {error}")
                )  # fmt: skip
                broken.add(sample.id)
                data.report.unusable[sample.id] = "image does not decode"
    if broken:
        data.samples = [s for s in data.samples if s.id not in broken]
        for sample_id in broken:
            data.report.loaded[count_group(sample_id)] -= 1
    unique: dict[tuple, Finding] = {}
    for finding in findings:  # one finding per cell, even when two samples share it
        unique.setdefault((finding.file, finding.row, finding.column), finding)
    data.report.findings.extend(unique.values())
    return list(unique.values())


def _image_column(sample: Sample) -> str:
    if sample.subset == "image_centric":
        return f"{sample.label}_img_{sample.variant.removeprefix('slot_')}"
    return f"{sample.variant}_img"


def check_release(
    root: str | os.PathLike[str],
    decode: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Full integrity report of a release folder. Raises :class:`DatasetError` only when the
    folder is not a release at all; unreadable spreadsheets and missing columns become findings."""
    root_path = Path(root).expanduser()
    try:
        data = load_vscbench(root_path, warn=False)
    except DatasetError as exc:
        message = str(exc)
        if "does not look like" in message or "is not a folder" in message:
            raise
        return _unloadable_report(root_path, message)
    if decode:
        verify_images(data, workers=workers, progress=progress)
    return CheckReport(root=root_path, load=data.report, findings=list(data.report.findings))


def _unloadable_report(root: Path, message: str) -> CheckReport:
    """A report for a release whose spreadsheets cannot be read: check each one separately so the
    report names every broken file, not only the first."""
    from vscbench.benchmarks.vscbench import (
        IMAGE_CENTRIC_COLUMNS,
        IMAGE_CENTRIC_FILE,
        TEXT_CENTRIC_COLUMNS,
        TEXT_CENTRIC_FILE,
        check_columns,
        read_sheet,
    )

    report = LoadReport()
    findings: list[Finding] = []
    for file, columns, subset in (
        (IMAGE_CENTRIC_FILE, IMAGE_CENTRIC_COLUMNS, "image_centric"),
        (TEXT_CENTRIC_FILE, TEXT_CENTRIC_COLUMNS, "text_centric"),
    ):
        path = root / file
        if not path.is_file():
            continue
        try:
            header, _ = read_sheet(path, columns)
        except DatasetError as exc:
            findings.append(Finding("unreadable_file", file, None, None, str(exc)))
            continue
        column_findings = check_columns(file, header, columns)
        if any(f.kind == "missing_column" for f in column_findings):
            findings.extend(column_findings)
            continue
        try:
            sub = load_vscbench(root, subsets=[subset], warn=False)
        except DatasetError as exc:
            findings.append(Finding("unreadable_file", file, None, None, str(exc)))
            continue
        verify_images(sub)
        findings.extend(sub.report.findings)
        report.loaded.update(sub.report.loaded)
        report.unusable.update(sub.report.unusable)
    if not findings:
        findings.append(Finding("unreadable_file", "", None, None, message))
    report.findings = findings
    return CheckReport(root=root, load=report, findings=findings)
