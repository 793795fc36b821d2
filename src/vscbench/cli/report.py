"""`vscbench report`: a browsable, self-contained HTML report of stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, open_store
from vscbench.cli.evaluate import STORE_HELP, _resolve_judge
from vscbench.locations import DEFAULT_STORE


@app.command("report", rich_help_panel="Pipeline")
def report_command(
    run: list[str] = typer.Option(..., "--run", "-r", help="Run name (repeat to put several runs in one report)."),
    out: Path = typer.Option(Path("vscbench-report.html"), "--out", "-o", help="HTML file to write."),
    judge: Optional[str] = typer.Option(None, "--judge", "-j", help="Whose verdicts to show (default: offline if present)."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help=STORE_HELP),
    rule: str = typer.Option("paper", help="Scoring rule: paper or strict."),
    thumbnails: bool = typer.Option(True, help="Embed small image thumbnails in the sample table."),
    max_samples: int = typer.Option(5000, help="Most samples listed in the browsable table."),
) -> None:
    """Write a self-contained HTML report with figures, plots and a filterable sample table.

    Every sample is listed with its prompt, image, response and verdict; all model output is
    escaped.

    Example: [bold]vscbench report --run llava-base --run llava-cot --out report.html[/bold]
    """
    from vscbench.evaluate import RunNotFoundError, run_labels
    from vscbench.metrics import score
    from vscbench.report.compare import compare
    from vscbench.report.html import write_html

    store = open_store(store_path)
    try:
        first = run[0]
        samples, labels, responses = run_labels(store, first, _resolve_judge(store, first, judge))
        report = score(samples, labels, rule=rule)
        comparison = None
        if len(run) > 1:
            reports = {first: report}
            for name in run[1:]:
                s, lab, _ = run_labels(store, name, _resolve_judge(store, name, judge))
                reports[name] = score(s, lab, rule=rule)
            comparison = compare(reports, baseline=first)
    except (RunNotFoundError, ValueError) as exc:
        fail(str(exc))
    write_html(
        out, report, samples, labels=labels, responses=responses, comparison=comparison,
        thumbnails=thumbnails, max_samples=max_samples,
    )  # fmt: skip
    console.print(f"report written: {out}")
