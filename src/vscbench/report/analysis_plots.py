"""Figures of the open questions: each method as an arrow from its baseline in (c, d') space,
what is lost once an image is added, and discrimination by category.

Drawn like :mod:`vscbench.report.plots` (Agg canvas, no pyplot, deterministic PNG bytes). Every
figure reads the records of :mod:`vscbench.scoring`; nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from vscbench.report.plots import PALETTE, figure_png
from vscbench.scoring.metrics import Interval, ScoreReport


@dataclass(frozen=True)
class DetectionPoint:
    """One run in (c, d') space; ``baseline`` names the run it is drawn as an arrow from."""

    name: str
    criterion: float
    d_prime: float
    criterion_ci: Interval | None = None
    d_prime_ci: Interval | None = None
    baseline: str | None = None


def detection_points(
    reports: Mapping[str, ScoreReport], baselines: Mapping[str, str] | None = None
) -> list[DetectionPoint]:
    """Points of the runs with a defined d'; ``baselines`` maps a run to the run it calibrates."""
    points = []
    for name, report in reports.items():
        found = report.overall.detection
        if found.d_prime is None or found.criterion is None:
            continue
        base = (baselines or {}).get(name)
        points.append(DetectionPoint(name, found.criterion, found.d_prime, found.criterion_ci, found.d_prime_ci, base))
    named = {point.name for point in points}
    return [p if p.baseline in named else DetectionPoint(p.name, p.criterion, p.d_prime, p.criterion_ci, p.d_prime_ci)
            for p in points]  # fmt: skip


def baselines_by_model(runs: Sequence[tuple[str, str | None, str | None]]) -> dict[str, str]:
    """For (name, model, method) triples: each calibrated run's baseline, the run of the same
    model without a method (the first one given, when there are several)."""
    plain = {}
    for name, model, method in runs:
        if method in (None, "none") and model not in plain:
            plain[model] = name
    return {name: plain[model] for name, model, method in runs if method not in (None, "none") and model in plain}


def _error(value: float, ci: Interval | None) -> list[list[float]]:
    return [[0.0], [0.0]] if ci is None else [[max(0.0, value - ci[0])], [max(0.0, ci[1] - value)]]


def detection_figure(points: Sequence[DetectionPoint], title: str = "Discrimination against bias") -> Figure:
    """c on x, d' on y, one point per run with its intervals; an arrow from each method's baseline.

    Up is better told apart; left is more refusing. An arrow that goes left and not up is a
    method that only refuses more; one that goes up separates unsafe from safe better.
    """
    by_name = {point.name: point for point in points}
    figure = Figure(figsize=(6.4, 4.8))
    axes = figure.add_subplot()
    axes.axvline(0.0, color="#bbbbbb", linestyle=":", linewidth=0.8)
    axes.axhline(0.0, color="#bbbbbb", linestyle=":", linewidth=0.8)
    for point in points:
        if point.baseline is not None:
            start = by_name[point.baseline]
            axes.annotate("", xy=(point.criterion, point.d_prime), xytext=(start.criterion, start.d_prime),
                          arrowprops={"arrowstyle": "->", "color": "#555555", "linewidth": 1.2})  # fmt: skip
    labelled: dict[tuple[float, float], int] = {}
    for index, point in enumerate(points):
        color = PALETTE[index % len(PALETTE)]
        marker = "s" if point.baseline is None else "o"
        axes.errorbar([point.criterion], [point.d_prime], xerr=_error(point.criterion, point.criterion_ci),
                      yerr=_error(point.d_prime, point.d_prime_ci), fmt=marker, color=color, capsize=3, zorder=3)  # fmt: skip
        spot = (round(point.criterion, 2), round(point.d_prime, 2))
        above = labelled.get(spot, 0)  # runs on one spot: their names stacked, not printed over each other
        labelled[spot] = above + 1
        axes.annotate(point.name, (point.criterion, point.d_prime), textcoords="offset points",
                      xytext=(6, 6 + 11 * above), fontsize=8, color=color)  # fmt: skip
    axes.set_xlabel("criterion c   (← refuses more · answers more →)")
    axes.set_ylabel("d'   (telling unsafe from safe)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.margins(0.25)
    figure.tight_layout()
    return figure


def plot_detection(points: Sequence[DetectionPoint], path: str | None = None) -> bytes:
    return figure_png(detection_figure(points), path)


def transfer_figure(reports: Mapping[str, ScoreReport]) -> Figure | None:
    """Per attack, the share of prompts handled right as text and failed with the image, one bar
    per run with its interval; ``None`` when no run has text-only and attack samples of a prompt."""
    variants = list(dict.fromkeys(v for report in reports.values() for v in report.transfer))
    if not variants:
        return None
    width = 0.8 / max(1, len(reports))
    figure = Figure(figsize=(max(5.0, 1.4 * len(variants) + 2.5) + (1.8 if len(reports) > 1 else 0), 4.2),
                    layout="constrained")  # fmt: skip
    axes = figure.add_subplot()
    for index, (name, report) in enumerate(reports.items()):
        xs: list[float] = []
        heights: list[float] = []
        errors: list[list[float]] = [[], []]
        for position, variant in enumerate(variants):
            table = report.transfer.get(variant)
            if table is None or table.lost_with_image is None:
                continue
            xs.append(position - 0.4 + width * (index + 0.5))
            heights.append(table.lost_with_image)
            low, high = _error(table.lost_with_image, table.lost_with_image_ci)
            errors[0] += low
            errors[1] += high
        axes.bar(xs, heights, width=width, yerr=errors, capsize=2, color=PALETTE[index % len(PALETTE)], label=name,
                 error_kw={"linewidth": 0.8})  # fmt: skip
    axes.set_xticks(range(len(variants)))
    axes.set_xticklabels(variants)
    axes.set_ylim(0, 1.05)
    axes.yaxis.set_major_formatter(lambda value, _: f"{100 * value:.0f}%")
    axes.set_ylabel("right as text, wrong with the image\n(share of prompts, 95% interval)")
    axes.set_title("Lost once the image is added")
    axes.grid(axis="y", alpha=0.3)
    if len(reports) > 1:
        figure.legend(fontsize=8, loc="outside right upper", frameon=False)
    return figure


def category_detection_figure(reports: Mapping[str, ScoreReport]) -> Figure | None:
    """d' of each category with its interval, one dot per run; the worst category (lowest SRA_a)
    of each run is ringed. ``None`` when no category has both safe and unsafe samples."""
    rows = list(dict.fromkeys(
        c for r in reports.values() for c, g in r.by_category.items() if g.detection.d_prime is not None
    ))  # fmt: skip
    if not rows:
        return None
    figure = Figure(figsize=(8.0, max(2.6, 0.34 * len(rows) + 1.4)), layout="constrained")
    axes = figure.add_subplot()
    spread = 0.6 / max(1, len(reports))
    for index, (name, report) in enumerate(reports.items()):
        color = PALETTE[index % len(PALETTE)]
        worst = report.consistency.get("all")
        worst_name = worst.worst_category if worst else None
        for position, category in enumerate(rows):
            group = report.by_category.get(category)
            found = group.detection if group else None
            if found is None or found.d_prime is None:
                continue
            y = len(rows) - 1 - position - (index - (len(reports) - 1) / 2) * spread
            axes.errorbar([found.d_prime], [y], xerr=_error(found.d_prime, found.d_prime_ci), fmt="o", color=color,
                          markersize=5, capsize=2, linewidth=1, label=name if position == 0 else None)  # fmt: skip
            if category == worst_name:
                axes.scatter([found.d_prime], [y], s=160, facecolors="none", edgecolors=color, linewidths=1.2)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels(list(reversed(rows)), fontsize=8)
    axes.axvline(0.0, color="#bbbbbb", linestyle=":", linewidth=0.8)
    axes.set_xlabel("d' by category, 95% interval (ringed: lowest SRA_a)")
    axes.set_title("Category spread of discrimination")
    axes.grid(axis="x", alpha=0.3)
    if len(reports) > 1:
        figure.legend(fontsize=8, loc="outside right upper", frameon=False)
    return figure


def analysis_figures(
    reports: Mapping[str, ScoreReport], baselines: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """The open-question figures as PNG bytes, by caption (those that have something to show)."""
    out = {}
    points = detection_points(reports, baselines)
    if points:
        out["Discrimination d' against bias c (arrows: from each method's baseline)"] = plot_detection(points)
    transfer = transfer_figure(reports)
    if transfer is not None:
        out["Lost once the image is added (text-only vs each attack)"] = figure_png(transfer)
    categories = category_detection_figure(reports)
    if categories is not None:
        out["Category spread: d' by category"] = figure_png(categories)
    return out
