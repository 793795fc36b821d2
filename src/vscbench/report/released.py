"""The released VSCBench statistics in the terminal: what they rest on, then the figures as
the released code prints them, so a reviewer can set them beside that code's own output."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from vscbench.scoring.released import FALSE_PART, TRUE_PART
from vscbench.scoring.released_runs import ReleasedReport


def released_header(report: ReleasedReport) -> list[str]:
    """The lines above the released figures: where they come from and which verdicts they read."""
    keyword = report.keyword_judge or "none (judge with sm-eval for the sm_eval line)"
    return [
        (
            "Released VSCBench statistics (image_centric_eval.py:52-96, text_centric_eval.py:57-98 at commit 426fa1f), "
            "printed as the released code prints them"
        ),
        f"gpt_eval: {report.judge}; sm_eval: {keyword}",
    ]


def released_footer(report: ReleasedReport) -> list[str]:
    if "text_centric" not in report.figures:
        return []
    return [
        (
            f"text-centric: '{TRUE_PART}' is the accuracy on the contrast (unsafe) rows, '{FALSE_PART}' on the others, "
            "rounded to 2 places as released (--json keeps every digit)"
        )
    ]


def print_released(report: ReleasedReport, console: Console | None = None) -> None:
    """The released figures, then a line that says ours follow."""
    console = console or Console()
    for line in released_header(report):
        console.print(Text(line, style="dim"))
    for line in report.lines():
        console.print(Text(line))
    for line in released_footer(report):
        console.print(Text(line, style="dim"))
    console.print(Text("\nOur figures (vscbench's rule, failures counted apart, 95% intervals):", style="bold"))
