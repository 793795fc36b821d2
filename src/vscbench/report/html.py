"""A single self-contained HTML report of one or many runs.

The file needs nothing but a browser, and no network: figures and thumbnails are embedded as
``data:`` URLs, the script and styles are inline, and a Content-Security-Policy allows only
that script (by hash), inline styles and local images, so the page can fetch nothing.

Prompts, answers and judge reasons are untrusted. The server-side parts go through Jinja2 with
autoescaping on; every sample row travels in one JSON element (written so that no string can
close it, see :func:`~vscbench.report.views.script_json`), and the script builds rows from it
with ``textContent`` only. Rows are rendered on demand, a hundred at a time, so 5 runs x 4,050
samples open as fast as one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from vscbench import __version__
from vscbench.benchmarks.vscbench_layout import PLACEHOLDER_LABEL
from vscbench.locations import replaced_atomically
from vscbench.report.analysis import questions_rows
from vscbench.report.analysis_plots import analysis_figures, baselines_by_model
from vscbench.report.plots import TradeoffPoint, plot_breakdown_dots, plot_sra_scatter, plot_tradeoff
from vscbench.report.sensitivity import disagreement_line, sensitivity_table
from vscbench.report.tables import TableData, comparison_notes, comparison_tables, provenance_lines, report_tables
from vscbench.report.thumbs import DEFAULT_SIDE, ThumbnailSet, build_thumbnails, thumbnail_data_url
from vscbench.report.views import (
    LEADERBOARD_COLUMNS,
    RunData,
    class_shares,
    cross_run_tables,
    labels_and_reasons,
    leaderboard,
    page_payload,
    script_json,
)
from vscbench.schema import Response, Sample, Verdict
from vscbench.scoring.compare import Comparison, compare
from vscbench.scoring.metrics import INTERVAL_METHODS, ScoreReport

__all__ = ["RunData", "render_html", "render_report", "thumbnail_data_url", "write_html", "write_report"]

NUMERIC_COLUMNS = frozenset({"sra_a", "sra_s", "sra_u", "n", "pairs", "failures"})


def _asset(name: str) -> str:
    """A static file of the templates folder, verbatim (no template processing)."""
    return (files("vscbench.report") / "templates" / name).read_text(encoding="utf-8")


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("vscbench.report", "templates"),
        autoescape=True,  # every template, whatever its extension: model output is untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def default_figures(
    runs: Sequence[RunData] | ScoreReport, tradeoff: Sequence[TradeoffPoint] | None = None, name: str = "model"
) -> dict[str, bytes]:
    """The report's standard figures as PNG bytes, by caption: SRA_s against SRA_u, and one dot
    per run for each category and each variant."""
    reports = {name: runs} if isinstance(runs, ScoreReport) else {run.name: run.report for run in runs}
    figures = {
        "SRA_s vs SRA_u": plot_sra_scatter(reports),
        "By category": plot_breakdown_dots(reports, "by_category"),
        "By variant (image slot or attack)": plot_breakdown_dots(reports, "by_subset_variant"),
    }
    triples = [] if isinstance(runs, ScoreReport) else [(run.name, run.model, run.method) for run in runs]
    figures.update(analysis_figures(reports, baselines_by_model(triples)))  # (c, d') arrows, transfer, spread
    if tradeoff:
        figures["Safety-utility trade-off"] = plot_tradeoff(tradeoff)
    return figures


@dataclass(frozen=True)
class _Comparison:
    tables: list[Any]
    notes: list[str]


def _comparison(runs: Sequence[RunData], comparison: Comparison | None) -> _Comparison:
    """Paired changes against the first judged run, when the judged runs are comparable (one
    judge, one rule). A run without verdicts is left out, and a note says so (it is not a
    reason to compare nothing)."""
    unjudged = [f"{run.name} is not judged yet: left out of the comparison." for run in runs if run.note]
    judged = [run for run in runs if not run.note]
    if comparison is None and len(judged) > 1:
        try:
            comparison = compare({run.name: run.report for run in judged}, baseline=judged[0].name)
        except ValueError as exc:
            return _Comparison([], [f"No paired comparison: {exc}.", *unjudged])
    if comparison is None:
        return _Comparison([], unjudged)
    return _Comparison(comparison_tables(comparison, sections=()), [*comparison_notes(comparison), *unjudged])


def _banners(runs: Sequence[RunData]) -> list[tuple[str, str]]:
    """(run names, sentence) over the page: one per run that needs one, and one placeholder
    label naming every run made from placeholder images."""
    placeholder = [run.name for run in runs if run.banners and run.banners[0] == PLACEHOLDER_LABEL]
    out = [(", ".join(placeholder), PLACEHOLDER_LABEL)] if placeholder else []
    return out + [(run.name, text) for run in runs for text in run.banners if text != PLACEHOLDER_LABEL]


def _questions(runs: Sequence[RunData]) -> TableData:
    table = questions_rows({run.name: run.report for run in runs})
    return TableData(table.title, table.headers, table.rows)


def _settings(runs: Sequence[RunData]) -> list[str]:
    rules = {run.report.rule.name: run.report.rule.description for run in runs}
    lines = [f"Rule {name}: {description}" for name, description in rules.items()]
    intervals = {INTERVAL_METHODS[run.report.intervals] for run in runs}
    lines += [f"Intervals: {text}" for text in sorted(intervals)]
    return lines


def render_report(
    runs: Sequence[RunData],
    *,
    title: str = "VSCBench report",
    figures: Mapping[str, bytes] | None = None,
    tradeoff: Sequence[TradeoffPoint] | None = None,
    thumbnails: ThumbnailSet | None = None,
    link_images: bool = True,
    comparison: Comparison | None = None,
    generated: str | None = None,
) -> str:
    """The report of ``runs`` as one HTML string.

    ``figures`` (caption -> PNG bytes) replaces the default figures; ``thumbnails`` (from
    :func:`~vscbench.report.thumbs.build_thumbnails`) puts a small copy of each image in the
    rows; ``link_images`` lets a click on it open the original file from disk.
    """
    if not runs:
        raise ValueError("a report needs at least one run")
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise ValueError(
            f"run names must be unique in a report; repeated: {sorted({n for n in names if names.count(n) > 1})}"
        )
    script = _asset("report.js.j2")
    payload = page_payload(runs, thumbnails, link_images)
    figure_pngs = figures if figures is not None else default_figures(runs, tradeoff)
    compared = _comparison(runs, comparison)
    treatments = {run.report.failure_treatment for run in runs}
    context: dict[str, Any] = {
        "title": title,
        "version": __version__,
        "generated": generated,
        "style": _asset("report.css.j2"),
        "script": script,
        "script_hash": "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii"),
        "payload_json": script_json(payload),
        "runs": runs,
        "row_count": len(payload["rows"]),
        "sample_count": len({sample[0] for sample in payload["samples"]}),
        "settings": _settings(runs),
        "failures_treated": "excluded from the denominators"
        if treatments == {"exclude"}
        else "counted as incorrect"
        if treatments == {"incorrect"}
        else "treated differently by different runs",
        "banners": _banners(runs),
        "leaderboard_columns": LEADERBOARD_COLUMNS,
        "numeric_columns": NUMERIC_COLUMNS,
        "leaderboard": leaderboard(runs),
        "comparison_tables": compared.tables,
        "comparison_notes": compared.notes,
        "figures": [(caption, _png_data_url(png)) for caption, png in figure_pngs.items()],
        "cross_tables": [*(cross_run_tables(runs) if len(runs) > 1 else []), _questions(runs)],
        "sensitivity": [
            (sensitivity_table(run.sensitivity), disagreement_line(run.sensitivity))
            for run in runs
            if run.sensitivity is not None
        ],
        "details": [
            {
                "name": run.name,
                "lines": [*provenance_lines(run.report), f"verdicts: {class_shares(run)}"],
                "tables": report_tables(run.report),
            }
            for run in runs
        ],
    }
    if "</script" in script.lower():
        raise AssertionError("the report script must not contain a closing script tag")
    return _environment().get_template("report.html.j2").render(context)


def write_report(path: str | Path, runs: Sequence[RunData], **options: Any) -> Path:
    """Render :func:`render_report` to ``path`` (options as there), whole or not at all
    (:func:`~vscbench.locations.replaced_atomically`: a full disk leaves the previous report)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(runs, **options)
    with replaced_atomically(target, "w", encoding="utf-8") as handle:
        handle.write(page)
    return target


