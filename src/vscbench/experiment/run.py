"""An experiment as data, and the one function that runs it.

An :class:`Experiment` says everything a result depends on: the benchmark and its data, which
samples (subset, variants, categories, a stratified limit and its seed, the FigStep
instruction), the models, the methods, the generation settings, where the calls run (locally,
a pool of servers, Ray), the judges, the scoring rule and the store. It loads from a TOML or
YAML file (``vscbench run --config exp.toml``) and is stored with every run it makes, so any
figure can be re-created from the store alone (:meth:`Experiment.from_run`).

:func:`run_experiment` runs it: models x methods -> runs -> verdicts -> scores. The CLI's
``run`` and ``quickstart`` are shells over it; a notebook calls it the same way and gets the
same stored keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from vscbench.experiment.inputs import (
    ExperimentError,
    LoadedPool,
    check_access,
    check_model_options,
    check_selection_values,
    figstep_used,
    load_pool,
    parse_model_options,
    text_layers_from_config,
    without_credentials,
)
from vscbench.experiment.presets import apply_preset, generation_for
from vscbench.experiment.result import ExperimentResult, ProgressFactory, RunOutcome
from vscbench.experiment.spec import SUBSETS, Execution, Experiment, Judging, Scoring, Selection, validation_message
from vscbench.schema import GenerationConfig, Sample

__all__ = [
    "SUBSETS", "Execution", "Experiment", "ExperimentError", "ExperimentResult", "Judging", "LoadedPool", "RunOutcome",
    "Scoring", "Selection", "apply_preset", "check_model_options", "generation_for", "load_pool",
    "parse_model_options", "run_experiment", "validation_message",
]  # fmt: skip


def run_experiment(
    experiment: Experiment,
    progress: ProgressFactory | None = None,
    say: Callable[[str], None] | None = None,
    dry_run: bool = False,
    loaded: dict[str, Any] | None = None,
    pool: LoadedPool | None = None,
) -> ExperimentResult:
    """Run every model x method of ``experiment``, then judge and score the runs.

    ``loaded`` maps a model spec to a model already loaded (a steering sweep loads its local
    model once for the safety and the utility experiment); ``pool`` gives the samples instead
    of loading ``experiment.selection.data`` (a caller that loaded them with options of its own).

    With ``dry_run`` nothing is sent: each run says how many calls it would make. Raises
    :class:`ExperimentError` for anything that can be known to fail before a call is made
    (bad data, a method that does not fit a backend, an unknown model option, a selection that
    leaves nothing to evaluate); answers already received are in the store whatever happens.
    """
    from vscbench.engine.requests import select_samples
    from vscbench.methods.plan import MethodSpecError, parse_method
    from vscbench.models.base import ModelSpec, ModelSpecError
    from vscbench.store import Store

    say = say or (lambda _: None)
    urls = ",".join(experiment.execution.base_urls) if experiment.execution.base_urls else None
    try:
        specs = [ModelSpec.parse(model, urls) for model in experiment.models]
        methods = [parse_method(text) for text in experiment.methods]
        for method in methods:
            for spec in specs:
                method.check_backend(spec.provider, str(spec))
    except (ModelSpecError, MethodSpecError) as exc:
        raise ExperimentError(str(exc)) from None
    for spec in specs:
        check_model_options(spec.provider, experiment.execution.model_options)
    if not dry_run:  # a missing key, the models' or an LLM judge's, before anything is sent
        check_access(experiment.models, experiment.judging.judges, urls, experiment.execution.model_options,
                     experiment.judging.options)  # fmt: skip
    if experiment.execution.ray and any(method.iar for method in methods):
        raise ExperimentError("Ray runs do not steer (iar) yet; run steering without ray")
    pool = pool or load_pool(experiment.selection.benchmark, experiment.selection.data, experiment.selection.subset, experiment.selection.figstep_instruction,
                             experiment.selection.seed, experiment.selection.benchmark_options)  # fmt: skip
    check_selection_values(pool.samples, experiment.selection.variants, experiment.selection.categories,
                           experiment.selection.data)  # fmt: skip
    notes = [*experiment.notes, *([pool.note] if pool.note else [])]
    selected = select_samples(pool.samples, experiment.selection.subset, experiment.selection.variants, experiment.selection.categories,
                              experiment.selection.limit, experiment.selection.seed)  # fmt: skip
    if not selected:
        raise ExperimentError(
            f"no sample of {experiment.selection.data} matches subset {experiment.selection.subset}, variants {experiment.selection.variants or 'any'}, "
            f"categories {experiment.selection.categories or 'any'}"
        )
    evaluated: list[list[Sample]] = []
    for method in methods:
        try:
            chosen = method.select(selected, pool.samples)
        except MethodSpecError as exc:
            raise ExperimentError(f"method {method.spec}: {exc}") from None
        if not chosen:
            raise ExperimentError(
                f"method {method.spec} leaves no sample to evaluate once its demonstrations are held out"
            )
        if len(chosen) < len(selected):  # said before the run, not found out in the report
            held = (f"{method.spec}: {len(selected)} selected, {len(selected) - len(chosen)} held out (the rows its "
                    f"demonstrations come from), {len(chosen)} asked and scored")  # fmt: skip
            notes.append(held)
            say(held)
        evaluated.append(chosen)
    if experiment.selection.same_samples and len(evaluated) > 1:
        common = set.intersection(*({sample.id for sample in chosen} for chosen in evaluated))
        evaluated = [[sample for sample in chosen if sample.id in common] for chosen in evaluated]
        if not common:
            raise ExperimentError("no sample is left that every method evaluates (same_samples)")
    runs: list[RunOutcome] = []
    with Store(experiment.store) as store:
        local: dict[str, Any] = dict(loaded or {})
        try:
            for spec in specs:
                for method, samples in zip(methods, evaluated):
                    runs.append(_run_one(experiment, store, spec, method, samples, local, progress, say, dry_run,
                                         pool.placeholder))  # fmt: skip
        finally:
            for model in local.values():
                asyncio.run(model.aclose())
        if not dry_run:
            _judge_and_score(experiment, store, runs, say)
    return ExperimentResult(experiment, runs, notes, dry_run)


def run_name_for(experiment: Experiment, store: Any, spec: Any, method: Any, config: GenerationConfig,
                 selection: dict[str, Any]) -> str:  # fmt: skip
    """A given name (suffixed by model and method when several share it), or an automatic one
    that never collides with a run of other settings or another sample selection."""
    from vscbench.benchmarks.utility.loader import BENCHMARKS as UTILITY
    from vscbench.engine.runner import default_run_name, free_run_name

    suffix = "" if method.canonical == "none" else f"-{method.label}"
    if (
        experiment.selection.benchmark in UTILITY and not experiment.run_name
    ):  # gpt-4o-mini-pope, not the safety run's name
        suffix = f"-{experiment.selection.benchmark}{suffix}"
    if experiment.run_name:
        name = (
            experiment.run_name
            if len(experiment.models) == 1
            else f"{experiment.run_name}-{default_run_name(str(spec))}"
        )
        return name + (suffix if len(experiment.methods) > 1 else "")
    return free_run_name(
        store, default_run_name(str(spec)) + suffix, spec.cache_spec, config, method.canonical, selection
    )


def _run_one(experiment: Experiment, store: Any, spec: Any, method: Any, samples: list[Sample], local: dict[str, Any],
             progress: ProgressFactory | None, say: Callable[[str], None], dry_run: bool,
             placeholder: bool = False) -> RunOutcome:  # fmt: skip
    from vscbench.engine.runner import LocalExecutor, plan_run, run_samples
    from vscbench.methods.plan import MethodSpecError
    from vscbench.models.base import ModelSpecError
    from vscbench.schema import RunSpec

    config = generation_for(experiment, spec.provider)
    try:
        if dry_run:
            if method.iar is not None and method.iar.depends_on_model:
                method.resolve_layer(text_layers_from_config(spec.name))
            executor = None
        else:  # loading and wrapping resolves an iar layer given as a depth fraction
            executor = _executor(experiment, spec, method, local)
        run_spec = RunSpec(
            name="-", model=spec.cache_spec, data=str(experiment.selection.data), subset=experiment.selection.subset,
            variants=experiment.selection.variants, categories=experiment.selection.categories, limit=experiment.selection.limit,
            seed=experiment.selection.seed, benchmark=experiment.selection.benchmark, preset=experiment.preset, config=config,
            figstep_instruction=figstep_used(samples, experiment.selection.figstep_instruction),
            meta={"method": method.to_dict(), "experiment": redacted(experiment)},
        )  # fmt: skip
        if placeholder:  # score, report and every export say so
            run_spec.meta["placeholder_images"] = True
        if spec.is_pool:
            run_spec.meta["endpoints"] = [without_credentials(url) for url in spec.base_urls]
        name = run_name_for(experiment, store, spec, method, config, run_spec.selection())
        run_spec = run_spec.model_copy(update={"name": name})
        outcome = RunOutcome(name, spec.cache_spec, method.canonical, len(samples), demo_ids=list(method.demo_ids))
        transform = method.transform(samples)
        if executor is None:
            plan = plan_run(spec.cache_spec, samples, store, config, transform=transform)
            outcome.summary = {"samples": len(samples), "unique": plan.unique, "cached": plan.cached,
                               "would_send": len(plan.todo)}  # fmt: skip
            return outcome
        shown = f", method {method.canonical}" if method.canonical != "none" else ""
        say(f"running {name}: {spec} on {len(samples)} samples{shown}")
        callback = progress(name) if progress else None

        async def run_then_close() -> Any:
            try:
                return await run_samples(executor, samples, store, run_name=name, config=config, transform=transform,
                                         progress=callback, spec=run_spec)  # fmt: skip
            finally:  # an API client is closed in the loop that used it; a local model stays for its next method
                if isinstance(executor, LocalExecutor) and str(spec) not in local:
                    await executor.model.aclose()

        outcome.summary = asyncio.run(run_then_close())
        info = store.run_info(name)  # what the run holds, answers from earlier runs included
        outcome.stored = {**info.counts, "missing": info.missing} if info else {}
    except (MethodSpecError, ModelSpecError) as exc:
        raise ExperimentError(f"{spec} / {method.spec}: {exc}") from None
    return outcome


def _executor(experiment: Experiment, spec: Any, method: Any, local: dict[str, Any]) -> Any:
    """Where one run's calls are made: Ray replicas, or this process (a pool is a model too)."""
    from vscbench.engine.runner import LocalExecutor
    from vscbench.methods.plan import fit_model_options
    from vscbench.models.base import load_model

    execution = experiment.execution
    options = fit_model_options(spec.provider, dict(experiment.execution.model_options), experiment.methods)
    deadline = None
    if spec.provider in API_PROVIDERS:  # one timeout, retry budget and overall deadline for every API backend
        options.setdefault("timeout", execution.timeout)
        options.setdefault("max_retries", execution.max_retries)
        deadline = call_deadline(float(options["timeout"]), int(options["max_retries"]))
    if execution.ray:
        from vscbench.engine.ray import RayExecutor

        resources = {"num_cpus": 1, **({"num_gpus": execution.gpus_per_replica} if execution.gpus_per_replica else {})}
        return RayExecutor(
            spec, execution.replicas, resources, address=execution.ray_address, model_options=options,
            concurrency_per_replica=execution.concurrency if spec.provider in API_PROVIDERS else 1,
            request_timeout=deadline,
        )  # fmt: skip
    model = local.get(str(spec)) or load_model(spec, **options)
    if spec.provider in ("hf", "vllm"):
        local[str(spec)] = model  # loaded once for all its methods
    concurrency = execution.concurrency
    if spec.is_pool:  # each failover try may take one SDK retry of its own
        concurrency = (execution.concurrency_per_endpoint or execution.concurrency) * len(spec.base_urls)
        deadline = 2 * call_deadline(execution.timeout, execution.max_retries)
    return LocalExecutor(method.wrap(model), concurrency, deadline)


