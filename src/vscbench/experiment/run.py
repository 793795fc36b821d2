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
from dataclasses import dataclass, replace
from typing import Any

from vscbench.benchmarks.released import UNSENT
from vscbench.experiment.costing import (
    check_paid_calls,
    dry_run_cost,
    estimate_judging,
    estimate_plan,
    experiment_prices,
)
from vscbench.experiment.inputs import (
    API_PROVIDERS,
    ExperimentError,
    LoadedPool,
    call_deadline,
    check_access,
    check_model_options,
    check_selection_values,
    figstep_used,
    load_pool,
    parse_model_options,
    text_layers_from_config,
    without_credentials,
)
from vscbench.experiment.presets import apply_preset, generation_for, released_samples
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

    With ``dry_run`` nothing is sent: each run says how many calls it would make and what they
    would cost, and the result holds the totals with the judge's calls
    (:func:`vscbench.experiment.costing.dry_run_cost`). ``execution.max_cost`` is a budget
    shared by every run and judge; when it stops the sending, judging is skipped and
    :attr:`ExperimentResult.budget_stop` says so. Raises
    :class:`ExperimentError` for anything that can be known to fail before a call is made
    (bad data, a method that does not fit a backend, an unknown model option, a selection that
    leaves nothing to evaluate); answers already received are in the store whatever happens.
    """
    from vscbench.engine.requests import select_samples
    from vscbench.methods.plan import MethodSpecError, parse_method
    from vscbench.models.base import ModelSpec, ModelSpecError
    from vscbench.store import Store

    say = say or (lambda _: None)
    experiment = apply_preset(experiment)  # a no-op when the caller applied it already
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
    if experiment.execution.ray and any(method.iar or method.ecso for method in methods):
        raise ExperimentError("Ray runs do not steer (iar) or run ecso yet; run these methods without ray")
    pool = pool or load_pool(experiment.selection.benchmark, experiment.selection.data, experiment.selection.subset, experiment.selection.figstep_instruction,
                             experiment.selection.seed, experiment.selection.benchmark_options, released_samples(experiment))  # fmt: skip
    check_selection_values(pool.samples, experiment.selection.variants, experiment.selection.categories,
                           experiment.selection.data)  # fmt: skip
    notes = [*experiment.notes, *([pool.note] if pool.note else [])]
    if released_samples(experiment) and not dry_run:
        notes.append("the released VSCBench statistics of these runs: `vscbench score --run NAME --preset paper`")
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
            chosen = method.select(selected, [sample for sample in pool.samples if UNSENT not in sample.meta])
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
    from vscbench.engine.budget import Budget

    prices = experiment_prices(experiment)
    runs: list[RunOutcome] = []
    plans: list[Any] = []
    cost: dict[str, Any] | None = None
    budget = Budget(experiment.execution.max_cost) if experiment.execution.max_cost is not None else None
    paid = _Paid(budget, prices, plans)
    with Store(experiment.store) as store:
        check_paid_calls(experiment, specs, prices, store)
        local: dict[str, Any] = dict(loaded or {})
        try:
            for spec in specs:
                for method, samples in zip(methods, evaluated):
                    runs.append(_run_one(experiment, store, spec, method, samples, local, progress, say, dry_run, paid,
                                         pool.placeholder))  # fmt: skip
        finally:
            for model in local.values():
                asyncio.run(model.aclose())
        if dry_run:
            estimates = [estimate_plan(plan, prices, store) for plan in plans]
            total = estimates[0] if estimates else None
            for estimate in estimates[1:]:
                total = total.add(estimate) if total is not None else estimate
            if total is not None:
                cost = dry_run_cost(total, estimate_judging(experiment, plans, prices, store))
        elif budget is not None and budget.stopped:
            say("not judging: the budget stopped the sending (run the same command again to go on)")
        else:
            _judge_and_score(experiment, store, runs, say, paid)
        if not dry_run:
            from vscbench.scoring.cost import run_costs

            costs = run_costs(store, [run.run for run in runs], prices)
            for run in runs:
                run.cost = costs[run.run].to_dict() if run.run in costs else None
    stop = budget.reason if budget is not None and budget.stopped else None
    return ExperimentResult(experiment, runs, notes, dry_run, cost=cost, budget_stop=stop,
                            spent_usd=budget.spent_usd if budget is not None else None)  # fmt: skip


@dataclass
class _Paid:
    """What priced calls of one experiment share: its budget, price table and dry-run plans."""

    budget: Any
    prices: Any
    plans: list[Any]


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
             progress: ProgressFactory | None, say: Callable[[str], None], dry_run: bool, paid: _Paid,
             placeholder: bool = False) -> RunOutcome:  # fmt: skip
    from vscbench.engine.batch import BatchExecutor
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
            executor = _executor(experiment, spec, method, local, store, paid)
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
        unsent = [sample for sample in samples if UNSENT in sample.meta]  # --preset paper: recorded, never sent
        asked = [sample for sample in samples if UNSENT not in sample.meta]
        if executor is None:
            plan = plan_run(spec.cache_spec, asked, store, config, transform=transform)
            estimate = estimate_plan(plan, paid.prices, store)
            paid.plans.append(plan)
            outcome.summary = {"samples": len(samples), "unique": plan.unique, "cached": plan.cached,
                               "would_send": len(plan.todo), "input_tokens": estimate.input_tokens,
                               "output_tokens": estimate.output_tokens, "cost_usd": estimate.to_dict()["cost_usd"],
                               "cost_usd_batch": estimate.to_dict()["cost_usd_batch"]}  # fmt: skip
            return outcome
        if isinstance(executor, BatchExecutor):
            executor.settings = replace(executor.settings, purpose=f"run {name}")
        shown = f", method {method.canonical}" if method.canonical != "none" else ""
        say(f"running {name}: {spec} on {len(samples)} samples{shown}")
        callback = progress(name) if progress else None

        async def run_then_close() -> Any:
            try:
                return await run_samples(executor, asked, store, run_name=name, config=config, transform=transform,
                                         progress=callback, spec=run_spec, unsent=unsent)  # fmt: skip
            finally:  # an API client is closed in the loop that used it; a local model stays for its next method
                if isinstance(executor, (LocalExecutor, BatchExecutor)) and str(spec) not in local:
                    await executor.model.aclose()

        outcome.summary = asyncio.run(run_then_close())
        info = store.run_info(name)  # what the run holds, answers from earlier runs included
        outcome.stored = {**info.counts, "missing": info.missing} if info else {}
    except (MethodSpecError, ModelSpecError) as exc:
        raise ExperimentError(f"{spec} / {method.spec}: {exc}") from None
    return outcome


def _executor(experiment: Experiment, spec: Any, method: Any, local: dict[str, Any], store: Any, paid: _Paid) -> Any:
    """Where one run's calls are made: Ray replicas, a provider's batch API, or this process
    (a pool is a model too); with the experiment's budget, if any."""
    from vscbench.engine.batch import BatchExecutor
    from vscbench.engine.budget import BudgetGate
    from vscbench.engine.estimate import Pricer
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
    gate = None
    if paid.budget is not None:
        pricer = Pricer(spec.cache_spec, paid.prices, store, role="answer")
        gate = BudgetGate(paid.budget, pricer, batch=execution.mode == "batch")
    model = local.get(str(spec)) or load_model(spec, **options)
    if execution.mode == "batch":
        return BatchExecutor(method.wrap(model, cache=store), execution.batch_settings(), gate, execution.concurrency,
                             deadline)  # fmt: skip
    if spec.provider in ("hf", "vllm"):
        local[str(spec)] = model  # loaded once for all its methods
    concurrency = execution.concurrency
    if spec.is_pool:  # each failover try may take one SDK retry of its own
        concurrency = (execution.concurrency_per_endpoint or execution.concurrency) * len(spec.base_urls)
        deadline = 2 * call_deadline(execution.timeout, execution.max_retries)
    return LocalExecutor(
        method.wrap(model, cache=store), concurrency, deadline, gate=gate
    )  # ecso keeps its steps in the store


