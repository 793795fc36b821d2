"""Progress bars and summaries for experiments, shared by `run`, `quickstart` and `tradeoff`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vscbench.cli.common import err_console
from vscbench.safe_text import printable


def experiment_progress(quiet: bool = False) -> Callable[[str], Callable[[Any], None] | None] | None:
    """A progress factory for :func:`vscbench.experiment.run_experiment`: one bar per run (done/
    total, rate, ETA, outcomes), drawn on stderr when it is a terminal."""
    if quiet or not err_console.is_terminal:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    def factory(name: str) -> Callable[[Any], None]:
        bar: list[Any] = []

        def update(state: Any) -> None:
            if not bar:  # started on the first answer: a run with nothing to send draws nothing
                progress = Progress(
                    TextColumn("{task.fields[run]}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:.1f}/s"), TimeRemainingColumn(),
                    TextColumn("{task.fields[ok]} ok, {task.fields[blocked]} blocked, {task.fields[error]} errors, "
                               "{task.fields[empty]} empty"), TextColumn("{task.fields[note]}"),
                    console=err_console,
                )  # fmt: skip
                progress.start()
                bar.append(progress)
                bar.append(
                    progress.add_task(
                        "run", total=state.to_send, run=name, rate=0.0, ok=0, blocked=0, error=0, empty=0, note=""
                    )
                )
            progress, task = bar
            progress.update(task, completed=state.done, rate=state.rate, ok=state.ok, blocked=state.blocked,
                            error=state.error, empty=state.empty, note=printable(getattr(state, "note", None) or ""))  # fmt: skip
            if state.done >= state.to_send:
                progress.stop()

        return update

    return factory


def print_experiment(result: Any, console: Console, errors: Console) -> None:
    """The run summary table, the errors' reasons, and each run's headline scores."""
    if result.dry_run:
        print_dry_run(result, console)
        return
    rows = []
    for r in result.runs:
        s, held = r.summary, r.stored or {}
        # the run's answers, those from earlier runs included: a rerun from the cache is not "ok 0"
        rows.append({"run": r.run, "method": r.method, "samples": s.samples, "sent": s.sent, "cached": s.cached,
                     **{outcome: held.get(outcome, getattr(s, outcome)) for outcome in OUTCOMES},
                     "run cost": _usd((r.cost or {}).get("cost_usd"), r.cost is not None)})  # fmt: skip
    _table(console, "Run summary (ok ... empty: the run's answers, cached ones included)", rows,
           ("run", "method", "samples", "sent", "cached", *OUTCOMES, "run cost"))  # fmt: skip
    for r in result.runs:
        s = r.summary
        console.print(Text(printable(f"{r.run}: {s.sent} call(s) in {s.elapsed_s:.1f} s, tokens {s.prompt_tokens} "
                                     f"in / {s.completion_tokens} out")), style="dim")  # fmt: skip
    for note in result.notes:
        errors.print(Text(printable(note)))
    for r in result.runs:
        stopped = getattr(r.summary, "stopped", None)
        if stopped:  # a refused key or an unknown model: the run stopped sending
            errors.print(Text(printable(f"{r.run}: {stopped}", one_line=True), style="bold red"))
        for reason, count in r.summary.top_errors:  # reasons come from servers: shown, never obeyed
            errors.print(Text(printable(f"{r.run}: {count} x {reason}", one_line=True)))
        if r.score is not None and hasattr(r.score, "overall"):
            console.print(Text(printable(headline(r.run, r.score))))
            if r.score.warning():
                errors.print(Text(printable(f"{r.run}: WARNING: {r.score.warning()}"), style="yellow"))


def _usd(value: float | None, known: bool = True) -> str:
    if not known:
        return "-"
    return "price unknown" if value is None else f"${value:.4f}"


def print_dry_run(result: Any, console: Console) -> None:
    """Per run the calls to send after the cache and their estimate; the judge's; the total."""
    columns = ("run", "method", "samples", "cached", "calls", "tokens in", "tokens out", "cost sync", "cost batch")
    rows = [{"run": r.run, "method": r.method, "samples": r.summary["samples"], "cached": r.summary["cached"],
             "calls": r.summary["would_send"], "tokens in": r.summary["input_tokens"],
             "tokens out": r.summary["output_tokens"], "cost sync": _usd(r.summary["cost_usd"]),
             "cost batch": _usd(r.summary["cost_usd_batch"])} for r in result.runs]  # fmt: skip
    cost = result.cost or {}
    judge = cost.get("judge") or {}
    if judge.get("calls"):
        rows.append({"run": "judge", "method": "", "calls": judge["calls"], "tokens in": judge["input_tokens"],
                     "tokens out": judge["output_tokens"], "cost sync": _usd(judge["cost_usd"]),
                     "cost batch": _usd(judge["cost_usd_batch"])})  # fmt: skip
    if cost:
        rows.append({"run": "total", "calls": cost["calls"], "tokens in": cost["input_tokens"],
                     "tokens out": cost["output_tokens"], "cost sync": _usd(cost["cost_usd"]),
                     "cost batch": _usd(cost["cost_usd_batch"])})  # fmt: skip
    _table(console, "Dry run: nothing was sent", rows, columns)
    if cost:
        console.print(Text(
            f"upper bound (every answer max_tokens long): {cost['output_tokens_max']} tokens out, "
            f"{_usd(cost['cost_usd_max'])} sync, {_usd(cost['cost_usd_batch_max'])} batch"
        ))  # fmt: skip
        if cost.get("unpriced"):
            console.print(Text(f"price unknown for {', '.join(cost['unpriced'])}: add it with --prices FILE"))
        console.print(Text(printable("assumed: " + cost["assumptions"])), style="dim")


def headline(run: str, report: Any) -> str:
    """``run: SRA_s 61.2% SRA_u 88.0% SRA_a 74.6% (judge offline v3, rule paper)``."""
    from vscbench.report.tables import format_percent, judge_label

    overall = report.overall
    figures = " ".join(f"{name} {format_percent(getattr(overall, key))}"
                       for name, key in (("SRA_s", "sra_s"), ("SRA_u", "sra_u"), ("SRA_a", "sra_a")))  # fmt: skip
    return f"{run}: {figures} (judge {judge_label(report.provenance.get('judge'))}, rule {report.rule.name})"


#: The outcomes a run summary counts.
OUTCOMES = ("ok", "blocked", "error", "empty")


def _table(console: Console, title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """A table that fits 80 columns: a heading rule, no vertical borders."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    for column in columns:  # a header keeps its width; a long method spec folds under it
        table.add_column(column, justify="left" if column in ("run", "method") else "right", no_wrap=column == "run",
                         overflow="fold", min_width=len(column))  # fmt: skip
    for row in rows:
        table.add_row(*(Text(printable(row.get(column, ""))) for column in columns))
    console.print(table)
