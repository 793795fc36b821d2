"""Figures of safety calibration: SRA_s vs SRA_u, per-category bars, and the safety-utility trade-off.

Figures are drawn on matplotlib's Agg canvas without pyplot, so nothing here touches the global
backend of a notebook or a GUI session, and the same inputs give byte-identical PNG files (the
PNG "Software" tag, which names the matplotlib version, is left out). Every function returns the
PNG bytes, for embedding in HTML, and writes them to ``path`` when one is given.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vscbench.scoring.compare import Comparison
from vscbench.scoring.metrics import GroupScore, Interval, ScoreReport

DPI = 120
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
Reports = ScoreReport | Mapping[str, ScoreReport] | Comparison


@dataclass(frozen=True)
class TradeoffPoint:
    """One model or method on the safety-utility plane.

    ``utility`` is any 0..1 capability score (POPE or ScienceQA accuracy ...); ``baseline`` names
    the point this one was derived from, drawn as an arrow baseline -> method.
    """

    name: str
    sra_a: float
    utility: float
    baseline: str | None = None
    sra_a_ci: Interval | None = None


def _named(reports: Reports) -> dict[str, ScoreReport]:
    if isinstance(reports, ScoreReport):
        return {"model": reports}
    if isinstance(reports, Comparison):
        return dict(reports.reports)
    return dict(reports)


def figure_png(figure: Figure, path: str | Path | None = None) -> bytes:
    """Render a figure to PNG bytes (deterministic), and write them to ``path`` if given."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    data = buffer.getvalue()
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return data


def _error(value: float, ci: Interval | None) -> list[float]:
    return [0.0, 0.0] if ci is None else [max(0.0, value - ci[0]), max(0.0, ci[1] - value)]


def sra_scatter_figure(reports: Reports, title: str = "Safety calibration") -> Figure:
    """SRA_u (unsafe refused) on x, SRA_s (safe answered) on y, one point per model/method.

    The ideal corner (100%, 100%) is starred; the dashed diagonal holds balanced models; the dotted
    line SRA_a = 50% is where a model that ignores the content (always refuse, always answer, or
    refuse at random) lands.
    """
    figure = Figure(figsize=(5.6, 5.2))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="#999999", linewidth=0.8, label="balanced (SRA_s = SRA_u)")
    axes.plot([0, 1], [1, 0], linestyle=":", color="#bbbbbb", linewidth=0.8, label="SRA_a = 50%")
    axes.scatter([1], [1], marker="*", s=220, color="gold", edgecolor="black", zorder=3, label="ideal")
    for index, (name, report) in enumerate(_named(reports).items()):
        overall = report.overall
        if overall.sra_s is None or overall.sra_u is None:
            continue
        color = PALETTE[index % len(PALETTE)]
        axes.errorbar(
            [overall.sra_u],
            [overall.sra_s],
            xerr=[[e] for e in _error(overall.sra_u, overall.ci["sra_u"])],
            yerr=[[e] for e in _error(overall.sra_s, overall.ci["sra_s"])],
            fmt="o",
            color=color,
            capsize=3,
            zorder=4,
        )
        axes.annotate(
            name, (overall.sra_u, overall.sra_s), textcoords="offset points", xytext=(6, 6), fontsize=8, color=color
        )
    axes.set_xlim(-0.02, 1.05)
    axes.set_ylim(-0.02, 1.05)
    axes.set_xlabel("SRA_u — unsafe queries refused or warned")
    axes.set_ylabel("SRA_s — safe queries answered")
    axes.set_title(title)
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=7)
    figure.tight_layout()
    return figure


def plot_sra_scatter(reports: Reports, path: str | Path | None = None, title: str = "Safety calibration") -> bytes:
    return figure_png(sra_scatter_figure(reports, title), path)


