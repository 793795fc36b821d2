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
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from vscbench.experiment_inputs import (
    ExperimentError,
    LoadedPool,
    check_model_options,
    figstep_used,
    load_pool,
    parse_model_options,
    text_layers_from_config,
    without_credentials,
)
from vscbench.locations import DEFAULT_STORE
from vscbench.schema import GenerationConfig, Record, Sample

__all__ = [
    "Execution", "Experiment", "ExperimentError", "ExperimentResult", "LoadedPool", "RunOutcome", "apply_preset",
    "check_model_options", "generation_for", "load_pool", "parse_model_options", "run_experiment",
]

SUBSETS = ("all", "image_centric", "text_centric")


class Execution(Record):
    """Where and how fast the calls are made."""

    concurrency: int = 8
    """Calls in flight at once (per endpoint for a pool of servers)."""
    concurrency_per_endpoint: int | None = None
    timeout: float = 120.0
    """Seconds per HTTP attempt (API backends)."""
    max_retries: int = 4
    """Retries per call, by the provider SDK (API backends)."""
    ray: bool = False
    ray_address: str | None = None
    replicas: int = 2
    gpus_per_replica: float = 0.0
    allow_errors: bool = False
    """Report success even when some calls ended in ``error`` (they are retried next time)."""

    @model_validator(mode="after")
    def _check(self) -> "Execution":
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.concurrency_per_endpoint is not None and self.concurrency_per_endpoint < 1:
            raise ValueError(f"concurrency_per_endpoint must be at least 1, got {self.concurrency_per_endpoint}")
        if not (self.timeout > 0) or math.isinf(self.timeout):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")
        if self.gpus_per_replica < 0:
            raise ValueError(f"gpus_per_replica must be 0 or more, got {self.gpus_per_replica}")
        return self


