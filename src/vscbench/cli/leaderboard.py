"""`vscbench leaderboard`: models x benchmarks from the runs of a store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, open_store
from vscbench.locations import DEFAULT_STORE
from vscbench.safe_text import printable


@app.command("leaderboard", rich_help_panel="Pipeline")
def leaderboard_command(
    run: list[str] | None = typer.Option(
        None, "--run", "-r", help="Runs to put on the board (default: every run of the store)."
    ),
    judge: str | None = typer.Option(
        None, "--judge", "-j", help="Whose verdicts (default: each run's current offline judge, or its one judge)."
    ),
    rule: str = typer.Option("paper", help="Scoring rule: paper (default), lenient, strict."),
    failures: str = typer.Option("exclude", help="exclude or incorrect (failed, empty and unjudged answers)."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store holding the runs."),
    json_output: bool = typer.Option(False, "--json", help="Print the board as JSON."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write it as Markdown (.md) or JSON (.json)."),
) -> None:
    """A cross-benchmark leaderboard: one row per model (and method), one column per benchmark.

    Each column shows the benchmark's headline (SRA_a where it has safe and unsafe queries,
    SRA_s or SRA_u where it has one kind) with its interval; rows are ranked by their mean
    headline, and the notes say which judge made the cells and which runs are incomplete.

    Example: [bold]vscbench leaderboard --store vscbench-runs/store.sqlite[/bold]
    """
    from vscbench.judges.runs import RunNotFoundError, VerdictsNotFoundError
    from vscbench.report.leaderboard import store_leaderboard, to_json, to_markdown, to_rich

    store = open_store(store_path)
    try:
        board = store_leaderboard(store, run, judge, rule, failures)
    except (RunNotFoundError, VerdictsNotFoundError, ValueError) as exc:
        fail(str(exc))
    if not board.cells:
        fail(f"no judged safety run in {store_path}; judge runs first with `vscbench judge --run NAME`")
    if out is not None:
        if out.suffix.lower() not in (".md", ".json"):
            fail(f"--out {out}: use a .md or .json file name")
        if not out.parent.is_dir():
            fail(f"--out {out}: the folder {out.parent} does not exist")
        out.write_text(to_markdown(board) if out.suffix.lower() == ".md" else to_json(board), encoding="utf-8")
    if json_output:
        typer.echo(to_json(board))
        return
    console.print(to_rich(board))
    for note in board.notes():
        console.print(Text(printable(note), style="dim"))
