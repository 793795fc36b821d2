"""Rebuild the rendered text-centric images of a release folder, in parallel, and account for every row.

Every image the spreadsheet names is either written, skipped because it already exists, or
reported with the reason it could not be rendered; nothing is dropped silently. Each row is one
task: its typography image is rendered first and stacked into its concat image from memory;
a concat whose typography is not rebuilt in this run reads it from disk.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PIL import Image

from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.vscbench import TEXT_CENTRIC_COLUMNS, TEXT_CENTRIC_DIR, TEXT_CENTRIC_FILE, read_sheet
from vscbench.render.fonts import RenderError, RenderSettings, resolve_font
from vscbench.render.images import render_concat, render_figstep, render_typography, save_png

#: The variants this module renders, in the order they must be built.
RENDERED_VARIANTS = ("typography", "figstep", "concat")
#: The spreadsheet column that holds each variant's file name, and the one holding its text.
FILE_COLUMN = {"typography": "typography_img", "figstep": "figstep_img", "concat": "concat_img"}
TEXT_COLUMN = {"typography": "object", "figstep": "prompt_figstep"}

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RenderJob:
    """One image to write: where, from which text (or, for concat, from which two images)."""

    row: int
    variant: str
    output: Path
    text: str = ""
    search: Path | None = None
    typography: Path | None = None


@dataclass(frozen=True)
class RowFailure:
    """An image that could not be rendered: 1-based spreadsheet row, variant, file and why."""

    row: int
    variant: str
    file: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "variant": self.variant, "file": self.file, "reason": self.reason}


@dataclass
class BuildReport:
    """What a build did: images written and skipped per variant, and every row it could not render."""

    root: Path
    written: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failures: list[RowFailure] = field(default_factory=list)
    figstep_sizes: Counter = field(default_factory=Counter)
    """FigStep font size -> number of images written at that size (shrunk ones are below the default)."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        def part(counts: Counter) -> str:
            return ", ".join(f"{counts[v]} {v}" for v in RENDERED_VARIANTS if counts[v]) or "none"

        text = f"written: {part(self.written)}; skipped (already there): {part(self.skipped)}"
        if self.failures:
            text += f"; {len(self.failures)} could not be rendered"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "ok": self.ok,
            "written": dict(self.written),
            "skipped": dict(self.skipped),
            "figstep_sizes": {str(k): v for k, v in sorted(self.figstep_sizes.items())},
            "failures": [f.to_dict() for f in self.failures],
        }


def _text(record: Mapping[str, object], column: str) -> str:
    value = record.get(column)
    return "" if value is None else str(value)


def plan_jobs(
    root: Path,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    variants: Sequence[str],
    force: bool,
    report: BuildReport,
) -> list[RenderJob]:
    """Turn spreadsheet rows into render jobs; rows that cannot be rendered go to the report."""
    images = root / TEXT_CENTRIC_DIR
    jobs: list[RenderJob] = []
    for row, record in rows:
        for variant in RENDERED_VARIANTS:
            if variant not in variants:
                continue
            column = FILE_COLUMN[variant]
            name = _text(record, column).strip()
            if not name:
                report.failures.append(RowFailure(row, variant, "", f"no file name in column {column}"))
                continue
            output = images / variant / name
            if not force and output.is_file() and output.stat().st_size > 0:
                report.skipped[variant] += 1
                continue
            where = f"{TEXT_CENTRIC_DIR}/{variant}/{name}"
            if variant == "concat":
                search_name = _text(record, "search_img").strip()
                if not search_name:
                    report.failures.append(
                        RowFailure(row, variant, where, "no search image: column search_img is empty")
                    )
                    continue
                search = images / "search" / search_name
                if not search.is_file():
                    report.failures.append(
                        RowFailure(row, variant, where, f"search image {TEXT_CENTRIC_DIR}/search/{search_name} does not exist")
                    )  # fmt: skip
                    continue
                typography_name = _text(record, "typography_img").strip()
                if not typography_name:
                    report.failures.append(
                        RowFailure(row, variant, where, "no typography image: column typography_img is empty")
                    )
                    continue
                jobs.append(
                    RenderJob(row, variant, output, search=search, typography=images / "typography" / typography_name)
                )
                continue
            text_column = TEXT_COLUMN[variant]
            text = _text(record, text_column)
            if not text.strip():
                what = "empty" if not text else "whitespace-only"
                report.failures.append(
                    RowFailure(row, variant, where, f"column {text_column} is {what}: there is no text to render")
                )
                continue
            jobs.append(RenderJob(row, variant, output, text=text))
    return jobs


JobResult = tuple[str | None, int | None]
"""(reason the image could not be rendered or None, FigStep font size or None)."""


def render_job(
    job: RenderJob, settings: RenderSettings, typography: Image.Image | None = None
) -> tuple[JobResult, Image.Image | None]:
    """Render and write one image; returns its result and the image (None when it failed).

    ``typography`` is the row's typography image when it was just rendered in the same task:
    concat then stacks it from memory instead of decoding the file back. Errors are reported
    as text instead of raised, so one bad row cannot stop a build running in worker processes.
    """
    try:
        size = None
        if job.variant == "typography":
            image = render_typography(job.text, settings)
        elif job.variant == "figstep":
            image, size = render_figstep(job.text, settings)
        else:
            assert job.search is not None and job.typography is not None
            if typography is None and not job.typography.is_file():
                reason = (
                    f"its typography image {job.typography.name} does not exist; "
                    "build it first (--variants typography,concat)"
                )
                return (reason, None), None
            image = render_concat(job.search, typography if typography is not None else job.typography)
        save_png(image, job.output, settings.png_compress_level)
        return (None, size), image
    except RenderError as exc:
        return (str(exc), None), None
    except Exception as exc:  # noqa: BLE001 - undecodable search image, unwritable folder: reported per row
        return (f"{exc.__class__.__name__}: {exc}", None), None


