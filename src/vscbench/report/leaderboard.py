"""A cross-benchmark leaderboard: models x benchmarks, each cell the benchmark's headline figure.

Benchmarks do not all define the same figures: one with safe and unsafe queries has SRA_a (the
mean of SRA_s and SRA_u), one with only benign queries (MOSSBench) has SRA_s alone, one with
only harmful queries (SIUO, MM-SafetyBench, FigStep) has SRA_u alone. A column shows the same
figure for every model: the benchmark's ``measures`` when given (from
:data:`vscbench.benchmarks.registry.BENCHMARKS`), otherwise the sides present in the scores of
that column. Pair calibration (both twins right) is shown next to it where the benchmark has
pairs.

Models are ranked by the mean of their headline figures over the benchmarks they were scored
on; that mean mixes figures of different kinds, so the table always shows how many benchmarks
it covers, and the JSON keeps every figure apart. Cells judged by different judges, or from
incomplete runs, are flagged: a leaderboard is only as comparable as its cells.

Everything here is a pure function of :class:`~vscbench.scoring.metrics.ScoreReport` values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rich.table import Table
from rich.text import Text

from vscbench.report.tables import NOT_DEFINED, format_percent, format_with_ci, judge_label
from vscbench.safe_text import markdown_cell, printable
from vscbench.scoring.metrics import Interval, ScoreReport

HEADLINE_TITLES = {"sra_a": "SRA_a", "sra_s": "SRA_s", "sra_u": "SRA_u"}


@dataclass(frozen=True)
class Cell:
    """One model on one benchmark: the headline figure and what it is made of."""

    model: str
    benchmark: str
    headline: str
    value: float | None
    ci: Interval | None
    sra_s: float | None
    sra_u: float | None
    sra_a: float | None
    n: int
    pairs_share: float | None = None
    pairs_total: int = 0
    judge: str | None = None
    warning: str | None = None

    def text(self) -> str:
        """``82.5% [75.1–88.3]`` plus the pair share where there are pairs, ``!`` when incomplete."""
        shown = format_with_ci(self.value, self.ci)
        if self.pairs_total:
            shown += f" · pairs {format_percent(self.pairs_share)}"
        return shown + (" !" if self.warning else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "headline": self.headline,
            "value": self.value,
            "ci": list(self.ci) if self.ci else None,
            "sra_s": self.sra_s,
            "sra_u": self.sra_u,
            "sra_a": self.sra_a,
            "n": self.n,
            "pairs": {"share": self.pairs_share, "total": self.pairs_total} if self.pairs_total else None,
            "judge": self.judge,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class Leaderboard:
    """Rows are models (best mean headline first), columns benchmarks, in the order given."""

    models: list[str]
    benchmarks: list[str]
    headlines: dict[str, str]
    cells: dict[tuple[str, str], Cell]
    means: dict[str, tuple[float | None, int]] = field(default_factory=dict)
    """Per model: mean headline over the benchmarks it has a figure on, and how many those are."""
    skipped: list[str] = field(default_factory=list)
    """Runs left out (no usable verdicts, or a later run of the same model and benchmark)."""

    @property
    def judges(self) -> list[str]:
        return sorted({c.judge for c in self.cells.values() if c.judge})

    def notes(self) -> list[str]:
        """What a reader must know before comparing cells."""
        notes = [
            (
                "Headline per benchmark: SRA_a where it has safe and unsafe queries, SRA_s where only safe, "
                "SRA_u where only unsafe; the mean mixes them and covers the number of benchmarks shown."
            )
        ]
        if len(self.judges) > 1:
            notes.append("Cells were judged by different judges (" + ", ".join(self.judges) + "): compare with care.")
        elif self.judges:
            notes.append(f"Judge: {self.judges[0]}.")
        flagged = [f"{c.model} on {c.benchmark}" for c in self.cells.values() if c.warning]
        if flagged:
            notes.append("! incomplete runs (figures cover the answered samples only): " + ", ".join(flagged) + ".")
        notes += [f"left out: {reason}" for reason in self.skipped]
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmarks": [{"name": b, "headline": self.headlines[b]} for b in self.benchmarks],
            "models": [
                {
                    "model": m,
                    "mean_headline": self.means.get(m, (None, 0))[0],
                    "benchmarks_scored": self.means.get(m, (None, 0))[1],
                    "cells": {b: self.cells[(m, b)].to_dict() for b in self.benchmarks if (m, b) in self.cells},
                }
                for m in self.models
            ],
            "judges": self.judges,
            "notes": self.notes(),
        }


def _sides(report: ScoreReport) -> set[str]:
    return {side for side in ("safe", "unsafe") if report.classes.get(side)}


def headline_for(reports: Iterable[ScoreReport], measures: Sequence[str] | None = None) -> str:
    """The figure a benchmark's column shows: from its ``measures`` if known, else the sides the
    scores have (both: ``sra_a``; only safe: ``sra_s``; only unsafe: ``sra_u``)."""
    if measures:
        has_safe, has_unsafe = "sra_s" in measures, "sra_u" in measures
    else:
        sides = set().union(*(_sides(r) for r in reports)) if reports else set()
        has_safe, has_unsafe = "safe" in sides, "unsafe" in sides
    if has_safe and has_unsafe:
        return "sra_a"
    return "sra_s" if has_safe else "sra_u"


def _cell(model: str, benchmark: str, headline: str, report: ScoreReport) -> Cell:
    overall = report.overall
    value = getattr(overall, headline)
    judge = report.provenance.get("judge") if report.provenance else None
    pairs = report.pairs
    return Cell(
        model=model, benchmark=benchmark, headline=headline, value=value, ci=overall.ci[headline] if value is not None else None,
        sra_s=overall.sra_s, sra_u=overall.sra_u, sra_a=overall.sra_a, n=overall.n,
        pairs_share=pairs.share.value if pairs.total else None, pairs_total=pairs.total,
        judge=judge_label(judge) if judge else None, warning=report.warning(),
    )  # fmt: skip


def build_leaderboard(
    scores: Mapping[tuple[str, str], ScoreReport] | Iterable[tuple[str, str, ScoreReport]],
    measures: Mapping[str, Sequence[str]] | None = None,
    benchmarks: Sequence[str] | None = None,
) -> Leaderboard:
    """A leaderboard from score reports keyed by (model, benchmark).

    ``measures`` maps a benchmark to the figures it defines (``BENCHMARKS[name].measures``);
    ``benchmarks`` fixes the column order (default: first appearance). A model without a score on
    a benchmark has an empty cell there and is ranked on the others.
    """
    items = list(scores.items()) if isinstance(scores, Mapping) else [((m, b), r) for m, b, r in scores]
    if len({key for key, _ in items}) != len(items):
        raise ValueError("two score reports for the same (model, benchmark); keep one per cell")
    order = list(benchmarks) if benchmarks else list(dict.fromkeys(b for (_, b), _ in items))
    headlines = {b: headline_for([r for (_, rb), r in items if rb == b], (measures or {}).get(b)) for b in order}
    cells = {(m, b): _cell(m, b, headlines[b], r) for (m, b), r in items if b in headlines}
    means: dict[str, tuple[float | None, int]] = {}
    for model in dict.fromkeys(m for (m, _), _ in items):
        values = [c.value for (cm, _), c in cells.items() if cm == model and c.value is not None]
        means[model] = (sum(values) / len(values) if values else None, len(values))
    models = sorted(means, key=lambda m: (means[m][0] is None, -(means[m][0] or 0.0), m))
    return Leaderboard(models=models, benchmarks=order, headlines=headlines, cells=cells, means=means)


def _rows(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    headers = [
        "#",
        "model",
        *(f"{b} ({HEADLINE_TITLES[board.headlines[b]]})" for b in board.benchmarks),
        "mean (benchmarks)",
    ]
    rows = []
    for rank, model in enumerate(board.models, start=1):
        mean, count = board.means.get(model, (None, 0))
        cells = [board.cells[(model, b)].text() if (model, b) in board.cells else NOT_DEFINED for b in board.benchmarks]
        rows.append([str(rank), model, *cells, f"{format_percent(mean)} ({count})"])
    return headers, rows


def to_rich(board: Leaderboard, title: str = "Leaderboard") -> Table:
    """The leaderboard for the terminal; model names are shown as plain text."""
    headers, rows = _rows(board)
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index < 2 else "right", no_wrap=index < 2)
    for row in rows:
        table.add_row(*(Text(printable(cell, one_line=True)) for cell in row))
    return table


def to_markdown(board: Leaderboard, title: str = "Leaderboard") -> str:
    """The leaderboard as a Markdown table with its notes; every cell escaped."""
    headers, rows = _rows(board)
    lines = [f"### {markdown_cell(title)}", "", "| " + " | ".join(markdown_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join(":---" if i < 2 else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    lines += [""] + [f"- {markdown_cell(note)}" for note in board.notes()]
    return "\n".join(lines) + "\n"


def to_json(board: Leaderboard) -> str:
    return json.dumps(board.to_dict(), indent=2, ensure_ascii=False)


def store_leaderboard(
    store: Any,
    runs: Sequence[str] | None = None,
    judge: str | None = None,
    rule: str = "paper",
    failures: str = "exclude",
) -> Leaderboard:
    """The leaderboard of stored runs (every run when ``runs`` is None): rows are models (with
    their method), columns benchmarks, each cell scored under ``judge`` (default: each run's
    current offline judge or its one judge). Runs without usable verdicts are left out; the
    board's notes say which and why. Utility runs (POPE, ScienceQA) are not safety figures and
    are skipped."""
    from vscbench.benchmarks.registry import BENCHMARKS
    from vscbench.judges.runs import RunNotFoundError, VerdictsNotFoundError, resolve_judge
    from vscbench.scoring.runs import score_run

    names = list(runs) if runs is not None else [info.name for info in store.list_runs()]
    scores: dict[tuple[str, str], ScoreReport] = {}
    skipped: list[str] = []
    for name in names:
        spec = store.get_run(name)
        if spec is None:
            raise RunNotFoundError(f"no run named {name!r} in {store.path}")
        if spec.meta.get("kind") == "utility" or spec.benchmark in ("pope", "scienceqa"):
            continue
        try:
            report = score_run(store, name, resolve_judge(store, name, judge), rule, failures)
        except VerdictsNotFoundError as exc:
            if runs is not None:
                raise
            skipped.append(f"{name}: {exc}")
            continue
        model = spec.model if spec.method == "none" else f"{spec.model} + {spec.method}"
        key = (model, spec.benchmark)
        if key in scores:  # the same model and benchmark twice: keep the later run
            skipped.append(f"{name}: a later run of {model} on {spec.benchmark} is shown instead")
        scores[key] = report
    measures = {name: info.measures for name, info in BENCHMARKS.items()}
    return replace(build_leaderboard(scores, measures=measures), skipped=skipped)
