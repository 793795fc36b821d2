"""The report of stored runs: load each run with its verdicts and scores, then write the page.

This is the one library call behind ``vscbench report``. Each run is scored under the verdicts
:func:`vscbench.judges.runs.resolve_judge` picks for it (the judge asked for, else the current
offline judge, else the one judge that judged it), so a report never mixes in stale verdicts.
A run asked for by name must have verdicts; with every run of the store (``runs=None``) one that
was not judged yet is still shown, with its answers and a banner that says how to judge it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from vscbench.engine.requests import ImageHashCache
from vscbench.judges.runs import RunNotFoundError, VerdictsNotFoundError, require_run, resolve_judge
from vscbench.report.html import write_report
from vscbench.report.thumbs import DEFAULT_SIDE, ThumbnailSet, build_thumbnails
from vscbench.report.views import RunData
from vscbench.schema import utc_now
from vscbench.scoring.compare import Comparison
from vscbench.scoring.metrics import IntervalMethod, score
from vscbench.scoring.runs import compare_runs, harm_inputs, provenance, run_labels
from vscbench.scoring.sensitivity import judge_sensitivity
from vscbench.store import Store

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total): ``runs`` while runs load, ``thumbnails`` while images shrink."""

NOT_JUDGED = "__not_judged__"
"""A judge key no verdict is stored under: scoring with it keeps only the run's own failures."""


@dataclass
class ReportResult:
    """What was written: the file, the runs in it and how big it is."""

    path: Path
    runs: list[str]
    rows: int
    samples: int
    thumbnails: int
    size_bytes: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    """One line per run shown without verdicts, and per image that could not be read."""


def load_run(
    store: Store,
    run: str,
    judge: str | None = None,
    rule: str = "paper",
    failures: str = "exclude",
    intervals: IntervalMethod = "cluster",
    require_verdicts: bool = True,
) -> RunData:
    """One stored run, scored, with its answers and the judge's reasons.

    Raises :class:`~vscbench.judges.runs.RunNotFoundError` for an unknown run, and
    :class:`~vscbench.judges.runs.VerdictsNotFoundError` when it has no usable verdicts and
    ``require_verdicts`` is true; otherwise such a run is scored on its failures alone (every
    answered sample counts as missing) and carries a note saying how to judge it.
    """
    require_run(store, run)
    note = None
    try:
        key = resolve_judge(store, run, judge)
    except VerdictsNotFoundError as exc:
        if require_verdicts:
            raise
        key, note = NOT_JUDGED, str(exc)
    samples, labels, responses = run_labels(store, run, key)
    harm = harm_inputs(store, run, rule) if key != NOT_JUDGED else {}
    report = score(samples, labels, rule=rule, failures=failures, intervals=intervals, **harm)  # type: ignore[arg-type]
    report = replace(report, provenance=provenance(store, run, key, report))
    reasons: dict[str, str] = {}
    if key != NOT_JUDGED:
        for verdict in store.get_verdicts(key, run=run).values():
            if verdict.reason:
                reasons[verdict.response_key] = verdict.reason
        reasons = {sid: reasons[r.key] for sid, r in responses.items() if r.key in reasons}
    else:
        info = dict(report.provenance)
        info["judge"] = {}
        report = replace(report, provenance=info)
    sensitivity = judge_sensitivity(store, run, rule, failures) if key != NOT_JUDGED else None  # type: ignore[arg-type]
    return RunData(run, report, samples, labels, responses, reasons, note=note, sensitivity=sensitivity)


def thumbnail_cache(store: Store) -> Path:
    """Where reports of this store keep the thumbnails they made: next to the store file."""
    return store.path.parent / "thumbnails"


def _thumbnails(store: Store, runs: Sequence[RunData], side: int, progress: Progress | None) -> ThumbnailSet:
    """Thumbnails of the runs' images. The hashes and thumbnails made are kept for the next
    report (in the store, and in a folder beside it) only when the store may be written: a
    report of a store that may only be read writes nothing but the report."""
    hashes = ImageHashCache()
    hashes.update(store.image_hashes())
    paths = [s.image_path for run in runs for s in run.samples if s.image_path is not None]
    callback = (lambda done, total: progress("thumbnails", done, total)) if progress else None
    cache = None if store.read_only else thumbnail_cache(store)
    thumbs = build_thumbnails(paths, side, hashes=hashes, progress=callback, cache_dir=cache)
    if not store.read_only:
        store.put_image_hashes(hashes.entries())
    return thumbs


def _comparison(store: Store, runs: Sequence[RunData], judge: str | None, rule: str, failures: str,
                intervals: IntervalMethod) -> Comparison | None:  # fmt: skip
    """The paired comparison against the first run, exactly as `score --baseline FIRST` makes
    it (:func:`~vscbench.scoring.runs.compare_runs`: on the samples every run holds), of the
    runs that have verdicts; None when fewer than two have (the page then says why)."""
    judged = [run.name for run in runs if run.note is None]
    if len(judged) < 2:
        return None
    try:
        return compare_runs(store, judged, judge, rule, failures, intervals, baseline=judged[0])
    except ValueError:
        return None  # different judges: the page says so, from the runs' own reports


def write_store_report(
    store: Store,
    out: str | Path,
    runs: Sequence[str] | None = None,
    judge: str | None = None,
    rule: str = "paper",
    failures: str = "exclude",
    intervals: IntervalMethod = "cluster",
    thumbnails: bool = True,
    thumbnail_side: int = DEFAULT_SIDE,
    link_images: bool = True,
    title: str | None = None,
    progress: Progress | None = None,
) -> ReportResult:
    """Write the HTML report of ``runs`` (every run in the store when ``None``) to ``out``.

    Raises :class:`~vscbench.judges.runs.RunNotFoundError` / ``VerdictsNotFoundError`` (named
    runs only, see :func:`load_run`) and ``ValueError`` for an empty store or a repeated name.
    """
    started = time.perf_counter()
    every = runs is None
    names = [info.name for info in store.list_runs()] if every else list(runs or [])
    if not names:
        raise RunNotFoundError(
            f"no runs in {store.path}; start one with `vscbench run`"
            if every
            else "name at least one run (--run NAME) or use --all"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"run {', '.join(map(repr, repeated))} named more than once; name each run once")
    loaded: list[RunData] = []
    for index, name in enumerate(names):
        loaded.append(load_run(store, name, judge, rule, failures, intervals, require_verdicts=not every))
        if progress:
            progress("runs", index + 1, len(names))
    thumbs = _thumbnails(store, loaded, thumbnail_side, progress) if thumbnails else None
    named = ", ".join(names) if len(names) <= 3 else f"{len(names)} runs"
    path = write_report(
        out, loaded, title=title or f"VSCBench report: {named}", thumbnails=thumbs, link_images=link_images,
        generated=utc_now()[:19].replace("T", " ") + " UTC",
        comparison=_comparison(store, loaded, judge, rule, failures, intervals),
    )  # fmt: skip
    notes = [f"{run.name}: {run.note}" for run in loaded if run.note]
    if thumbs and thumbs.unreadable:
        notes.append(f"{len(thumbs.unreadable)} image(s) could not be read (no thumbnail), e.g. {thumbs.unreadable[0]}")
    return ReportResult(
        path=path,
        runs=names,
        rows=sum(len(run.samples) for run in loaded),
        samples=len({s.id for run in loaded for s in run.samples}),
        thumbnails=len(thumbs.urls) if thumbs else 0,
        size_bytes=path.stat().st_size,
        seconds=time.perf_counter() - started,
        notes=notes,
    )
