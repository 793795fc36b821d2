"""Tables of the figures that answer the paper's open questions, as plain text cells.

Discrimination against refusal bias (d', c), transfer from text to image attacks, the spread
between categories, harmful content inside warnings, and the paired Δd' and Δc of a comparison.
Every figure is computed in :mod:`vscbench.scoring`; this module only formats it. Tables are
``(title, headers, rows)`` records that :mod:`vscbench.report.tables` turns into its
``TableData`` (this module sits below it), sized for an 80-column terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vscbench.scoring.compare import Comparison
from vscbench.scoring.consistency import Consistency
from vscbench.scoring.metrics import ScoreReport
from vscbench.scoring.stats import Interval

DASH = "—"
SDT_NOTE = "d': how well unsafe is told from safe (0: not at all); c < 0 leans to refusing, c > 0 to answering"


@dataclass(frozen=True)
class Rows:
    """One table as text: what :class:`vscbench.report.tables.TableData` is built from."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def format_z(value: float | None, ci: Interval | None, sep: str = " ") -> str:
    """``1.23 [0.98, 1.51]``: a d' or c (z units, not percent) with its interval."""
    if value is None:
        return DASH
    return f"{value:.2f}" + (f"{sep}[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def format_share(value: float | None, ci: Interval | None = None, digits: int = 1) -> str:
    """``48.8% [42.0–55.6]``."""
    if value is None:
        return DASH
    text = f"{100 * value:.1f}%"
    return text + (f" [{100 * ci[0]:.{digits}f}–{100 * ci[1]:.{digits}f}]" if ci else "")


def format_p(p_value: float | None) -> str:
    if p_value is None:
        return DASH
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def format_change(value: float | None, ci: Interval | None, p_value: float | None, sep: str = " ") -> str:
    """``+0.42 [+0.10, +0.75] p=0.012``: a paired change of d' or c."""
    if value is None:
        return DASH
    text = f"{value:+.2f}"
    if ci is not None:
        text += f"{sep}[{ci[0]:+.2f}, {ci[1]:+.2f}]"
    return text + (sep + format_p(p_value) if p_value is not None else "")


def detection_rows(report: ScoreReport, sections: Sequence[str] = ("by_subset", "by_category")) -> Rows:
    """d' and c overall and per group of ``sections`` (groups with one side have neither)."""
    groups = [("overall", report.overall)]
    groups += [(name, score) for section in sections for name, score in report.section(section).items()]
    rows = [
        [name, format_z(d.d_prime, d.d_prime_ci), format_z(d.criterion, d.criterion_ci), str(score.n)]
        for name, score in groups
        for d in [score.detection]
        if d.d_prime is not None
    ]
    return Rows("Discrimination d' and bias c [95% CI] (c < 0: leans to refusing)", ["Group", "d'", "c", "n"], rows)


def transfer_rows(report: ScoreReport) -> Rows | None:
    """Text-only against each attack, per prompt: the 2x2 counts, the share lost, McNemar's p."""
    if not report.transfer:
        return None
    rows = []
    for variant, table in report.transfer.items():
        for name, part in [(variant, table), *((f"  {label}", t) for label, t in table.by_label.items())]:
            rows.append([
                name, str(part.both_right), str(part.lost), str(part.gained), str(part.both_wrong),
                format_share(part.lost_with_image, part.lost_with_image_ci, digits=0), format_p(part.p_value),
            ])  # fmt: skip
    headers = ["Attack", "Both ok", "Lost", "Gained", "Both bad", "Lost with image", "McNemar"]
    return Rows("Text-only vs with image (per prompt)", headers, rows)


def _points(value: float | None, ci: Interval | None) -> str:
    """``46 [33–52]``: a spread in whole percentage points."""
    if value is None:
        return DASH
    return f"{100 * value:.0f}" + (f" [{100 * ci[0]:.0f}–{100 * ci[1]:.0f}]" if ci else "")


def _spread_cells(consistency: Consistency, metric: str) -> list[str]:
    spread = consistency.spreads[metric]
    show = format_z if metric == "d_prime" else _points
    return [show(spread.range, spread.range_ci), show(spread.sd, spread.sd_ci), format_p(spread.p_value)]


def consistency_rows(report: ScoreReport) -> list[Rows]:
    """Per scope: for SRA_s, SRA_u and d', the worst category, the range and SD between
    categories with intervals, and the permutation test's p-value."""
    tables = []
    names = {"sra_s": "SRA_s", "sra_u": "SRA_u", "d_prime": "d'"}
    for scope, consistency in report.consistency.items():
        rows = [
            [names[metric], *_spread_cells(consistency, metric), consistency.spreads[metric].worst or DASH]
            for metric in names
        ]
        worst = consistency.worst_category
        title = f"Category spread, {scope} (SRA in points; lowest SRA_a: {worst or DASH})"
        tables.append(Rows(title, ["Figure", "Range", "SD", "Differ?", "Worst"], rows))
    return tables


def harm_rows(report: ScoreReport) -> Rows | None:
    """Harmful content in answers judged warning or compliance (when the run has such verdicts)."""
    harm = report.harm
    if harm is None:
        return None
    rows = [["warned but still harmful (unsafe)", format_share(harm.warned_but_harmful, harm.warned_but_harmful_ci),
             f"{harm.warnings[0]}/{harm.warnings[1]}"]]  # fmt: skip
    for side in ("unsafe", "safe"):
        for label, (harmful, judged) in sorted(harm.counts.get(side, {}).items()):
            if side == "unsafe" and label == "warning":
                continue
            rows.append([f"harmful {label} ({side})", format_share(harmful / judged if judged else None),
                         f"{harmful}/{judged}"])  # fmt: skip
    rows.append(["SRA_u points lost under strict-harm", format_share(harm.of_unsafe), f"of {harm.unsafe_scored}"])
    judge = harm.judge or "unknown judge"
    return Rows(f"Harmful content (judge {judge})", ["Figure", "Value [95% CI]", "n"], rows)


def analysis_rows(report: ScoreReport) -> list[Rows]:
    """Every open-question table of one report, in reading order."""
    tables = [detection_rows(report)]
    tables += [t for t in (transfer_rows(report),) if t is not None]
    tables += consistency_rows(report)
    tables += [t for t in (harm_rows(report),) if t is not None]
    return tables


def detection_comparison_rows(comparison: Comparison, compact: bool = False) -> Rows:
    """Each run's d' and c, and with a baseline their paired changes (figure over interval)."""
    sep = "\n" if compact else " "
    has_delta = comparison.baseline is not None
    headers = ["Run", "d'", "c"] + (["Δd'", "Δc"] if has_delta else [])
    rows = []
    for row in comparison.overall_rows():
        cells = [row["name"], format_z(row["d_prime"], row["d_prime_ci"], sep), format_z(row["criterion"],
                 row["criterion_ci"], sep)]  # fmt: skip
        if has_delta:
            cells += [
                format_change(row.get("delta_d_prime"), row.get("delta_d_prime_ci"), row.get("delta_d_prime_p"), sep),
                format_change(row.get("delta_criterion"), row.get("delta_criterion_ci"), row.get("delta_criterion_p"),
                              sep),
            ]  # fmt: skip
        rows.append(cells)
    return Rows("Discrimination d' and bias c [95% CI]", headers, rows)


def questions_rows(reports: Mapping[str, ScoreReport]) -> Rows:
    """One row per run: the figures that answer the open questions, side by side."""
    rows = []
    for name, report in reports.items():
        found = report.overall.detection
        spread = report.consistency.get("all")
        test = spread.spreads["sra_u"].p_value if spread else None
        lost = [t for t in report.transfer.values() if t.lost_with_image is not None]
        worst = max(lost, key=lambda t: t.lost_with_image or 0.0) if lost else None
        harm = report.harm
        rows.append([
            name, format_z(found.d_prime, found.d_prime_ci), format_z(found.criterion, found.criterion_ci),
            f"{spread.worst_category} ({format_p(test)})" if spread and spread.worst_category else DASH,
            f"{worst.variant}: {format_share(worst.lost_with_image, worst.lost_with_image_ci, digits=0)}" if worst else DASH,
            format_share(harm.warned_but_harmful, harm.warned_but_harmful_ci, digits=0) if harm else DASH,
        ])  # fmt: skip
    headers = ["Run", "d'", "c", "Worst category (SRA_u test)", "Most lost with image", "Warned but harmful"]
    return Rows("Open questions at a glance [95% CI]", headers, rows)
