"""`vscbench utility` (POPE / ScienceQA runs) and `vscbench tradeoff` (safety against helpfulness).

Thin shells over :func:`vscbench.workflows.tradeoff.run_utility` and :func:`vscbench.workflows.tradeoff.tradeoff`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from vscbench.cli.app import app
from vscbench.cli.common import MAX_TOKENS_HELP, console, err_console, fail, max_tokens_or_default, print_json
from vscbench.engine.runner import default_run_name
from vscbench.locations import DEFAULT_STORE

BENCHMARK_NAMES = ("pope", "scienceqa")  # vscbench.benchmarks.utility.loader.BENCHMARKS, not imported: fast --help
UTILITY_FIGURES = ("pope_f1", "pope_accuracy", "scienceqa_accuracy")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _estimate(estimate: Any) -> str:
    """``82.5% [75.1–88.3]`` from a utility Estimate; the dash when undefined."""
    if estimate.value is None:
        return "—"
    if estimate.low is None:
        return _percent(estimate.value)
    return f"{_percent(estimate.value)} [{100 * estimate.low:.1f}–{100 * estimate.high:.1f}]"


@app.command("utility", rich_help_panel="Analysis")
def utility_command(
    benchmark: str = typer.Option(..., "--benchmark", "-b", help="pope or scienceqa."),
    model: str = typer.Option(
        ..., "--model", "-m", help="Model spec: openai:gpt-4o-mini, openai:NAME@URL, hf:PATH, scripted:keyword."
    ),
    method: str | None = typer.Option(
        None,
        "--method",
        help="Calibration method: cot, safety-prompt, iar:layer=L,strength=A,vector=FILE; compose with '+'.",
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", help="Ask a stratified sample of N (by category; for POPE also by gold answer)."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Local parquet file/folder, JSONL file or `save_to_disk` folder (default: the pinned hub copy).",
    ),
    dataset_id: str | None = typer.Option(
        None, "--dataset-id", help="Hub dataset id (default lmms-lab/POPE or lmms-lab/ScienceQA)."
    ),
    dataset_config: str | None = typer.Option(None, "--config", help="Hub dataset config name."),
    revision: str | None = typer.Option(None, "--revision", help="Hub commit to load (the default id is pinned)."),
    split: str | None = typer.Option(None, "--split", help="Dataset split (default test)."),
    text_only: bool = typer.Option(
        False, "--include-text-only", help="ScienceQA: also ask the questions that have no image."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Where dataset images are written (default ~/.cache/vscbench/utility_images)."
    ),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs and responses."),
    run_name: str | None = typer.Option(None, "--run", "-r", help="Run name (default MODEL-BENCHMARK[-METHOD])."),
    concurrency: int = typer.Option(8, help="Calls in flight at once."),
    max_tokens: int | None = typer.Option(None, help=MAX_TOKENS_HELP),
    seed: int = typer.Option(0, help="Generation seed, and the seed of the --limit sample."),
    timeout: float = typer.Option(120.0, help="Seconds per HTTP attempt (API backends)."),
    max_retries: int = typer.Option(4, help="Retries per call, by the provider SDK (API backends)."),
    device: str | None = typer.Option(None, help="hf: device (cpu, cuda, cuda:1, mps)."),
    examples: int = typer.Option(5, help="Unextractable replies shown."),
    json_output: bool = typer.Option(False, "--json", help="Print the run summary, data source and scores as JSON."),
) -> None:
    """Measure helpfulness on POPE (yes/no object questions) or ScienceQA (multiple choice).

    One experiment through the same runner and store as `vscbench run`: answers are cached, a
    re-run sends nothing, and the run records the dataset id, revision and split and the
    method. A reply from which no answer can be read counts as wrong and is shown.

    Example: [bold]vscbench utility --benchmark pope --model openai:gpt-4o-mini --method cot --limit 300[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.cli.progress import experiment_progress
    from vscbench.schema import GenerationConfig
    from vscbench.store import Store
    from vscbench.workflows.utility import run_utility

    if benchmark not in BENCHMARK_NAMES:
        fail(f"--benchmark {benchmark!r} is not one of {', '.join(BENCHMARK_NAMES)}")
    if data is not None and not data.exists():
        fail(f"--data {data} does not exist; pass a parquet/JSONL file or a save_to_disk folder, or leave "
             "--data out to load the pinned hub copy")  # fmt: skip
    with Store(store_path) as store:
        try:
            result = run_utility(
                benchmark, model, store, method=method, data=data, dataset_id=dataset_id, config=dataset_config,
                split=split, revision=revision, limit=limit, image_only=not text_only, cache_dir=cache_dir,
                seed=seed, run_name=run_name, generation=GenerationConfig(max_tokens=max_tokens_or_default(max_tokens), seed=seed),
                concurrency=concurrency, timeout=timeout, max_retries=max_retries,
                progress=experiment_progress(quiet=json_output), model_options={"device": device} if device else None,
            )  # fmt: skip
        except (DatasetError, ValueError) as exc:  # ValueError: MethodSpecError, ModelSpecError, ExperimentError
            fail(str(exc))
        except OSError as exc:
            fail(f"an image could not be read or written: {exc}")
    print_json(result.to_dict()) if json_output else print_utility(result, examples)


def print_utility(result: Any, examples: int = 5) -> None:
    """The run summary, the data source, the benchmark figures and unreadable replies."""
    summary, source = result.summary, result.source
    where = (f"{source.dataset_id}@{source.revision or 'main'} ({source.config or 'default'}, split {source.split})"
             if source.kind == "hub" else f"{source.location}" + (f" (split {source.split})" if source.split else ""))  # fmt: skip
    console.print(
        f"[bold]{escape(result.run)}[/bold]: {summary.samples} samples from {escape(where)}; "
        f"sent {summary.sent}, cached {summary.cached}, ok {summary.ok}, blocked {summary.blocked}, "
        f"error {summary.error}; method {escape(result.method.get('canonical') or 'none')}",
        highlight=False,
        soft_wrap=True,
    )
    if source.rows_rejected:
        err_console.print(f"{source.rows_rejected} dataset rows could not be used (see `load_utility(...).findings`).")
    report = result.report
    if report.pope is not None:
        table = Table(title="POPE")
        for column in ("category", "n", "accuracy", "precision", "recall", "F1", "yes-ratio"):
            table.add_column(column, justify="left" if column == "category" else "right")
        for name, scores in [("overall", report.pope.overall), *report.pope.groups.items()]:
            table.add_row(escape(name), str(scores.n), _estimate(scores.accuracy), _estimate(scores.precision),
                          _estimate(scores.recall), _estimate(scores.f1), _estimate(scores.yes_ratio))  # fmt: skip
        console.print(table)
    if report.scienceqa is not None:
        table = Table(title="ScienceQA")
        for column in ("subject", "n", "correct", "accuracy"):
            table.add_column(column, justify="left" if column == "subject" else "right")
        for name, scores in [("overall", report.scienceqa.overall), *report.scienceqa.groups.items()]:
            table.add_row(escape(name), str(scores.n), str(scores.correct), _estimate(scores.accuracy))
        console.print(table)
    unreadable = sum(1 for answer in report.answers if answer.status == "unextractable")
    console.print(f"unextractable replies (counted wrong): {unreadable}; no response (counted wrong): "
                  f"{len(report.no_response_ids)}", highlight=False)  # fmt: skip
    for example in report.unextractable_examples[:examples]:
        reply = " ".join(example["reply"].split())[:160]
        console.print(f"  {escape(example['sample_id'])}: {escape(repr(reply))}", highlight=False)
    if summary.error:
        err_console.print("Failed calls are stored as errors and are retried when you run the same command again.")


@app.command("tradeoff", rich_help_panel="Analysis")
def tradeoff_command(
    run: list[str] | None = typer.Option(
        None, "--run", "-r", help="A stored safety or utility run (repeat); grouped by model and method."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Run this experiment file first (as `vscbench run --config`), then measure utility."
    ),
    data: str | None = typer.Option(
        None, "--data", "-d", help="Run first: the safety data (release folder or samples file)."
    ),
    models: list[str] | None = typer.Option(None, "--model", "-m", help="Run first: model spec (repeatable)."),
    methods: list[str] | None = typer.Option(
        None, "--method", help="Run first: method (repeatable), e.g. none, cot, few-shot:2, iar:..."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Run first: stratified safety sample of N."),
    utility: list[str] | None = typer.Option(None, "--utility", help="Run first: pope or scienceqa (repeatable)."),
    utility_data: list[str] | None = typer.Option(
        None, "--utility-data", help="Local file of each --utility benchmark, in order (default: the pinned hub copy)."
    ),
    utility_limit: int | None = typer.Option(
        None, "--utility-limit", help="Stratified utility sample of N per benchmark."
    ),
    max_tokens: int | None = typer.Option(None, help="Run first: " + MAX_TOKENS_HELP.lower()),
    judge: str = typer.Option(
        "offline", "--judge", "-j", help="Judge for the safety runs (offline, keyword, or an LLM judge spec)."
    ),
    baseline: str = typer.Option(
        "none", help="Method each model is compared against (default none: uncalibrated), or a run name."
    ),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store holding the runs."),
    rule: str = typer.Option("paper", help="SRA scoring rule: paper, lenient or strict."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw SRA_a against utility to this PNG file."),
    utility_figure: str = typer.Option(
        "auto", "--utility-figure", help="Y axis of --plot: pope_f1, pope_accuracy, scienceqa_accuracy, or auto."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """What calibration costs: safety (SRA) next to utility (POPE F1, ScienceQA) per model and method.

    Give stored runs (--run), or let it run them: the safety experiment (--config, or --data,
    --model and --method) and the same models and methods on each --utility benchmark. Each
    figure comes with its change against the model's uncalibrated run.

    Example: [bold]vscbench tradeoff --run llava --run llava-cot --run llava-pope --run llava-pope-cot --plot tradeoff.png[/bold]

    Example: [bold]vscbench tradeoff --data ./vscbench-data --model hf:./llava --method none --method cot --limit 200 --utility pope --utility-data pope.parquet[/bold]
    """
    from vscbench.experiment import ExperimentError
    from vscbench.judges.registry import JudgeSpecError

    if utility_figure not in ("auto", *UTILITY_FIGURES):
        fail(f"--utility-figure {utility_figure!r} is not one of auto, {', '.join(UTILITY_FIGURES)}")
    runs_first = config is not None or data is not None or models or utility
    if bool(run) == bool(runs_first):
        fail("give stored runs with --run, or what to run (--config, or --data, --model and --utility), not both")
    try:
        if run:
            table, notes = _stored_table(store_path, run, judge, baseline, rule), list[str]()
        else:
            table, notes = _run_table(config, data, models, methods, limit, max_tokens, utility or [], utility_data or [],
                                      utility_limit, judge, rule, store_path, baseline)  # fmt: skip
    except (ExperimentError, JudgeSpecError, ValueError, LookupError) as exc:
        fail(str(exc))
    if plot is not None:
        _plot(table, plot, utility_figure)
    if json_output:
        print_json(table.to_dict())
        return
    print_tradeoff(table)
    for note in notes:
        err_console.print(note, highlight=False, markup=False)
    if plot is not None:
        console.print(f"plot written: {plot}")


def _stored_table(store_path: Path, runs: list[str], judge: str, baseline: str, rule: str) -> Any:
    from vscbench.store import Store
    from vscbench.workflows.tradeoff import tradeoff

    if not store_path.is_file():
        fail(
            f"{store_path} does not exist; make runs with `vscbench run` and `vscbench utility --store {store_path}` first"
        )
    with Store(store_path) as store:
        return tradeoff(store, runs, judge=judge, baseline=baseline, rule=rule)


def _run_table(config: Path | None, data: str | None, models: list[str] | None, methods: list[str] | None,
               limit: int | None, max_tokens: int | None, utility: list[str], utility_data: list[str],
               utility_limit: int | None, judge: str, rule: str, store_path: Path, baseline: str) -> tuple[Any, list[str]]:  # fmt: skip
    """The safety experiment from the options, then :func:`vscbench.workflows.utility.run_tradeoff`."""
    from vscbench.cli.progress import experiment_progress
    from vscbench.experiment import Experiment, apply_preset
    from vscbench.workflows.utility import UtilityTarget, run_tradeoff

    if len(utility_data) > len(utility):
        fail(
            f"{len(utility_data)} --utility-data given for {len(utility)} --utility benchmark(s); give one per benchmark"
        )
    for name in utility:
        if name not in BENCHMARK_NAMES:
            fail(f"--utility {name!r} is not one of {', '.join(BENCHMARK_NAMES)}")
    settings: dict[str, Any] = {"judges": [judge], "rule": rule, "store": str(store_path)}
    settings.update(
        {k: v for k, v in {"data": data, "models": models, "methods": methods, "limit": limit}.items() if v}
    )
    if max_tokens is not None:
        settings["generation"] = {"max_tokens": max_tokens}
    experiment = apply_preset(Experiment.load(config, **settings) if config else Experiment.from_options(**settings))
    targets = [UtilityTarget(name, utility_data[i] if i < len(utility_data) else None, utility_limit)
               for i, name in enumerate(utility)]  # fmt: skip
    result = run_tradeoff(experiment, targets, baseline=baseline, progress=experiment_progress())
    return result.table, result.notes


def _plot(table: Any, path: Path, utility_figure: str) -> None:
    from vscbench.report.plots import plot_tradeoff

    if utility_figure == "auto":
        utility_figure = max(UTILITY_FIGURES, key=lambda figure: len(table.points(figure)))
    points = table.points(utility_figure)
    if not points:
        fail(
            f"nothing to plot: no (model, method) has both SRA_a and {utility_figure}; give safety and utility runs of the same model and method"
        )
    label = {"pope_f1": "POPE F1", "pope_accuracy": "POPE accuracy", "scienceqa_accuracy": "ScienceQA accuracy"}[
        utility_figure
    ]
    plot_tradeoff(points, path, utility_label=label)


_IAR = re.compile(r"iar:layer=(\d+),strength=([-\d.e]+),vector=\w+,positions=(\w+)(?:,gate=(\w+))?")


def short_method(canonical: str) -> str:
    """``iar:layer=2,strength=4.0,vector=…,positions=last,gate=condition`` -> ``iar L2 x4 condition``
    (the full spec is in ``--json``); few-shot loses its default options."""

    def iar(match: re.Match[str]) -> str:
        text = f"iar L{match.group(1)} x{float(match.group(2)):g}"
        return (
            text
            + ("" if match.group(3) == "last" else f" {match.group(3)}")
            + (f" {match.group(4)}" if match.group(4) else "")
        )

    return _IAR.sub(iar, canonical).replace(",seed=0,scope=category", "")


def print_tradeoff(table: Any) -> None:
    """One row per (model, method); each figure with its change in points against the baseline."""
    headers = {"sra_s": "SRA_s", "sra_u": "SRA_u", "sra_a": "SRA_a", "pope_f1": "POPE F1",
               "pope_accuracy": "POPE acc", "scienceqa_accuracy": "SQA acc"}  # fmt: skip
    shown = [m for m in headers if any(row.values.get(m) is not None for row in table.rows)]
    rich_table = Table(
        title=f"Safety-utility trade-off (judge {escape(table.judge)}, baseline method {escape(table.baseline_method)})",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    rich_table.add_column("model", overflow="fold", min_width=8)
    rich_table.add_column("method", overflow="fold", min_width=10)
    for metric in shown:
        rich_table.add_column(headers[metric], justify="right", no_wrap=True)
    for row in table.rows:
        cells = []
        for metric in shown:
            cell = _percent(row.values.get(metric))
            delta = row.deltas.get(metric) if row.baseline else None
            if delta is not None:
                colour = "green" if delta > 0 else "red" if delta < 0 else "dim"
                cell += f"\n[{colour}]({100 * delta:+.1f})[/{colour}]"
            cells.append(cell)
        rich_table.add_row(escape(default_run_name(row.model)), escape(short_method(row.method)), *cells)
    console.print(rich_table)
    missing = [r for r in table.rows if r.baseline is None and r.method != table.baseline_method]
    for row in missing:
        err_console.print(f"{row.model} has no {table.baseline_method!r} run among those given: no change shown for {row.method}",
                          highlight=False, markup=False)  # fmt: skip
    console.print("Changes in percentage points against the baseline method; unreadable utility replies count as wrong.",
                  highlight=False)  # fmt: skip
    print_utility_cost(table)


def print_utility_cost(table: Any) -> None:
    """Per (model, method): utility accuracy, its paired change against the baseline with interval
    and p-value, whether that makes the method free, and whether it is on the Pareto front."""
    rows = [row for row in table.rows if row.utility_accuracy is not None]
    if not rows:
        return
    rich_table = Table(title="Calibration without utility loss", box=box.SIMPLE_HEAD, show_edge=False,
                       collapse_padding=True)  # fmt: skip
    for column in ("model", "method", "utility", "change [95% CI]", "verdict", "front"):
        rich_table.add_column(column, justify="left" if column in ("model", "method") else "right", overflow="fold")
    for row in rows:
        change = row.utility_change
        shown = "—"
        if change is not None and change.value is not None and change.ci is not None:
            shown = f"{100 * change.value:+.1f} [{100 * change.ci[0]:+.1f}, {100 * change.ci[1]:+.1f}]"
        rich_table.add_row(escape(default_run_name(row.model)), escape(short_method(row.method)),
                           _percent(row.utility_accuracy), shown, row.utility_verdict or ("baseline" if row.baseline is None
                           else "—"), "yes" if row.pareto else "no" if row.pareto is False else "—")  # fmt: skip
    console.print(rich_table)
    console.print("utility: POPE and ScienceQA answers pooled; change paired on the samples both runs answered "
                  "(bootstrap); free: the change's interval includes 0; front: on the Pareto front of "
                  "(SRA_a, utility) among the model's methods.", highlight=False)  # fmt: skip
