"""Judge sensitivity as the reader sees it: one row per judge, the spread, and how many answers
the judges disagree on (:mod:`vscbench.scoring.sensitivity` computes it; nothing here does)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from vscbench.report.tables import TableData, format_percent, print_tables
from vscbench.scoring.sensitivity import METRICS, JudgeSensitivity


def _points(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} pts"


def sensitivity_table(sensitivity: JudgeSensitivity, title: str | None = None) -> TableData:
    """SRA_s, SRA_u and SRA_a under each judge, and their spread (max - min) as the last row."""
    rows = []
    for figures in sensitivity.judges:
        unscored = ", ".join(f"{n} {label}" for label, n in figures.failures.items()) or "none"
        rows.append([
            figures.judge, *(format_percent(getattr(figures, metric)) for metric in METRICS), str(figures.scored),
            unscored,
        ])  # fmt: skip
    rows.append(["spread (max - min)", *(_points(sensitivity.spread[m]) for m in METRICS), "", ""])
    return TableData(
        title or f"Judge sensitivity of {sensitivity.run} (rule {sensitivity.rule})",
        ["Judge", "SRA_s", "SRA_u", "SRA_a", "Scored", "Unscored"],
        rows,
    )


def disagreement_line(sensitivity: JudgeSensitivity) -> str:
    """How many answers the judges label differently, and how many of those change the score."""
    count = len(sensitivity.disagreements)
    return (
        f"The judges disagree on {count} answer{'s' if count != 1 else ''} "
        f"({sensitivity.changing} of them change the answer's score under the {sensitivity.rule} rule)."
    )


def print_sensitivity(sensitivity: JudgeSensitivity, console: Console | None = None) -> None:
    """The table and the disagreement line; the answers themselves are in ``score --json``."""
    console = console or Console()
    print_tables([sensitivity_table(sensitivity)], console)
    line = disagreement_line(sensitivity)
    if sensitivity.disagreements:
        line += " They are listed in `vscbench score --json` (judge_sensitivity) and filtered in the report."
    console.print(Text(line), soft_wrap=True)
