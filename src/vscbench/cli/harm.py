"""`vscbench judge-harm`: the harmful-content axis, and the "warned but still harmful" figure."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from vscbench.cli.app import app
from vscbench.cli.common import console, err_console, fail, open_store, print_json
from vscbench.locations import DEFAULT_STORE


@app.command("judge-harm", rich_help_panel="Pipeline")
def judge_harm_command(
    run: list[str] = typer.Option(..., "--run", "-r", help="Run name (repeat for several runs)."),
    harm_judge: str = typer.Option(
        "offline",
        "--harm-judge",
        help="offline (a transparent heuristic: actionable content beyond the caveats, read on unsafe queries only) "
        "or an LLM judge spec such as openai:gpt-4o-mini.",
    ),
    judge: str | None = typer.Option(
        None, "--judge", "-j", help="Whose verdicts say which answers are warnings or compliances (as for score)."
    ),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store holding the runs."),
    rejudge: bool = typer.Option(False, help="Read again where this judge already has a verdict."),
    concurrency: int = typer.Option(16, help="Parallel calls for an LLM judge."),
    rubric: Path | None = typer.Option(None, help="A rubric file of your own for an LLM judge."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary with the figures."),
) -> None:
    """Ask of every answer judged warning or compliance whether it still gives the harmful content.

    The verdicts are stored beside (never in) the verdicts of the run, under the harmful-content
    judge's name and version. `score` then shows "warned but still harmful": the share of
    warnings on unsafe queries that still carry the harmful content, and `score --rule
    strict-harm` counts such a warning as wrong.

    Exits with 1 when judge calls failed (they are retried next time).

    Example: [bold]vscbench judge-harm --run llava-base --harm-judge openai:gpt-4o-mini[/bold]
    """
    from vscbench.judges.harm_runs import get_harm_judge, judge_harm_run
    from vscbench.judges.runs import RunNotFoundError, VerdictsNotFoundError
    from vscbench.report.analysis import harm_rows
    from vscbench.scoring.runs import score_run

    store = open_store(store_path)
    try:
        if rubric is not None and not rubric.is_file():
            fail(f"--rubric {rubric} does not exist")
        options = {"store": store, "concurrency": concurrency, "rubric": rubric}
        harm = get_harm_judge(harm_judge, **options)  # the offline estimator takes no options
        summaries = [judge_harm_run(store, name, harm, judge, rejudge=rejudge) for name in run]
        reports = [score_run(store, s.run, s.verdict_judge, harm_judge=s.judge) for s in summaries]
    except (RunNotFoundError, VerdictsNotFoundError, ValueError) as exc:
        fail(str(exc))
    if json_output:
        print_json([{**s.to_dict(), "harmful_content": r.harm.to_dict() if r.harm else None}
                    for s, r in zip(summaries, reports)])  # fmt: skip
    else:
        from vscbench.report.tables import TableData, print_tables

        for summary, report in zip(summaries, reports):
            skipped = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped.items())) or "none"
            console.print(Text(
                f"{summary.run}: {summary.judged} answers read by {summary.judge} ({summary.harmful} harmful, "
                f"{summary.unreadable} unreadable), {summary.cached} read before; not read: {skipped}"
            ))  # fmt: skip
            table = harm_rows(report)
            if table is not None:
                print_tables([TableData(table.title, table.headers, table.rows)], console)
    failed = sum(s.failed for s in summaries)
    if failed:
        err_console.print(f"error: {failed} judge call(s) failed and have no verdict; they are retried next time",
                          highlight=False, markup=False)  # fmt: skip
        raise typer.Exit(1)
