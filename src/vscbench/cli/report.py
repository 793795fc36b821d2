"""`vscbench report`: a browsable, self-contained HTML report of stored runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from vscbench.cli.app import app
from vscbench.cli.common import console, err_console, fail, open_store, plain, writable_output
from vscbench.cli.evaluate import INTERVALS_HELP, RULE_HELP, STORE_HELP
from vscbench.cli.prices import PRICES_HELP, use_price_file
from vscbench.locations import DEFAULT_STORE, OutputError

JUDGE_HELP = (
    "Whose verdicts to show: a judge name or key (offline, offline@v3, openai:gpt-4o-mini). "
    "Default: the current offline judge, else the one judge of each run."
)


@contextmanager
def _stage_bars() -> Iterator[Callable[[str, int, int], None]]:
    """One progress bar per stage (loading runs, making thumbnails), on stderr when a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as bar:  # fmt: skip

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command("report", rich_help_panel="Pipeline")
def report_command(
    run: list[str] | None = typer.Option(None, "--run", "-r", help="Run name; repeat it for several runs."),
    all_runs: bool = typer.Option(False, "--all", help="Every run in the store (unjudged ones with a banner)."),
    out: Path = typer.Option(Path("vscbench-report.html"), "--out", "-o", help="HTML file to write."),
    judge: str | None = typer.Option(None, "--judge", "-j", help=JUDGE_HELP),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help=STORE_HELP),
    rule: str = typer.Option("paper", help=RULE_HELP),
    failures: str = typer.Option(
        "exclude", help="exclude: failures leave the denominators; incorrect: count as wrong."
    ),
    intervals: str = typer.Option("cluster", help=INTERVALS_HELP),
    thumbnails: bool = typer.Option(True, help="Embed a small thumbnail of each distinct image (shared by all runs)."),
    thumbnail_size: int = typer.Option(80, min=16, max=512, help="Longest side of a thumbnail, in pixels."),
    link_images: bool = typer.Option(True, help="Clicking a thumbnail opens the original image file from disk."),
    title: str | None = typer.Option(None, help="Page title (default: the run names)."),
    prices: Path | None = typer.Option(None, "--prices", help=PRICES_HELP),
) -> None:
    """Write one self-contained HTML file with every answer of every run named.

    The page has a leaderboard (SRA_s, SRA_u, SRA_a with 95% intervals, failure counts, judge
    and rule of each run), figures by category and variant, the samples of every run with
    filters, sorting and CSV export, safe/unsafe twins side by side, and run vs run. It opens
    from disk with no network; every answer is shown as text, never as markup.

    Example: [bold]vscbench report --run llava-base --run llava-cot --out report.html[/bold]
    or [bold]vscbench report --all --out everything.html[/bold]
    """
    from vscbench.judges.runs import RunNotFoundError, VerdictsNotFoundError
    from vscbench.report.build import write_store_report

    if all_runs == bool(run):
        fail("name the runs with --run NAME (repeat it), or pass --all for every run in the store; not both")
    writable_output(out)  # before any work, and no folder made up on the way
    use_price_file(prices)
    store = open_store(store_path)
    with _stage_bars() as progress:
        try:
            result = write_store_report(
                store, out, None if all_runs else run, judge, rule, failures, intervals,  # type: ignore[arg-type]
                thumbnails=thumbnails, thumbnail_side=thumbnail_size, link_images=link_images, title=title,
                progress=progress,
            )  # fmt: skip
        except (RunNotFoundError, VerdictsNotFoundError, ValueError) as exc:
            fail(str(exc))
        except OutputError as exc:  # a full disk: the previous report is untouched
            fail(str(exc), code=1)
    for note in result.notes:
        err_console.print(f"[yellow]note:[/yellow] {plain(note)}", highlight=False, soft_wrap=True)
    console.print(
        f"report written: {plain(str(result.path))} ({len(result.runs)} runs, {result.rows:,} answers, "
        f"{result.thumbnails:,} thumbnails, {result.size_bytes / 2**20:.1f} MiB, {result.seconds:.1f} s)",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