def _judge_and_score(experiment: Experiment, store: Any, runs: list[RunOutcome], say: Callable[[str], None],
                     paid: _Paid) -> None:  # fmt: skip
    from vscbench.benchmarks.utility.loader import BENCHMARKS as UTILITY
    from vscbench.judges.base import judge_key
    from vscbench.judges.harm import OfflineHarmEstimator
    from vscbench.judges.harm_runs import judge_harm_run
    from vscbench.judges.registry import JudgeSpecError, get_judge
    from vscbench.judges.runs import judge_run
    from vscbench.scoring.rules import RULES
    from vscbench.scoring.runs import score_run

    if experiment.selection.benchmark in UTILITY:
        from vscbench.scoring.utility.runs import score_utility_run

        for run in runs:
            run.score = score_utility_run(store, run.run)
        return
    if not experiment.judging.judges:
        return
    execution = experiment.execution
    batch = execution.batch_settings() if execution.mode == "batch" else None
    options = {"store": store, "with_image": experiment.judging.with_image, "rubric": experiment.judging.rubric,
               "concurrency": experiment.execution.concurrency, **experiment.judging.options,
               **({"judge_input": "question"} if experiment.judging.judge_input == "question" else {})}  # fmt: skip
    # only what was asked for: judges that cannot batch or keep a budget refuse these options by name
    options |= {"batch": batch} if batch is not None else {}
    options |= {"budget": paid.budget, "prices": paid.prices} if paid.budget is not None else {}
    try:
        judges = [get_judge(spec, **options) if ":" in spec.removeprefix("vote:") else get_judge(spec)
                  for spec in experiment.judging.judges]  # fmt: skip
    except (JudgeSpecError, ValueError, FileNotFoundError) as exc:
        raise ExperimentError(f"judge: {exc}") from None
    for run in runs:
        for judge in judges:
            say(f"judging {run.run} with {judge.name} v{judge.version}")
            run.judged.append(judge_run(store, run.run, judge))
        if RULES[experiment.scoring.rule].harmful_warning_wrong:  # strict-harm reads harmful-content verdicts
            judge_harm_run(store, run.run, OfflineHarmEstimator(), judge_key(judges[0]))
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
    record["judging"]["judges"] = [
        f"{spec.partition('@')[0]}@{without_credentials(spec.partition('@')[2])}" if "://" in spec else spec
        for spec in record["judging"]["judges"]
    ]
    if record["execution"].get("base_urls"):
        record["execution"]["base_urls"] = [without_credentials(url) for url in record["execution"]["base_urls"]]
    cleaned: dict[str, Any] = redact_options(record, tokens=False)
    return cleaned
