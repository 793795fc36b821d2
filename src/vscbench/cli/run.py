"""`vscbench run` (ask models the benchmark) and `vscbench runs list|show|export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from vscbench.cli.app import app
from vscbench.cli.common import console, err_console, fail, open_store, print_json
from vscbench.locations import DEFAULT_STORE

runs_app = typer.Typer(
    help="Stored runs: list them, show one, export one to JSONL or CSV.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(runs_app, name="runs", rich_help_panel="Pipeline")


def _load_samples(data: Path, subset: str) -> list:
    """Samples from a release folder or an exported file, with a one-line note on data defects."""
    from vscbench.benchmarks.findings import DatasetError

    try:
        try:
            from vscbench.benchmarks.samples import load_samples
        except ImportError:
            from vscbench.benchmarks.vscbench import load_vscbench

            wanted = ("image_centric", "text_centric") if subset == "all" else (subset,)
            loaded = load_vscbench(data, subsets=wanted, warn=False)
        else:
            loaded = load_samples(data, subset=subset, warn=False)
    except DatasetError as exc:
        fail(str(exc))
    report = getattr(loaded, "report", None)
    if report is not None and (report.findings or report.unusable):
        err_console.print(f"data: {report.summary()} (details: `vscbench data check {data}`)", highlight=False)
    return loaded.samples


@app.command("run", rich_help_panel="Pipeline")
def run(
    data: Path = typer.Option(..., "--data", help="Release folder, or a .jsonl/.parquet export of samples."),
    models: list[str] = typer.Option(..., "--model", help="Model spec, repeatable: openai:gpt-4o-mini, openai:NAME@URL, scripted:keyword, hf:PATH."),
    method_specs: Optional[list[str]] = typer.Option(None, "--method", help="Calibration method, repeatable (one run per model x method): cot, safety-prompt[:file=PATH], few-shot:K[,seed=N,scope=category|subset], iar:layer=14,strength=1.5,vector=FILE (hf: only); compose with '+'."),
    base_url: Optional[list[str]] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1. Repeat it for replicas of one model: a pool (same as openai:NAME@URL1,URL2), keyed as MODEL@pool, without its URLs."),
    subset: str = typer.Option("all", help="image_centric, text_centric or all."),
    variants: Optional[list[str]] = typer.Option(None, "--variant", help="Only these variants (repeatable): slot_0, text, typography, ..."),
    categories: Optional[list[str]] = typer.Option(None, "--category", help="Only these categories (repeatable)."),
    limit: Optional[int] = typer.Option(None, help="Ask a stratified sample of N: equal share per subset and label, chosen by --seed."),
    concurrency: int = typer.Option(8, help="Calls in flight at once (per endpoint for a pool of servers)."),
    concurrency_per_endpoint: Optional[int] = typer.Option(None, "--concurrency-per-endpoint", help="Pool of servers: calls in flight per endpoint (default --concurrency); the total is this x endpoints."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs and responses."),
    run_name: Optional[str] = typer.Option(None, "--run", help="Run name (default: the model name; with several models, NAME-MODEL)."),
    max_tokens: int = typer.Option(512, help="Most tokens per answer."),
    temperature: float = typer.Option(0.0, help="Sampling temperature."),
    top_p: Optional[float] = typer.Option(None, help="Nucleus sampling (left to the server when unset)."),
    seed: int = typer.Option(0, help="Generation seed, and the seed of the --limit sample."),
    system_prompt: Optional[str] = typer.Option(None, help="System prompt sent before every query."),
    max_image_side: int = typer.Option(1024, help="Images are downscaled so their longer side is at most this."),
    timeout: float = typer.Option(120.0, help="Seconds per HTTP attempt (API backends)."),
    max_retries: int = typer.Option(4, help="Retries per call, by the provider SDK (API backends)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say how many calls would be sent and how many are cached."),
    json_output: bool = typer.Option(False, "--json", help="Print the summaries as JSON on stdout."),
    use_ray: bool = typer.Option(False, "--ray", help="Generate on Ray: --replicas actors each load the model (needs the ray extra: pip install vscbench\\[ray])."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join: auto, ray://HEAD:10001 (default: start a local one)."),
    replicas: int = typer.Option(2, "--replicas", help="With --ray: model replicas (actors)."),
    gpus_per_replica: float = typer.Option(0.0, "--gpus-per-replica", help="With --ray: GPUs each replica reserves (1 for a local model per GPU)."),
) -> None:
    """Ask one or more models every selected sample; answers go to the store as they arrive.

    Re-running the same command resumes: answered calls are never sent again, failed ones are.
    Changing a model, a generation setting or the method makes new calls (a response's key covers
    them). With --method, few-shot demonstrations are drawn from the loaded data and never
    evaluated; run names get the method appended.

    Example: [bold]vscbench run --data ./vscbench-data --model openai:gpt-4o-mini --limit 200[/bold]

    Example: [bold]vscbench run --data ./vscbench-data --model hf:./llava-1.5-7b-hf --method none --method iar:layer=14,strength=1.5,vector=iar.safetensors[/bold]

    Example (3 vLLM replicas): [bold]vscbench run --data ./vscbench-data --model openai:Qwen/Qwen2-VL-7B-Instruct --base-url http://gpu1:8000/v1 --base-url http://gpu2:8000/v1 --base-url http://gpu3:8000/v1[/bold]

    Example (Ray, 4 GPUs): [bold]vscbench run --data ./vscbench-data --model hf:./llava-1.5-7b-hf --ray --ray-address auto --replicas 4 --gpus-per-replica 1[/bold]
    """
    from vscbench.methods.plan import MethodSpecError, parse_method
    from vscbench.models.base import ModelSpec, ModelSpecError, load_model
    from vscbench.requests import select_samples
    from vscbench.runner import (
        default_run_name,
        free_run_name,
        plan_run,
        run_samples_sync,
    )
    from vscbench.schema import GenerationConfig, RunSpec
    from vscbench.store import RunConflictError, Store

    if subset not in ("all", "image_centric", "text_centric"):
        fail(f"--subset {subset!r} is not one of image_centric, text_centric, all")
    try:
        specs = [ModelSpec.parse(spec, ",".join(base_url) if base_url else None) for spec in models]
    except ModelSpecError as exc:
        fail(str(exc))
    config = GenerationConfig(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed,
                              system_prompt=system_prompt, max_image_side=max_image_side)  # fmt: skip
    try:
        methods = [parse_method(text) for text in (method_specs or ["none"])]
        for method in methods:
            for spec in specs:
                method.check_backend(spec.provider, str(spec))
    except MethodSpecError as exc:
        fail(f"--method: {exc}")
    pool = _load_samples(data, subset)
    selected = select_samples(pool, subset, variants, categories, limit, seed)
    if not selected:
        fail(f"no sample of {data} matches --subset {subset} --variant {variants or 'any'} --category {categories or 'any'}")
    evaluated: list[list] = []
    for method in methods:
        try:
            evaluated.append(method.select(selected, pool))
        except MethodSpecError as exc:
            fail(f"--method {method.spec}: {exc}")
    summaries: list[dict[str, Any]] = []
    local_models: dict[str, Any] = {}
    with Store(store_path) as store:
        for spec, (method, samples) in ((s, m) for s in specs for m in zip(methods, evaluated)):
            try:
                _resolve_layer_offline(method, spec)
            except MethodSpecError as exc:
                fail(f"--method {method.spec}: {exc}")
            suffix = "" if method.canonical == "none" else f"-{method.label}"
            if run_name:
                name = run_name if len(specs) == 1 else f"{run_name}-{default_run_name(str(spec))}"
                name = name + (suffix if len(methods) > 1 else "")
            else:  # an automatic name never collides with a run of other settings
                name = free_run_name(store, default_run_name(str(spec)) + suffix, spec.cache_spec, config,
                                     method.canonical)  # fmt: skip
            if dry_run:
                try:
                    transform = method.transform(samples)
                    plan = plan_run(spec.cache_spec, samples, store, config, transform=transform)
                except MethodSpecError as exc:
                    fail(f"--method {method.spec}: {exc}")
                except OSError as exc:
                    fail(f"an image could not be read: {exc}. Run `vscbench data check {data}`.")
                summaries.append({"run": name, "model": str(spec), "method": method.canonical, "samples": len(samples),
                                  "unique": plan.unique, "cached": plan.cached, "would_send": len(plan.todo),
                                  "demo_ids": method.demo_ids})  # fmt: skip
                continue
            options: dict[str, Any] = {}
            if spec.provider == "openai":
                options = {"timeout": timeout, "max_retries": max_retries}
            if use_ray and method.iar is not None:
                fail(f"--method {method.spec}: --ray does not run steering (iar) yet; run it without --ray")
            try:  # a local model is loaded once for all its methods; API clients are cheap and per run
                model = spec if use_ray else (local_models.get(str(spec)) or load_model(spec, **options))
            except (ModelSpecError, OSError) as exc:
                fail(str(exc))
            if spec.provider == "hf" and not use_ray:
                local_models[str(spec)] = model
            try:
                if not use_ray:
                    method.prepare_model(model)
                transform = method.transform(samples)
            except MethodSpecError as exc:
                fail(f"--method {method.spec}: {exc}")
            meta: dict[str, Any] = {"categories": categories} if categories else {}
            if method.canonical != "none":
                meta["method"] = method.to_dict()
            if spec.is_pool:
                meta["endpoints"] = list(spec.base_urls)
            run_spec = RunSpec(name=name, model=spec.cache_spec, data=str(data), subset=subset, variants=variants,
                               config=config, limit=limit, meta=meta)  # fmt: skip
            deadline = timeout * (max_retries + 1) + 60 if spec.provider == "openai" else None
            runner, in_flight = run_samples_sync, concurrency
            if spec.is_pool:  # each failover try may take one SDK retry of its own
                in_flight = (concurrency_per_endpoint or concurrency) * len(spec.base_urls)
                deadline = 2 * timeout * (max_retries + 1) + 60
            if use_ray:
                runner = _ray_runner(ray_address, replicas, gpus_per_replica, options)
            try:
                summary = _run_with_progress(model, samples, store, name, config, in_flight, deadline, run_spec,
                                             quiet=json_output, runner=runner, transform=transform)  # fmt: skip
            except RunConflictError as exc:
                fail(str(exc))
            except OSError as exc:
                fail(f"an image could not be read: {exc}. Run `vscbench data check {data}`.")
            except (ImportError, TimeoutError, RuntimeError, ModelSpecError) as exc:
                if not use_ray:
                    raise
                fail(f"--ray: {exc}")
            finally:
                if not use_ray:
                    method.release_model(model)
            summaries.append({**summary.to_dict(), "method": method.canonical})
    if json_output:
        print_json(summaries)
    elif dry_run:
        _print_table("Dry run: nothing was sent", summaries, ("run", "method", "samples", "unique", "cached", "would_send"))
    else:
        for summary in summaries:
            summary["tokens in/out"] = f"{summary['prompt_tokens']}/{summary['completion_tokens']}"
            summary["seconds"] = f"{summary['elapsed_s']:.1f}"
        _print_table("Run summary", summaries,
                     ("run", "method", "samples", "sent", "cached", "ok", "blocked", "error", "seconds", "tokens in/out"))  # fmt: skip
        for summary in summaries:
            for reason, count in summary["top_errors"]:
                err_console.print(f"[red]{summary['run']}[/red]: {count} x {reason}", highlight=False)
        if any(s["error"] for s in summaries):
            err_console.print("Failed calls are stored as errors and are retried when you run the same command again.")


def _resolve_layer_offline(method, spec) -> None:
    """For --dry-run: resolve a fractional iar layer from the checkpoint's config, not its weights."""
    if method.iar is None or not method.iar.depends_on_model:
        return
    from transformers import AutoConfig

    from vscbench.methods.plan import MethodSpecError

    try:
        config = AutoConfig.from_pretrained(spec.name)
    except (OSError, ValueError) as exc:
        raise MethodSpecError(f"cannot read the config of {spec.name} to resolve the iar layer: {exc}") from None
    method.resolve_layer(int(config.get_text_config().num_hidden_layers))


