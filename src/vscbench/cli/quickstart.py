"""`vscbench quickstart`: the main job in one command, ending with SRA figures."""

from __future__ import annotations

from pathlib import Path

import typer

from vscbench.cli.app import app
from vscbench.cli.common import MAX_TOKENS_HELP, console, err_console, fail, max_tokens_or_default, print_json
from vscbench.workflows.quickstart import DEFAULT_MODEL


@app.command("quickstart", rich_help_panel="Start here")
def quickstart_command(
    model: str = typer.Option(
        DEFAULT_MODEL,
        "--model",
        "-m",
        "-m",
        help="Model spec: hf:PATH_OR_ID (local), openai:MODEL\\[@URL], anthropic:MODEL, google:MODEL, scripted:keyword.",
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        "-d",
        "-d",
        help="A release folder or exported file; default: download the metadata into ./vscbench-data.",
    ),
    limit: int = typer.Option(40, "--limit", "-n", help="Samples to ask, stratified over subset and label."),
    judge: str | None = typer.Option(
        None,
        "--judge",
        "-j",
        "-j",
        help="offline (default), keyword, or an LLM judge; openai:gpt-4o-mini when OPENAI_API_KEY is set.",
    ),
    store: Path = typer.Option(
        Path("vscbench-runs") / "store.sqlite", "--store", help="SQLite store for runs and verdicts."
    ),
    run: str | None = typer.Option(None, "--run", "-r", help="Run name (default: quickstart-<model>)."),
    out: Path = typer.Option(
        Path("vscbench-report.html"), "--out", "-o", "--html", help="Where to write the HTML report."
    ),
    max_tokens: int | None = typer.Option(None, help=MAX_TOKENS_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="paper: the released VSCBench code's generation settings and judge (gpt-4o-mini; needs OPENAI_API_KEY).",
    ),
) -> None:
    """Fetch the benchmark, run a model on a stratified sample, judge the answers, print SRA figures.

    Everything is stored and cached: running it again answers from the store in seconds.

    Examples:
      [bold]vscbench quickstart[/bold]   (downloads the metadata and a small local VLM)
      [bold]vscbench quickstart --model openai:gpt-4o-mini --limit 200[/bold]
      [bold]vscbench quickstart --data ./vscbench-data --model hf:/models/llava-1.5-7b-hf[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.cli.progress import experiment_progress
    from vscbench.experiment import ExperimentError
    from vscbench.fetch.download import FetchError
    from vscbench.models.base import ModelSpecError
    from vscbench.report.tables import print_report
    from vscbench.workflows.quickstart import quickstart

    say = (
        (lambda text: err_console.print(text, highlight=False, markup=False))
        if not json_output
        else (lambda text: None)
    )
    try:
        result = quickstart(
            model=model, data=data, limit=limit, store_path=store, judge=judge, run_name=run, html=out,
            max_tokens=max_tokens_or_default(max_tokens), say=say, progress=experiment_progress(quiet=json_output), preset=preset,
        )  # fmt: skip
    except FetchError as exc:
        fail(f"{exc}. Without the network, `vscbench demo` runs the whole pipeline on a built-in example set")
    except (DatasetError, ModelSpecError, ExperimentError, FileNotFoundError) as exc:
        fail(str(exc))
    if json_output:
        print_json({"run": result.run, "judge": result.judge, "store": str(result.store), **result.report.to_dict()})
        return
    print_report(result.report, console=console, sections=("by_subset", "by_variant"))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(
        f"\nrun {result.run} in {result.store}, judged by {result.judge}" + (f"; report: {result.html}" if result.html else ""),
        highlight=False, markup=False,
    )  # fmt: skip
    console.print(
        f"next: vscbench score --run {result.run} --store {result.store}   |   "
        f"vscbench report --run {result.run} --store {result.store}",
        highlight=False, markup=False,
    )  # fmt: skip
