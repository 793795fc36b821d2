"""`vscbench runs list|show|export`: what the store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, open_store, print_json, writable_output
from vscbench.cli.prices import PRICES_HELP, use_price_file
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


def _usd(value: float | None) -> str:
    return "price unknown" if value is None else f"${value:.4f}"


@runs_app.command("list")
def runs_list(
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    prices: Path | None = typer.Option(None, "--prices", help=PRICES_HELP),
) -> None:
    """List the runs of a store with their outcome counts and what they cost: the run's answers
    and its judges' calls, at the rate each call was billed (batch calls at the batch discount).

    With --json each run has cost_usd, input_tokens and output_tokens (answers plus judges),
    and the parts apart. A model the price table does not know shows "price unknown".

    Example: [bold]vscbench runs list --store ./vscbench-runs/store.sqlite[/bold]
    """
    from vscbench.models.pricing import default_prices
    from vscbench.scoring.cost import run_costs

    use_price_file(prices)
    table = default_prices()
    with open_store(store_path) as store:
        infos = store.list_runs()
        costs = run_costs(store, prices=table)
    rows = []
    for i in infos:
        cost = costs[i.name]
        rows.append({"run": i.name, "model": i.spec.model, "method": i.spec.method, "status": i.status,
                     "items": i.items, "ok": i.counts.get("ok", 0), "blocked": i.counts.get("blocked", 0),
                     "error": i.counts.get("error", 0), "empty": i.counts.get("empty", 0), "missing": i.missing,
                     "updated": i.updated, **cost.total().to_dict(), "model_cost_usd": cost.answers.to_dict()["cost_usd"],
                     "judge_cost_usd": cost.judge().to_dict()["cost_usd"],
                     "judges": {key: line.to_dict() for key, line in cost.judges.items()}})  # fmt: skip
    if json_output:
        print_json(rows)
    elif not rows:
        console.print(f"{store_path} holds no run yet.")
    else:
        for row in rows:
            row["cost"] = _usd(row["model_cost_usd"])
            row["judge cost"] = _usd(row["judge_cost_usd"]) if row["judges"] else "-"
        print_table(
            f"Runs in {store_path} ({table.describe()})",
            rows,
            ("run", "model", "status", "items", "ok", "blocked", "error", "empty", "missing", "cost", "judge cost"),
        )  # fmt: skip


@runs_app.command("batches")
def runs_batches(
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs."),
    all_batches: bool = typer.Option(False, "--all", help="Also the batches already collected."),
    cancel: bool = typer.Option(
        False, "--cancel", help="Ask the providers to cancel every open batch (needs the API keys)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List the provider batches of a store that are still open (submitted by `vscbench run
    --execution batch`, answers not collected yet); --cancel cancels them.

    A cancelled batch stays open until a run collects the answers it had; running the same
    command again does that and asks the rest.

    Example: [bold]vscbench runs batches --cancel[/bold]
    """
    from vscbench.engine.batch_poll import cancel_open_batches, list_batches

    with open_store(store_path) as store:
        if cancel:
            done = cancel_open_batches(store)
            rows = [{**record.to_dict(), "cancel": what} for record, what in done]
        else:
            rows = [record.to_dict() for record in list_batches(store, open_only=not all_batches)]
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print(f"{store_path} holds no {'' if all_batches else 'open '}batch.")
        return
    for row in rows:
        counts = row["items"] if isinstance(row["items"], dict) else {}
        row["items"] = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    columns = ("id", "batch_id", "model", "purpose", "status", "provider_status", "requests", "items", "created")
    print_table(f"Batches in {store_path}", rows, (*columns, "cancel") if cancel else columns)


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