#: Backends that call a provider over HTTP: they take ``timeout`` and ``max_retries``.
API_PROVIDERS = ("openai", "anthropic", "google")


def call_deadline(timeout: float, max_retries: int) -> float:
    """The most one call may take, every retry included: each attempt's deadline, plus the
    waits between attempts (the SDKs back off for at most a minute in all)."""
    return timeout * (max_retries + 1) + 60


def _judge_and_score(experiment: Experiment, store: Any, runs: list[RunOutcome], say: Callable[[str], None]) -> None:
    from vscbench.benchmarks.utility.loader import BENCHMARKS as UTILITY
    from vscbench.judges.base import judge_key
    from vscbench.judges.registry import JudgeSpecError, get_judge
    from vscbench.judges.runs import judge_run
    from vscbench.scoring.runs import score_run

    if experiment.selection.benchmark in UTILITY:
        from vscbench.scoring.utility.runs import score_utility_run

        for run in runs:
            run.score = score_utility_run(store, run.run)
        return
    if not experiment.judging.judges:
        return
    options = {"store": store, "with_image": experiment.judging.with_image, "rubric": experiment.judging.rubric,
               "concurrency": experiment.execution.concurrency, **experiment.judging.options}  # fmt: skip
    try:
        judges = [get_judge(spec, **options) if ":" in spec.removeprefix("vote:") else get_judge(spec)
                  for spec in experiment.judging.judges]  # fmt: skip
    except (JudgeSpecError, ValueError, FileNotFoundError) as exc:
        raise ExperimentError(f"judge: {exc}") from None
    for run in runs:
        for judge in judges:
            say(f"judging {run.run} with {judge.name} v{judge.version}")
            run.judged.append(judge_run(store, run.run, judge))
        run.score = score_run(
            store,
            run.run,
            judge_key(judges[0]),
            experiment.scoring.rule,
            experiment.scoring.failures,
            experiment.scoring.intervals,
        )


def redacted(experiment: Experiment) -> dict[str, Any]:
    """The experiment as stored with its runs, in the typed form, with every credential removed:
    model URLs and base URLs as :func:`~vscbench.models.http.public_url` shows them (no user-info,
    no key parameter), then options and headers named as secrets and values shaped like keys
    (:func:`vscbench.safe_text.redact_options`, which the store applies again)."""
    from vscbench.models.base import ModelSpec, ModelSpecError
    from vscbench.safe_text import redact_options

    record = experiment.model_dump(mode="json")
    models = []
    for model in record["models"]:
        try:
            models.append(str(ModelSpec.parse(model)))
        except ModelSpecError:
            models.append(model)
    record["models"] = models
    if record["execution"].get("base_urls"):
        record["execution"]["base_urls"] = [without_credentials(url) for url in record["execution"]["base_urls"]]
    cleaned: dict[str, Any] = redact_options(record, tokens=False)
    return cleaned
