"""`vscbench import-inspect` and `vscbench export-inspect`: Inspect AI logs in and out of the store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, open_store, print_json
from vscbench.locations import DEFAULT_STORE
from vscbench.safe_text import printable

PANEL = "Inspect AI"
NEEDS_INSPECT = "this command needs Inspect AI: pip install 'vscbench[inspect]'"


def _inspect_module(name: str):
    import importlib

    try:
        return importlib.import_module(f"vscbench.inspect.{name}")
    except ImportError as exc:
        if "inspect_ai" in str(exc) or "Inspect AI" in str(exc):
            fail(NEEDS_INSPECT)
        raise


@app.command("import-inspect", rich_help_panel=PANEL)
def import_inspect(
    logs: list[Path] = typer.Argument(..., help="Inspect log files (.eval or .json), e.g. logs/*.eval."),
    run: str | None = typer.Option(
        None, "--run", "-r", help="Run name (one log only; default inspect-MODEL-TASK-EVALID)."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Release folder or export holding the samples, for logs whose samples carry no vscbench record.",
    ),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store to add the runs to."),
    json_output: bool = typer.Option(False, "--json", help="Print the import summaries as JSON."),
) -> None:
    """Store Inspect evaluations as runs: answers, verdicts, model and settings.

    Each log becomes a run (each epoch of it, with -epochN after the first), so score, report,
    tradeoff and compare work on it. Importing a log again changes nothing.

    Example: [bold]vscbench import-inspect logs/*.eval && vscbench score --run inspect-gpt-4o-mini-all-Kd3s9a2B[/bold]
    """
    importer = _inspect_module("log_import")
    from vscbench.store import RunConflictError, Store

    if run and len(logs) > 1:
        fail(f"--run names one run, but {len(logs)} logs were given; import them one at a time or drop --run")
    samples = None
    if data is not None:
        from vscbench.benchmarks.findings import DatasetError
        from vscbench.benchmarks.samples import load_samples

        try:
            samples = load_samples(data, warn=False).samples
        except DatasetError as exc:
            fail(str(exc))
    summaries = []
    with Store(store_path) as store:
        for log in logs:
            try:
                summaries.extend(importer.import_log(store, log, run=run, data=samples))
            except (importer.LogImportError, RunConflictError) as exc:
                fail(str(exc))
    if json_output:
        print_json([s.to_dict() for s in summaries])
        return
    table = Table(title=Text(printable(f"Imported into {store_path}")))
    for column in ("run", "model", "task", "samples", "outcomes", "verdicts"):
        table.add_column(column)
    for s in summaries:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items()))
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(s.verdicts.items())) or "none (run `vscbench judge`)"
        table.add_row(
            *(Text(printable(cell)) for cell in (s.run, s.model, s.task, str(s.samples), outcomes, verdicts))
        )  # never markup
    console.print(table)


@app.command("export-inspect", rich_help_panel=PANEL)
def export_inspect(
    run: str = typer.Option(..., "--run", "-r", help="Run to export."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        "-o",
        help="Log file to write, .eval or .json (default logs/TIME_vscbench-RUN_ID.eval, where `inspect view` looks).",
    ),
    judge: list[str] | None = typer.Option(
        None,
        "--judge",
        "-j",
        "-j",
        help="Judge whose verdicts become scores, as stored (repeatable; default: every judge of the run).",
    ),
    rule: str = typer.Option("paper", help="Scoring rule of the scores and metrics."),
    embed_images: bool = typer.Option(
        False, "--embed-images", help="Put the images in the log so the viewer shows them (larger file)."
    ),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store holding the run."),
) -> None:
    """Write a stored run as an Inspect log that `inspect view` opens.

    Samples carry the question, the answer, how the call ended and one score per judge; the
    log's results hold SRA_s, SRA_u, SRA_a and pair calibration.

    Example: [bold]vscbench export-inspect --run gpt4o-mini --embed-images && inspect view[/bold]
    """
    exporter = _inspect_module("log_export")
    from vscbench.judges.runs import RunNotFoundError

    store = open_store(store_path)
    try:
        path = exporter.export_run(store, run, out, judges=judge, rule=rule, embed_images=embed_images)
    except (RunNotFoundError, exporter.ExportError, ValueError) as exc:
        fail(str(exc))
    console.print(
        Text(printable(f"Inspect log written: {path}  (open it with `inspect view --log-dir {path.parent}`)"))
    )
