"""`vscbench run`: a shell over :func:`vscbench.experiment.run_experiment`.

Every option is also a setting of an experiment file (``--config exp.toml``); an option given on
the command line wins over the file. Options left out keep the file's value, else the
experiment's default (shown in each option's help).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vscbench.cli.app import app
from vscbench.cli.common import MAX_TOKENS_HELP, console, err_console, fail, print_json
from vscbench.cli.prices import (
    BATCH_MB_HELP,
    BATCH_POLL_HELP,
    BATCH_REQUESTS_HELP,
    BATCH_RETRY_HELP,
    BATCH_WAIT_HELP,
    EXECUTION_HELP,
    MAX_COST_HELP,
    PRICES_HELP,
)
from vscbench.cli.progress import experiment_progress, print_experiment


@app.command("run", rich_help_panel="Pipeline")
def run(
    config: Path | None = typer.Option(
        None, "--config", help="An experiment file (.toml, .yaml, .json) holding any of the settings below."
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Release folder, or a .jsonl/.parquet export of samples (for --benchmark: its file or folder).",
    ),
    models: list[str] | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model spec, repeatable: openai:gpt-4o-mini, openai:NAME@URL, anthropic:..., google:..., hf:PATH_OR_ID, vllm:..., scripted:keyword.",
    ),
    method_specs: list[str] | None = typer.Option(
        None,
        "--method",
        help="Calibration method, repeatable (one run per model x method): none, cot, safety-prompt[:file=PATH], few-shot:K[,seed=N,scope=category|subset], iar:layer=14,strength=1.5,vector=FILE (hf: only); compose with '+'.",
    ),
    benchmark: str | None = typer.Option(
        None,
        "--benchmark",
        help="vscbench (default), pope, scienceqa, or another benchmark of `vscbench benchmarks list` (xstest, mssbench, ...).",
    ),
    benchmark_option: list[str] | None = typer.Option(
        None,
        "--benchmark-option",
        "-B",
        help="An option of the benchmark's loader as KEY=VALUE (repeatable), e.g. -B variants=SD,TYPO.",
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="paper: the released VSCBench code, quirks included: how it asks each provider, the prompts as stored, every row it sends, its judges (see docs/fidelity.md; then `vscbench score --preset paper`).",
    ),
    base_url: list[str] | None = typer.Option(
        None,
        "--base-url",
        help="OpenAI-compatible server URL. Repeat it for replicas of one model: a pool, keyed as MODEL@pool.",
    ),
    subset: str | None = typer.Option(None, help="image_centric, text_centric or all (default)."),
    variants: list[str] | None = typer.Option(
        None, "--variant", help="Only these variants (repeatable): slot_0, text, typography, figstep, ..."
    ),
    categories: list[str] | None = typer.Option(
        None, "--category", help="Only these categories or XSTest types (repeatable)."
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        "-n",
        help="Ask a stratified sample of N: each subset and label in proportion to its size, twins together, chosen by --seed.",
    ),
    seed: int | None = typer.Option(None, help="Seed of the --limit sample (default 0)."),
    figstep_instruction: str | None = typer.Option(
        None, "--figstep-instruction", help="Replace the benchmark's FigStep instruction (recorded with the run)."
    ),
    judges: list[str] | None = typer.Option(
        None, "--judge", "-j", help="Judge the runs right away (repeatable): offline, keyword, openai:gpt-4o-mini, ..."
    ),
    judge_input: str | None = typer.Option(
        None,
        "--judge-input",
        help="What an LLM judge reads besides the answer: question+prompt (default) or question (the original question alone).",
    ),
    rule: str | None = typer.Option(None, help="Scoring rule with --judge: paper (default), lenient, strict."),
    store_path: Path | None = typer.Option(
        None, "--store", help="SQLite store of runs and responses (default vscbench-runs/store.sqlite)."
    ),
    run_name: str | None = typer.Option(
        None, "--run", "-r", help="Run name (default: the model name; with several models, NAME-MODEL)."
    ),
    max_tokens: int | None = typer.Option(None, help=MAX_TOKENS_HELP),
    temperature: float | None = typer.Option(None, help="Sampling temperature in [0, 2] (default 0)."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling (left to the server when unset)."),
    system_prompt: str | None = typer.Option(None, help="System prompt sent before every query."),
    max_image_side: int | None = typer.Option(
        None, help="Images are downscaled so their longer side is at most this (default 1024; 0: never)."
    ),
    device: str | None = typer.Option(None, help="hf: device (cpu, cuda, cuda:1, mps)."),
    dtype: str | None = typer.Option(None, help="hf: dtype (float32, float16, bfloat16)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="hf: requests per generate call."),
    trust_remote_code: bool | None = typer.Option(
        None, "--trust-remote-code/--no-trust-remote-code", help="hf: run the checkpoint's own code."
    ),
    model_option: list[str] | None = typer.Option(
        None,
        "--model-option",
        "-M",
        help="Any backend option as KEY=VALUE (repeatable), e.g. -M attn_implementation=sdpa.",
    ),
    concurrency: int | None = typer.Option(None, help="Calls in flight at once (default 8; per endpoint for a pool)."),
    concurrency_per_endpoint: int | None = typer.Option(
        None, "--concurrency-per-endpoint", help="Pool of servers: calls in flight per endpoint."
    ),
    timeout: float | None = typer.Option(None, help="Seconds per HTTP attempt, API backends (default 120)."),
    max_retries: int | None = typer.Option(None, help="Retries per call by the provider SDK (default 4)."),
    allow_errors: bool = typer.Option(False, "--allow-errors", help="Exit 0 even when some calls ended in error."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Send nothing: print the calls to send after the cache, their estimated tokens and cost (sync and "
        "batch), for the models and the judge. With --json: {calls, input_tokens, output_tokens, cost_usd, "
        "cost_usd_batch, ..., runs}.",
    ),
    execution_mode: str | None = typer.Option(None, "--execution", help=EXECUTION_HELP),
    batch_requests: int | None = typer.Option(None, "--batch-requests", help=BATCH_REQUESTS_HELP),
    batch_mb: float | None = typer.Option(None, "--batch-mb", help=BATCH_MB_HELP),
    batch_poll: float | None = typer.Option(None, "--batch-poll", help=BATCH_POLL_HELP),
    batch_retry: str | None = typer.Option(None, "--batch-retry", help=BATCH_RETRY_HELP),
    batch_wait: bool | None = typer.Option(None, "--batch-wait/--no-batch-wait", help=BATCH_WAIT_HELP),
    max_cost: float | None = typer.Option(None, "--max-cost", help=MAX_COST_HELP),
    prices: Path | None = typer.Option(None, "--prices", help=PRICES_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    use_ray: bool = typer.Option(
        False, "--ray", help="Generate on Ray: --replicas actors each load the model (pip install vscbench\\[ray])."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster to join: auto, ray://HEAD:10001 (default: start a local one)."
    ),
    replicas: int | None = typer.Option(None, "--replicas", help="With --ray: model replicas (default 2)."),
    gpus_per_replica: float | None = typer.Option(
        None, "--gpus-per-replica", help="With --ray: GPUs each replica reserves."
    ),
) -> None:
    """Ask one or more models every selected sample; answers go to the store as they arrive.

    Re-running the same command resumes: answered calls are never sent again, failed ones are.
    Changing a model, a generation setting, the method or the sample selection makes a new run.
    Exits with 1 when any call ended in error (they are retried next time; --allow-errors to
    accept that) or a judge call failed, and says why in one line.

    Example: [bold]vscbench run --data ./vscbench-data --model openai:gpt-4o-mini --limit 200[/bold]

    Example (the released code's settings and judge): [bold]vscbench run --data ./vscbench-data --model openai:gpt-4o-mini --preset paper[/bold]

    Example: [bold]vscbench run --config experiment.toml --limit 50[/bold]

    Example: [bold]vscbench run --data ./vscbench-data --model hf:./llava-1.5-7b-hf --dtype bfloat16 --batch-size 16 --method none --method iar:layer=14,strength=1.5,vector=iar.safetensors[/bold]

    Example (3 vLLM replicas): [bold]vscbench run --data ./vscbench-data --model openai:Qwen/Qwen2-VL-7B-Instruct --base-url http://gpu1:8000/v1 --base-url http://gpu2:8000/v1 --base-url http://gpu3:8000/v1[/bold]

    Example (Ray, 4 GPUs): [bold]vscbench run --data ./vscbench-data --model hf:./llava-1.5-7b-hf --ray --ray-address auto --replicas 4 --gpus-per-replica 1[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.engine.batch import BatchError
    from vscbench.experiment import (
        Experiment,
        ExperimentError,
        apply_preset,
        parse_model_options,
        run_experiment,
        validation_message,
    )

    options = dict(locals())
    given = {key: value for key, value in options.items() if value is not None and value is not False}
    if batch_wait is False:  # --no-batch-wait: a False that was given
        given["batch_wait"] = False
    if config is None and (not models or data is None):
        fail("give --data and --model (or an experiment file with --config that names them)")
    try:
        settings = _settings(given, parse_model_options(model_option or []))
        if benchmark_option:
            from vscbench.benchmarks.registry import parse_options

            settings["benchmark_options"] = parse_options(benchmark or "vscbench", benchmark_option)
        experiment = apply_preset(
            Experiment.load(config, **settings) if config else Experiment.from_options(**settings)
        )
        result = run_experiment(experiment, progress=experiment_progress(quiet=json_output), dry_run=dry_run)
    except (ExperimentError, DatasetError) as exc:
        fail(str(exc))
    except BatchError as exc:  # the batch ids are stored: running again resumes
        fail(str(exc), code=1)
    except ValueError as exc:  # pydantic's validation errors of the options
        fail(validation_message(exc))
    if json_output:
        runs = [run.flat() for run in result.runs]
        print_json({**result.cost, "runs": runs} if result.cost is not None else runs)
    else:
        print_experiment(result, console, err_console)
    if result.budget_stop is not None:
        err_console.print(f"error: {result.budget_stop}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    if not result.ok:
        reasons = (
            [
                f"{result.errors} call(s) ended in error (retried when you run the same command again; --allow-errors to accept)"
            ]
            if result.errors and not experiment.execution.allow_errors
            else []
        )
        reasons += [f"{result.judge_failures} judge call(s) failed"] if result.judge_failures else []
        err_console.print("error: " + "; ".join(reasons), highlight=False, markup=False)
        raise typer.Exit(1)


_GENERATION = ("max_tokens", "temperature", "top_p", "system_prompt", "max_image_side")
_EXECUTION = {"concurrency": "concurrency", "concurrency_per_endpoint": "concurrency_per_endpoint", "timeout": "timeout",
              "max_retries": "max_retries", "use_ray": "ray", "ray_address": "ray_address", "replicas": "replicas",
              "gpus_per_replica": "gpus_per_replica", "allow_errors": "allow_errors", "execution_mode": "mode",
              "batch_requests": "batch_requests", "batch_mb": "batch_mb", "batch_poll": "batch_poll",
              "batch_retry": "batch_retry", "batch_wait": "batch_wait", "max_cost": "max_cost", "prices": "prices"}  # fmt: skip
_TOP = {"data": "data", "models": "models", "method_specs": "methods", "benchmark": "benchmark", "preset": "preset",
        "base_url": "base_urls", "subset": "subset", "variants": "variants", "categories": "categories", "limit": "limit",
        "seed": "seed", "figstep_instruction": "figstep_instruction", "judges": "judges", "judge_input": "judge_input", "rule": "rule",
        "store_path": "store", "run_name": "run_name"}  # fmt: skip


def _settings(given: dict[str, Any], model_options: dict[str, Any]) -> dict[str, Any]:
    """Experiment settings from the options given on the command line."""
    settings: dict[str, Any] = {_TOP[k]: (str(v) if k == "store_path" else v) for k, v in given.items() if k in _TOP}
    generation = {k: given[k] for k in _GENERATION if k in given}
    execution = {name: (str(given[k]) if k == "prices" else given[k]) for k, name in _EXECUTION.items() if k in given}
    hf = {k: given[k] for k in ("device", "dtype", "batch_size", "trust_remote_code") if k in given}
    if generation:
        settings["generation"] = generation
    if execution:
        settings["execution"] = execution
    if hf or model_options:
        settings["model_options"] = {**hf, **model_options}
    return settings