def _category_value(score: GroupScore, metric: str) -> tuple[float | None, Interval | None, str]:
    """The figure for one category; ``auto`` takes SRA_a, or the one side a category has
    (XSTest types in the text-centric subset are all safe or all unsafe)."""
    if metric == "auto":
        for candidate, suffix in (("sra_a", ""), ("sra_s", " (safe)"), ("sra_u", " (unsafe)")):
            if getattr(score, candidate) is not None:
                return getattr(score, candidate), score.ci[candidate], suffix
        return None, None, ""
    return getattr(score, metric), score.ci[metric], ""


def category_bars_figure(reports: Reports, metric: str = "auto", title: str | None = None) -> Figure:
    """Grouped bars: one group per category, one bar per model/method, with interval whiskers."""
    if metric not in ("auto", "sra_a", "sra_s", "sra_u"):
        raise ValueError(f"unknown metric {metric!r}; use auto, sra_a, sra_s or sra_u")
    named = _named(reports)
    categories = list(dict.fromkeys(c for r in named.values() for c in r.by_category))
    width = 0.8 / max(1, len(named))
    figure = Figure(figsize=(max(6.0, 0.55 * len(categories) * max(1, len(named)) ** 0.5 + 2), 4.6))
    axes = figure.add_subplot()
    suffixes: dict[str, str] = {}
    for index, (name, report) in enumerate(named.items()):
        xs: list[float] = []
        heights: list[float] = []
        errors: list[list[float]] = [[], []]
        for position, category in enumerate(categories):
            score = report.by_category.get(category)
            value, ci, suffix = _category_value(score, metric) if score else (None, None, "")
            if value is None:
                continue
            suffixes.setdefault(category, suffix)
            xs.append(position - 0.4 + width * (index + 0.5))
            heights.append(value)
            low, high = _error(value, ci)
            errors[0].append(low)
            errors[1].append(high)
        axes.bar(
            xs,
            heights,
            width=width,
            yerr=errors,
            capsize=2,
            color=PALETTE[index % len(PALETTE)],
            label=name,
            error_kw={"linewidth": 0.8},
        )
    axes.set_xticks(range(len(categories)))
    axes.set_xticklabels([c + suffixes.get(c, "") for c in categories], rotation=45, ha="right", fontsize=7)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel({"auto": "SRA_a (or the side the category has)"}.get(metric, metric.upper()))
    axes.set_title(title or "Per-category calibration")
    axes.grid(axis="y", alpha=0.3)
    if len(named) > 1:
        axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


def plot_category_bars(
    reports: Reports, path: str | Path | None = None, metric: str = "auto", title: str | None = None
) -> bytes:
    return figure_png(category_bars_figure(reports, metric, title), path)


SECTION_NAMES = {
    "by_subset": "subset",
    "by_category": "category",
    "by_variant": "variant",
    "by_subset_variant": "subset / variant",
}


