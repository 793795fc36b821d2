"""`vscbench runs list|show|export`: what the store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, open_store, print_json, writable_output
from vscbench.locations import DEFAULT_STORE, OutputError
from vscbench.safe_text import printable

runs_app = typer.Typer(
    help="Stored runs: list them, show one, export one to JSONL or CSV.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(runs_app, name="runs", rich_help_panel="Pipeline")


def print_table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    table = Table(title=Text(printable(title)))
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "model", "method") else "right", overflow="fold")
    for row in rows:
        table.add_row(
            *(Text(printable(row.get(column, ""))) for column in columns)
        )  # run names and models are text: no markup, no terminal escapes
    console.print(table)


@runs_app.command("list")
def runs_list(
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List the runs of a store with their outcome counts.

    Example: [bold]vscbench runs list --store ./vscbench-runs/store.sqlite[/bold]
    """
    with open_store(store_path) as store:
        infos = store.list_runs()
    rows = [{"run": i.name, "model": i.spec.model, "status": i.status, "items": i.items, "ok": i.counts.get("ok", 0),
             "blocked": i.counts.get("blocked", 0), "error": i.counts.get("error", 0), "empty": i.counts.get("empty", 0), "missing": i.missing,
             "updated": i.updated} for i in infos]  # fmt: skip
    if json_output:
        print_json(rows)
    elif not rows:
        console.print(f"{store_path} holds no run yet.")
    else:
        print_table(
            f"Runs in {store_path}",
            rows,
            ("run", "model", "status", "items", "ok", "blocked", "error", "empty", "missing"),
        )


@runs_app.command("show")
def runs_show(
    name: str = typer.Argument(..., help="Run name (see `vscbench runs list`)."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Show a run's settings and outcome counts.

    Example: [bold]vscbench runs show gpt-4o-mini[/bold]
    """
    with open_store(store_path) as store:
        info = store.run_info(name)
        if info is None:
            known = ", ".join(i.name for i in store.list_runs()) or "none"
            fail(f"no run named {name!r} in {store_path} (runs: {known})")
    payload = {"run": info.name, "status": info.status, "created": info.created, "updated": info.updated,
               "items": info.items, "counts": info.counts, "missing": info.missing,
               "spec": info.spec.model_dump(mode="json")}  # fmt: skip
    if json_output:
        print_json(payload)
        return
    table = Table(title=f"Run {info.name}", show_header=False)
    for key, value in payload.items():
        table.add_row(Text(key), Text(printable(value)))
    console.print(table)


@runs_app.command("export")
def runs_export(
    name: str = typer.Argument(..., help="Run name (see `vscbench runs list`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file."),
    format: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs."),
) -> None:
    """Export one row per sample of a run: the sample, its response (or ``missing``) and verdicts.

    Example: [bold]vscbench runs export gpt-4o-mini --out answers.csv --format csv[/bold]
    """
    if format not in ("jsonl", "csv"):
        fail(f"--format {format!r} is not supported; use jsonl or csv")
    writable_output(out)
    with open_store(store_path) as store:
        try:
            count = store.export(name, out, format)
        except KeyError:
            fail(f"no run named {name!r} in {store_path}; see `vscbench runs list --store {store_path}`")
        except OutputError as exc:  # a full disk: the previous file is untouched
            fail(str(exc), code=1)
    console.print(f"wrote {count} rows to {out}")