def _ray_runner(address: Optional[str], replicas: int, gpus_per_replica: float, model_options: dict[str, Any]):
    """A runner with run_samples_sync's call shape that generates on Ray replicas instead."""
    try:
        from vscbench.distributed.ray import run_samples_ray
    except ImportError as exc:  # pragma: no cover - only without the extra
        fail(f"--ray needs Ray: pip install 'vscbench[ray]' ({exc})")
    resources = {"num_cpus": 1, **({"num_gpus": gpus_per_replica} if gpus_per_replica else {})}

    def runner(model_spec, samples, store, *, concurrency, **options):
        return run_samples_ray(model_spec, samples, store, replicas, resources, address=address, model_options=model_options,
                               concurrency_per_replica=concurrency if model_spec.provider == "openai" else 1, **options)  # fmt: skip

    return runner


def _run_with_progress(model, samples, store, name, config, concurrency, deadline, run_spec, quiet, runner,
                       transform=None):  # fmt: skip
    """Run with a Rich progress bar (done/total, rate, ETA, errors) when stderr is a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    show = err_console.is_terminal and not quiet
    with Progress(
        TextColumn(f"[bold]{name}[/bold]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f}/s"), TimeRemainingColumn(),
        TextColumn("[green]{task.fields[ok]} ok[/green] [yellow]{task.fields[blocked]} blocked[/yellow] "
                   "[red]{task.fields[error]} errors[/red]"),
        console=err_console, disable=not show, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task(name, total=None, rate=0.0, ok=0, blocked=0, error=0)

        def on_progress(state) -> None:
            bar.update(task, total=state.to_send, completed=state.done, rate=state.rate, ok=state.ok,
                       blocked=state.blocked, error=state.error)  # fmt: skip

        return runner(model, samples, store, run_name=name, config=config, concurrency=concurrency,
                      request_timeout=deadline, progress=on_progress, spec=run_spec, transform=transform)  # fmt: skip


def _print_table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "model", "method") else "right", overflow="fold")
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in columns))
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
             "blocked": i.counts.get("blocked", 0), "error": i.counts.get("error", 0), "missing": i.missing,
             "updated": i.updated} for i in infos]  # fmt: skip
    if json_output:
        print_json(rows)
    elif not rows:
        console.print(f"{store_path} holds no run yet.")
    else:
        _print_table(f"Runs in {store_path}", rows, ("run", "model", "status", "items", "ok", "blocked", "error", "missing"))


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
        table.add_row(key, str(value))
    console.print(table)


@runs_app.command("export")
def runs_export(
    name: str = typer.Argument(..., help="Run name (see `vscbench runs list`)."),
    out: Path = typer.Option(..., "--out", help="Output file."),
    format: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store of runs."),
) -> None:
    """Export one row per sample of a run: the sample, its response (or ``missing``) and verdicts.

    Example: [bold]vscbench runs export gpt-4o-mini --out answers.csv --format csv[/bold]
    """
    if format not in ("jsonl", "csv"):
        fail(f"--format {format!r} is not supported; use jsonl or csv")
    with open_store(store_path) as store:
        try:
            count = store.export(name, out, format)
        except KeyError:
            fail(f"no run named {name!r} in {store_path}; see `vscbench runs list --store {store_path}`")
    console.print(f"wrote {count} rows to {out}")