class Experiment(Record):
    """Benchmark + data, models, methods, generation settings, judges, rule and store."""

    models: list[str]
    data: str
    benchmark: str = "vscbench"
    benchmark_options: dict[str, Any] = Field(default_factory=dict)
    """Options of the benchmark's loader (``vscbench benchmarks list`` shows them)."""
    subset: str = "all"
    variants: list[str] | None = None
    categories: list[str] | None = None
    limit: int | None = None
    seed: int = 0
    figstep_instruction: str | None = None
    """``None``: the benchmark's own sentence."""
    base_urls: list[str] | None = None
    model_options: dict[str, Any] = Field(default_factory=dict)
    """Passed to every backend (hf: device, dtype, batch_size, trust_remote_code; openai: ...)."""
    methods: list[str] = Field(default_factory=lambda: ["none"])
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    judges: list[str] = Field(default_factory=list)
    """Judges run after the models; the first one's verdicts are scored. Empty: no judging."""
    judge_with_image: bool = False
    judge_rubric: str | None = None
    judge_options: dict[str, Any] = Field(default_factory=dict)
    rule: str = "paper"
    failures: str = "exclude"
    intervals: str = "cluster"
    store: str = str(DEFAULT_STORE)
    run_name: str | None = None
    preset: str | None = None
    execution: Execution = Field(default_factory=Execution)
    same_samples: bool = False
    """Ask every method the same samples: those no method holds out (few-shot demonstrations,
    the rows steering data was built from), so the runs compare like for like."""

    @field_validator("models")
    @classmethod
    def _some_model(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one model, e.g. models = ['openai:gpt-4o-mini']")
        return value

    @model_validator(mode="after")
    def _check(self) -> "Experiment":
        from vscbench.metrics import INTERVAL_METHODS, RULES

        if self.subset not in SUBSETS and self.benchmark == "vscbench":
            raise ValueError(f"subset {self.subset!r} is not one of {', '.join(SUBSETS)}")
        if self.rule not in RULES:
            raise ValueError(f"rule {self.rule!r} is not one of {', '.join(RULES)}")
        if self.failures not in ("exclude", "incorrect"):
            raise ValueError(f"failures {self.failures!r} is not one of exclude, incorrect")
        if self.intervals not in INTERVAL_METHODS:
            raise ValueError(f"intervals {self.intervals!r} is not one of {', '.join(INTERVAL_METHODS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        temperature = self.generation.temperature
        if math.isnan(temperature) or not 0 <= temperature <= 2:
            raise ValueError(f"temperature must lie in [0, 2], got {temperature}")
        if self.generation.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.generation.max_tokens}")
        return self

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> "Experiment":
        """An experiment from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file; ``overrides``
        (what was given on the command line) win over the file."""
        file = Path(path)
        if not file.is_file():
            raise ExperimentError(f"experiment file {file} does not exist")
        text = file.read_text(encoding="utf-8")
        try:
            if file.suffix.lower() == ".toml":
                data = tomllib.loads(text)
            elif file.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            elif file.suffix.lower() == ".json":
                import json

                data = json.loads(text)
            else:
                raise ExperimentError(f"experiment file {file}: use a .toml, .yaml or .json file")
        except ExperimentError:
            raise
        except Exception as exc:  # tomllib, yaml and json each raise their own error types
            raise ExperimentError(f"experiment file {file} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise ExperimentError(f"experiment file {file} must hold a table of settings, not {type(data).__name__}")
        merged = _merge(data, overrides)
        try:
            return cls.model_validate(merged)
        except ValueError as exc:
            raise ExperimentError(f"experiment file {file}: {exc}") from None

    @classmethod
    def from_run(cls, store: Any, run: str) -> "Experiment":
        """The experiment a stored run was made by (stored with it)."""
        spec = store.get_run(run)
        if spec is None or "experiment" not in spec.meta:
            raise ExperimentError(f"run {run!r} holds no experiment record (it was made before experiments were stored)")
        return cls.model_validate(spec.meta["experiment"])


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_preset(experiment: Experiment) -> Experiment:
    """The experiment with its preset's settings filled in where none was given.

    A setting given explicitly (in a file or on the command line; pydantic records which) keeps
    its value: ``preset = "paper"`` with ``generation.max_tokens = 1024`` asks 1,024 tokens.
    """
    if experiment.preset is None:
        return experiment
    from vscbench.presets import get_preset

    try:
        preset = get_preset(experiment.preset)
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    given = experiment.generation.model_fields_set if "generation" in experiment.model_fields_set else set()
    generation = {k: v for k, v in preset.generation.items() if k not in given}
    update: dict[str, Any] = {"generation": experiment.generation.model_copy(update=generation)}
    if "judges" not in experiment.model_fields_set:
        update["judges"] = [preset.judge]
        update["judge_options"] = {**preset.judge_options, **experiment.judge_options}
    return experiment.model_copy(update=update)


def generation_for(experiment: Experiment, provider: str) -> GenerationConfig:
    """The generation settings one model is asked with (a preset may differ per provider)."""
    if experiment.preset is None:
        return experiment.generation
    from vscbench.presets import get_preset

    extra = get_preset(experiment.preset).openai_generation if provider == "openai" else {}
    return experiment.generation.model_copy(update=extra)


@dataclass
class RunOutcome:
    """One model x method of an experiment: its run, its judging and its scores."""

    run: str
    model: str
    method: str
    samples: int
    summary: Any = None
    """:class:`vscbench.runner.RunSummary`, or the dry-run plan's counts."""
    judged: list[Any] = field(default_factory=list)
    """:class:`vscbench.evaluate.JudgeSummary` per judge."""
    score: Any = None
    """:class:`vscbench.metrics.ScoreReport` (safety benchmarks) or a utility report."""
    demo_ids: list[str] = field(default_factory=list)

    def flat(self) -> dict[str, Any]:
        """One flat record: the run's counts (or its dry-run plan) with its name, model, method,
        demonstrations, judging and scores (what ``vscbench run --json`` prints per run)."""
        summary = self.summary.to_dict() if hasattr(self.summary, "to_dict") else dict(self.summary or {})
        return {
            **summary, "run": self.run, "model": self.model, "method": self.method, "samples": self.samples,
            "demo_ids": self.demo_ids, "judged": [j.to_dict() for j in self.judged],
            "score": self.score.to_dict() if self.score is not None else None,
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        summary = self.summary.to_dict() if hasattr(self.summary, "to_dict") else self.summary
        return {
            "run": self.run, "model": self.model, "method": self.method, "samples": self.samples,
            "summary": summary, "judged": [j.to_dict() for j in self.judged],
            "score": self.score.to_dict() if self.score is not None else None, "demo_ids": self.demo_ids,
        }  # fmt: skip


@dataclass
class ExperimentResult:
    experiment: Experiment
    runs: list[RunOutcome]
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def errors(self) -> int:
        return sum(getattr(r.summary, "error", 0) or 0 for r in self.runs)

    @property
    def judge_failures(self) -> int:
        return sum(j.judge_failed for r in self.runs for j in r.judged)

    @property
    def ok(self) -> bool:
        """No judge call failed, and no model call ended in ``error`` (unless allowed)."""
        return self.judge_failures == 0 and (self.errors == 0 or self.experiment.execution.allow_errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.model_dump(mode="json"), "dry_run": self.dry_run, "ok": self.ok,
            "errors": self.errors, "judge_failures": self.judge_failures, "notes": list(self.notes),
            "runs": [run.to_dict() for run in self.runs],
        }  # fmt: skip


ProgressFactory = Callable[[str], Callable[[Any], None] | None]
"""Given a run name, the progress callback for that run (or None)."""


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
    of loading ``experiment.data`` (a caller that loaded them with options of its own).

    With ``dry_run`` nothing is sent: each run says how many calls it would make. Raises
    :class:`ExperimentError` for anything that can be known to fail before a call is made
    (bad data, a method that does not fit a backend, an unknown model option, a selection that
    leaves nothing to evaluate); answers already received are in the store whatever happens.
    """
    from vscbench.methods.plan import MethodSpecError, parse_method
    from vscbench.models.base import ModelSpec, ModelSpecError
    from vscbench.requests import select_samples
    from vscbench.store import Store

    say = say or (lambda _: None)
    urls = ",".join(experiment.base_urls) if experiment.base_urls else None
    try:
        specs = [ModelSpec.parse(model, urls) for model in experiment.models]
        methods = [parse_method(text) for text in experiment.methods]
        for method in methods:
            for spec in specs:
                method.check_backend(spec.provider, str(spec))
    except (ModelSpecError, MethodSpecError) as exc:
        raise ExperimentError(str(exc)) from None
    for spec in specs:
        check_model_options(spec.provider, experiment.model_options)
    if experiment.execution.ray and any(method.iar for method in methods):
        raise ExperimentError("Ray runs do not steer (iar) yet; run steering without ray")
    pool = pool or load_pool(experiment.benchmark, experiment.data, experiment.subset, experiment.figstep_instruction,
                             experiment.seed, experiment.benchmark_options)  # fmt: skip
    notes = [pool.note] if pool.note else []
    selected = select_samples(pool.samples, experiment.subset, experiment.variants, experiment.categories,
                              experiment.limit, experiment.seed)  # fmt: skip
    if not selected:
        raise ExperimentError(
            f"no sample of {experiment.data} matches subset {experiment.subset}, variants {experiment.variants or 'any'}, "
            f"categories {experiment.categories or 'any'}"
        )
    evaluated: list[list[Sample]] = []
    for method in methods:
        try:
            chosen = method.select(selected, pool.samples)
        except MethodSpecError as exc:
            raise ExperimentError(f"method {method.spec}: {exc}") from None
        if not chosen:
            raise ExperimentError(f"method {method.spec} leaves no sample to evaluate once its demonstrations are held out")
        evaluated.append(chosen)
    if experiment.same_samples and len(evaluated) > 1:
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
                    runs.append(_run_one(experiment, store, spec, method, samples, local, progress, say, dry_run))
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
    from vscbench.runner import default_run_name, free_run_name
    from vscbench.utility.loader import BENCHMARKS as UTILITY

    suffix = "" if method.canonical == "none" else f"-{method.label}"
    if experiment.benchmark in UTILITY and not experiment.run_name:  # gpt-4o-mini-pope, not the safety run's name
        suffix = f"-{experiment.benchmark}{suffix}"
    if experiment.run_name:
        name = experiment.run_name if len(experiment.models) == 1 else f"{experiment.run_name}-{default_run_name(str(spec))}"
        return name + (suffix if len(experiment.methods) > 1 else "")
    return free_run_name(store, default_run_name(str(spec)) + suffix, spec.cache_spec, config, method.canonical, selection)


def _run_one(experiment: Experiment, store: Any, spec: Any, method: Any, samples: list[Sample], local: dict[str, Any],
             progress: ProgressFactory | None, say: Callable[[str], None], dry_run: bool) -> RunOutcome:  # fmt: skip
    from vscbench.methods.plan import MethodSpecError
    from vscbench.models.base import ModelSpecError
    from vscbench.runner import LocalExecutor, plan_run, run_samples
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
            name="-", model=spec.cache_spec, data=str(experiment.data), subset=experiment.subset,
            variants=experiment.variants, categories=experiment.categories, limit=experiment.limit,
            seed=experiment.seed, benchmark=experiment.benchmark, preset=experiment.preset, config=config,
            figstep_instruction=figstep_used(samples, experiment.figstep_instruction),
            meta={"method": method.to_dict(), "experiment": redacted(experiment)},
        )  # fmt: skip
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
    except (MethodSpecError, ModelSpecError) as exc:
        raise ExperimentError(f"{spec} / {method.spec}: {exc}") from None
    return outcome


def _executor(experiment: Experiment, spec: Any, method: Any, local: dict[str, Any]) -> Any:
    """Where one run's calls are made: Ray replicas, or this process (a pool is a model too)."""
    from vscbench.methods.plan import fit_model_options
    from vscbench.models.base import load_model
    from vscbench.runner import LocalExecutor

    execution = experiment.execution
    options = fit_model_options(spec.provider, dict(experiment.model_options), experiment.methods)
    if spec.provider == "openai":
        options.setdefault("timeout", execution.timeout)
        options.setdefault("max_retries", execution.max_retries)
    deadline = execution.timeout * (execution.max_retries + 1) + 60 if spec.provider == "openai" else None
    if execution.ray:
        from vscbench.distributed.ray import RayExecutor

        resources = {"num_cpus": 1, **({"num_gpus": execution.gpus_per_replica} if execution.gpus_per_replica else {})}
        return RayExecutor(
            spec, execution.replicas, resources, address=execution.ray_address, model_options=options,
            concurrency_per_replica=execution.concurrency if spec.provider == "openai" else 1, request_timeout=deadline,
        )  # fmt: skip
    model = local.get(str(spec)) or load_model(spec, **options)
    if spec.provider in ("hf", "vllm"):
        local[str(spec)] = model  # loaded once for all its methods
    concurrency = execution.concurrency
    if spec.is_pool:  # each failover try may take one SDK retry of its own
        concurrency = (execution.concurrency_per_endpoint or execution.concurrency) * len(spec.base_urls)
        deadline = 2 * execution.timeout * (execution.max_retries + 1) + 60
    return LocalExecutor(method.wrap(model), concurrency, deadline)


def _judge_and_score(experiment: Experiment, store: Any, runs: list[RunOutcome], say: Callable[[str], None]) -> None:
    from vscbench.evaluate import judge_run, score_run
    from vscbench.judges.base import judge_key
    from vscbench.judges.registry import JudgeSpecError, get_judge
    from vscbench.utility.loader import BENCHMARKS as UTILITY

    if experiment.benchmark in UTILITY:
        from vscbench.utility.tradeoff import score_utility_run

        for run in runs:
            run.score = score_utility_run(store, run.run)
        return
    if not experiment.judges:
        return
    options = {"store": store, "with_image": experiment.judge_with_image, "rubric": experiment.judge_rubric,
               "concurrency": experiment.execution.concurrency, **experiment.judge_options}  # fmt: skip
    try:
        judges = [get_judge(spec, **options) if ":" in spec.removeprefix("vote:") else get_judge(spec)
                  for spec in experiment.judges]  # fmt: skip
    except (JudgeSpecError, ValueError, FileNotFoundError) as exc:
        raise ExperimentError(f"judge: {exc}") from None
    for run in runs:
        for judge in judges:
            say(f"judging {run.run} with {judge.name} v{judge.version}")
            run.judged.append(judge_run(store, run.run, judge))
        run.score = score_run(store, run.run, judge_key(judges[0]), experiment.rule, experiment.failures,
                              experiment.intervals)  # type: ignore[arg-type]


def redacted(experiment: Experiment) -> dict[str, Any]:
    """The experiment as stored with its runs: URLs without user names or passwords."""
    record = experiment.model_dump(mode="json")
    record["models"] = [
        f"{model.partition('@')[0]}@{without_credentials(model.partition('@')[2])}" if "://" in model else model
        for model in record["models"]
    ]
    if record.get("base_urls"):
        record["base_urls"] = [without_credentials(url) for url in record["base_urls"]]
    return record