def render_html(
    report: ScoreReport,
    samples: Sequence[Sample] = (),
    labels: Mapping[str, str | Verdict] | Iterable[Verdict] | None = None,
    responses: Mapping[str, Response | str] | None = None,
    *,
    name: str | None = None,
    thumbnails: bool = False,
    thumbnail_side: int = DEFAULT_SIDE,
    **options: Any,
) -> str:
    """The report of one scored run (what ``quickstart`` writes): ``labels`` may be Verdicts, whose
    reasons are shown; ``thumbnails`` embeds a small copy of each image. Other options as in
    :func:`render_report`."""
    label_map, reasons = labels_and_reasons(labels)
    run_name = name or str(report.provenance.get("run") or "model")
    run = RunData(run_name, report, list(samples), label_map, responses or {}, reasons)
    thumbs = None
    if thumbnails:
        thumbs = build_thumbnails([s.image_path for s in run.samples if s.image_path], thumbnail_side)
    return render_report([run], thumbnails=thumbs, **options)


def write_html(path: str | Path, report: ScoreReport, samples: Sequence[Sample] = (), **options: Any) -> Path:
    """Render :func:`render_html` to ``path``; options are the same (labels, responses, title ...)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(report, samples, **options)
    with replaced_atomically(target, "w", encoding="utf-8") as handle:
        handle.write(page)
    return target
