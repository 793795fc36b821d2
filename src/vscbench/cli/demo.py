"""`vscbench demo`: the whole pipeline on a built-in example set, offline, in seconds."""

from __future__ import annotations

from pathlib import Path

import typer

from vscbench.cli.app import app
from vscbench.cli.common import MAX_TOKENS_HELP, console, err_console, fail, max_tokens_or_default, print_json


@app.command("demo", rich_help_panel="Start here")
def demo_command(
    dest: Path = typer.Option(
        Path("vscbench-demo"), "--dest", help="Folder for the example set, its store and report."
    ),
    model: str = typer.Option(
        "scripted:keyword",
        "--model",
        "-m",
        help="Model spec (default: a scripted stand-in that needs nothing); hf:PATH for a local VLM.",
    ),
    judge: str = typer.Option(
        "offline", "--judge", "-j", help="Judge: offline (default), keyword, or an LLM judge spec."
    ),
    max_tokens: int | None = typer.Option(None, help=MAX_TOKENS_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    out: Path | None = typer.Option(
        None, "--out", "-o", "--html", help="Where to write the report (default DEST/report.html)."
    ),
) -> None:
    """Render a dozen safe/unsafe twins, ask a model, judge, score and write a report: no network, no keys.

    The example set is written for vscbench (it is not the benchmark): look-alike harmless and
    dangerous pictures behind one question, and XSTest-style questions beside their unsafe
    contrasts, each also sent as a typography image. Use it to see every stage before
    downloading anything.

    Example: [bold]vscbench demo[/bold]

    Example (a local VLM): [bold]vscbench demo --model hf:/models/llava-interleave-qwen-0.5b-hf[/bold]
    """
    from vscbench.experiment import ExperimentError
    from vscbench.report.tables import print_report
    from vscbench.workflows.demo import run_demo

    say = (
        (lambda text: err_console.print(text, highlight=False, markup=False))
        if not json_output
        else (lambda text: None)
    )
    try:
        result = run_demo(
            dest, model=model, judge=judge, html=out, max_tokens=max_tokens_or_default(max_tokens), say=say
        )
    except ExperimentError as exc:
        fail(str(exc))
    report = result.result.runs[0].score
    if json_output:
        print_json({"run": result.run, "store": str(result.store), "report": str(result.html), **report.to_dict()})
        return
    print_report(report, console=console, sections=("by_subset", "by_variant"))
    console.print(f"\nreport: {result.html}\nnext: vscbench score --run {result.run} --store {result.store}",
                  highlight=False, markup=False)  # fmt: skip