def render_task(jobs: Sequence[RenderJob], settings: RenderSettings) -> list[JobResult]:
    """Render one task's jobs in order (a row's typography before the concat built from it).

    Only small result tuples go back to the parent process, never images.
    """
    written_typography: dict[Path, Image.Image] = {}
    results: list[JobResult] = []
    for job in jobs:
        in_memory = written_typography.get(job.typography) if job.typography is not None else None
        result, image = render_job(job, settings, in_memory)
        if job.variant == "typography" and image is not None:
            written_typography[job.output] = image
        results.append(result)
    return results


def group_tasks(jobs: Sequence[RenderJob]) -> list[list[RenderJob]]:
    """One task per spreadsheet row, with each concat job in the task that writes its typography.

    Tasks are then independent of each other, so every core stays busy from the first image to
    the last, without waiting for all typography to finish before any concat can start.
    """
    tasks: dict[int, list[RenderJob]] = {}
    typography_row = {job.output: job.row for job in jobs if job.variant == "typography"}
    for job in jobs:
        row = job.row
        if job.variant == "concat" and job.typography in typography_row:
            row = typography_row[job.typography]
        tasks.setdefault(row, []).append(job)
    for task in tasks.values():  # typography first, so concat finds it in memory
        task.sort(key=lambda job: job.variant == "concat")
    return list(tasks.values())


def run_jobs(
    jobs: Sequence[RenderJob],
    settings: RenderSettings,
    workers: int | None,
    progress: ProgressCallback | None = None,
) -> list[JobResult]:
    """Render every job, grouped by :func:`group_tasks`; returns each job's result in ``jobs`` order.

    Uses ``workers`` processes (all cores when None; 1 runs in this process).
    """
    tasks = group_tasks(jobs)
    total = len(jobs)
    count = min(workers or os.cpu_count() or 1, max(1, len(tasks)))
    by_job: dict[int, JobResult] = {}
    done = 0
    if count <= 1:
        stream: Iterable[list[JobResult]] = (render_task(task, settings) for task in tasks)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=count)
        # small chunks: few round trips, yet both cores finish within a chunk of each other
        chunk = max(1, min(8, len(tasks) // (count * 16)))
        stream = pool.map(partial(render_task, settings=settings), tasks, chunksize=chunk)
    try:
        for task, results in zip(tasks, stream):
            for job, result in zip(task, results):
                by_job[id(job)] = result
            done += len(task)
            if progress:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)  # on Ctrl-C or an error, drop what has not started
    return [by_job[id(job)] for job in jobs]


def _check_variants(variants: Iterable[str]) -> list[str]:
    chosen = [v.strip() for v in variants if v.strip()]
    unknown = [v for v in chosen if v not in RENDERED_VARIANTS]
    if unknown or not chosen:
        raise DatasetError(
            f"unknown variant(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(RENDERED_VARIANTS)} "
            "(search images are photographs and cannot be rendered)"
        )
    return chosen


def build_release_images(
    root: str | os.PathLike[str],
    variants: Iterable[str] = RENDERED_VARIANTS,
    workers: int | None = None,
    force: bool = False,
    settings: RenderSettings | None = None,
    progress: ProgressCallback | None = None,
) -> BuildReport:
    """Render the typography, FigStep and concat images a release spreadsheet names.

    Writes ``<root>/vscbench_text_centric_images/<variant>/<file name from the spreadsheet>``,
    skipping images that already exist unless ``force``. Rows that cannot be rendered (empty
    key phrase or statement, no search image for concat, characters the font lacks) are listed
    in the report with their reason. Raises :class:`DatasetError` when the spreadsheet is
    missing or lacks a needed column, and :class:`RenderError` when a font cannot be found.
    """
    root_path = Path(root).expanduser()
    chosen = _check_variants(variants)
    settings = settings or RenderSettings()
    resolve_font(settings.typography_font)
    resolve_font(settings.figstep_font)
    sheet = root_path / TEXT_CENTRIC_FILE
    if not sheet.is_file():
        raise DatasetError(
            f"{sheet} not found: point the command at a VSCBench release folder (it holds {TEXT_CENTRIC_FILE}); "
            f"get one with `vscbench data fetch --dest {root_path}`."
        )
    header, rows = read_sheet(sheet, TEXT_CENTRIC_COLUMNS)
    needed = {FILE_COLUMN[v] for v in chosen} | {TEXT_COLUMN.get(v, "search_img") for v in chosen}
    if "concat" in chosen:
        needed.add("typography_img")
    missing = sorted(needed - set(header))
    if missing:
        raise DatasetError(
            f"{sheet}: required column(s) {', '.join(missing)} missing; the header must hold "
            f"{', '.join(TEXT_CENTRIC_COLUMNS)}. Run `vscbench data check {root_path}` for a full report."
        )
    report = BuildReport(root=root_path)
    jobs = plan_jobs(root_path, rows, chosen, force, report)
    for job, (reason, size) in zip(jobs, run_jobs(jobs, settings, workers, progress)):
        if reason is None:
            report.written[job.variant] += 1
            if size is not None:
                report.figstep_sizes[size] += 1
        else:
            where = job.output.relative_to(root_path).as_posix()
            report.failures.append(RowFailure(job.row, job.variant, where, reason))
    report.failures.sort(key=lambda f: (f.row, RENDERED_VARIANTS.index(f.variant)))
    return report