def breakdown_dots_figure(reports: Reports, section: str = "by_category", title: str | None = None) -> Figure:
    """One row per group of a breakdown, one dot per run with its interval as a whisker.

    A dot plot stays readable with many groups and many runs, where grouped bars turn into a
    comb: the figure grows with the number of groups (about a third of an inch each) rather than
    squeezing them. Each dot is SRA_a, or the one side a group has (``(safe)``/``(unsafe)``:
    XSTest types in the text-centric subset are all safe or all unsafe).
    """
    named = _named(reports)
    sections = {name: report.section(section) for name, report in named.items()}
    groups = list(dict.fromkeys(group for scores in sections.values() for group in scores))
    runs = max(1, len(named))
    row_height = 0.3 + 0.06 * min(runs, 8)
    width = 9.0 + (1.8 if runs > 1 else 0.0)
    figure = Figure(figsize=(width, max(2.6, row_height * len(groups) + 1.4)), layout="constrained")
    axes = figure.add_subplot()
    spread = 0.7 / runs
    suffixes: dict[str, str] = {}
    for index, (name, scores) in enumerate(sections.items()):
        color = PALETTE[index % len(PALETTE)]
        xs: list[float] = []
        ys: list[float] = []
        errors: list[list[float]] = [[], []]
        for position, group in enumerate(groups):
            score = scores.get(group)
            value, ci, suffix = _category_value(score, "auto") if score else (None, None, "")
            if value is None:
                continue
            suffixes.setdefault(group, suffix)
            xs.append(value)
            ys.append(len(groups) - 1 - position - (index - (runs - 1) / 2) * spread)  # first run on top
            low, high = _error(value, ci)
            errors[0].append(low)
            errors[1].append(high)
        axes.errorbar(xs, ys, xerr=errors, fmt="o", markersize=5, color=color, capsize=2, linewidth=1, label=name)
    axes.set_yticks(range(len(groups)))
    axes.set_yticklabels([g + suffixes.get(g, "") for g in reversed(groups)], fontsize=9)
    axes.set_ylim(-0.6, len(groups) - 0.4)
    axes.set_xlim(0, 1.0)
    axes.xaxis.set_major_formatter(lambda value, _: f"{100 * value:.0f}%")
    axes.set_xlabel("SRA_a (or the side the group has), 95% interval", fontsize=10)
    axes.axvline(0.5, color="#bbbbbb", linestyle=":", linewidth=0.8)
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(title or f"Safety calibration by {SECTION_NAMES.get(section, section)}", fontsize=12)
    if runs > 1:
        figure.legend(fontsize=8, loc="outside right upper", frameon=False)
    return figure


def plot_breakdown_dots(
    reports: Reports, section: str = "by_category", path: str | Path | None = None, title: str | None = None
) -> bytes:
    return figure_png(breakdown_dots_figure(reports, section, title), path)


def tradeoff_figure(
    points: Sequence[TradeoffPoint], utility_label: str = "Utility", title: str = "Safety-utility trade-off"
) -> Figure:
    """SRA_a (x) against a utility score (y); an arrow from each method's baseline to the method."""
    by_name = {p.name: p for p in points}
    for point in points:
        if point.baseline is not None and point.baseline not in by_name:
            raise ValueError(f"point {point.name!r} names baseline {point.baseline!r}, which is not a point")
    figure = Figure(figsize=(5.8, 4.8))
    axes = figure.add_subplot()
    for point in points:
        if point.baseline is not None:
            start = by_name[point.baseline]
            axes.annotate(
                "",
                xy=(point.sra_a, point.utility),
                xytext=(start.sra_a, start.utility),
                arrowprops={"arrowstyle": "->", "color": "#555555", "linewidth": 1.0},
            )
    for index, point in enumerate(points):
        color = PALETTE[index % len(PALETTE)]
        xerr = [[e] for e in _error(point.sra_a, point.sra_a_ci)]
        marker = "s" if point.baseline is None else "o"
        axes.errorbar([point.sra_a], [point.utility], xerr=xerr, fmt=marker, color=color, capsize=3, zorder=3)
        axes.annotate(
            point.name, (point.sra_a, point.utility), textcoords="offset points", xytext=(5, 5), fontsize=8, color=color
        )
    axes.set_xlim(0, 1.05)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("SRA_a — safety calibration")
    axes.set_ylabel(utility_label)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def plot_tradeoff(
    points: Sequence[TradeoffPoint],
    path: str | Path | None = None,
    utility_label: str = "Utility",
    title: str = "Safety-utility trade-off",
) -> bytes:
    return figure_png(tradeoff_figure(points, utility_label, title), path)


def tradeoff_points(
    reports: Mapping[str, ScoreReport], utility: Mapping[str, float], baselines: Mapping[str, str] | None = None
) -> list[TradeoffPoint]:
    """Points from scored reports and a utility score per name (names without utility are skipped)."""
    baselines = baselines or {}
    return [
        TradeoffPoint(name, report.overall.sra_a, utility[name], baselines.get(name), report.overall.ci["sra_a"])
        for name, report in reports.items()
        if name in utility and report.overall.sra_a is not None
    ]
