"""Utility runs and safety-with-utility experiments, through :func:`vscbench.experiment.run_experiment`.

* :func:`run_utility` asks a model POPE or ScienceQA (optionally through a calibration method)
  and scores the answers. It is one experiment with ``benchmark="pope"``: cached, resumable,
  and stored with the experiment record, whose ``benchmark_options`` name the exact dataset
  (hub id, config, split and pinned revision, or the local file) and the stratified limit.
* :func:`run_tradeoff` runs one experiment on the safety benchmark and the same models and
  methods on each utility benchmark, then sets safety beside utility
  (:func:`vscbench.workflows.tradeoff.tradeoff`).

Kept apart from :mod:`vscbench.workflows.tradeoff` because the experiment scores utility runs
with that module: this one sits above the experiment, that one below it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.benchmarks.utility.loader import UtilitySource, load_utility
from vscbench.engine.runner import RunSummary, default_run_name
from vscbench.experiment import (
    Execution,
    Experiment,
    ExperimentError,
    ExperimentResult,
    Judging,
    Selection,
    run_experiment,
)
from vscbench.experiment.inputs import LoadedPool
from vscbench.schema import GenerationConfig
from vscbench.scoring.utility.metrics import UtilityReport
from vscbench.store import Store
from vscbench.workflows.tradeoff import TradeoffTable, tradeoff

FEW_SHOT_REFUSAL = (
    "few-shot demonstrations are drawn from VSCBench's safe/unsafe pairs, which POPE and "
    "ScienceQA do not have; measure utility with cot, safety-prompt or iar instead"
)


@dataclass
class UtilityRun:
    """One utility run: what was sent, which data it used, and its scores."""

    run: str
    summary: RunSummary
    source: UtilitySource
    report: UtilityReport
    method: dict[str, Any]
    findings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "summary": self.summary.to_dict(), "source": self.source.to_dict(),
                "method": self.method, "rows_with_findings": self.findings, "scores": self.report.to_dict()}  # fmt: skip


def utility_run_name(model_spec: str, benchmark: str, method_label: str = "none") -> str:
    """``gpt-4o-mini-pope``, or ``gpt-4o-mini-pope-cot`` for a calibrated run (what runs are named)."""
    name = f"{default_run_name(model_spec)}-{benchmark}"
    if method_label != "none":
        name += "-" + re.sub(r"[^A-Za-z0-9._+-]+", "-", method_label)
    return name


def _source_options(source: UtilitySource, image_only: bool, limit: int | None) -> dict[str, Any]:
    """The loader options that re-create exactly this data (stored with the experiment)."""
    options: dict[str, Any] = {"image_only": image_only}
    if limit is not None:
        options["limit"] = limit
    if source.kind == "hub":
        options.update(dataset_id=source.dataset_id, config=source.config, split=source.split, revision=source.revision)
    return options


def run_utility(
    benchmark: str,
    model: Any,
    store: Store,
    *,
    method: str | None = None,
    data: Any = None,
    dataset_id: str | None = None,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    limit: int | None = None,
    image_only: bool = True,
    cache_dir: Any = None,
    seed: int = 0,
    run_name: str | None = None,
    generation: GenerationConfig | None = None,
    concurrency: int = 8,
    timeout: float = 120.0,
    max_retries: int = 4,
    progress: Callable[[str], Callable[[Any], None] | None] | None = None,
    model_options: dict[str, Any] | None = None,
    say: Callable[[str], None] | None = None,
) -> UtilityRun:
    """Ask ``model`` (a spec such as ``openai:gpt-4o-mini``, or a loaded model) POPE or ScienceQA.

    Data loading is :func:`~vscbench.benchmarks.utility.loader.load_utility` (pinned hub copy by default,
    ``data`` for a local file). Prompts keep the benchmark's answer-format instruction, so a
    method is measured on exactly the questions its utility is scored on. Answers go to
    ``store`` as they arrive; the same call again sends nothing. ``progress`` is a progress
    factory as :func:`~vscbench.experiment.run_experiment` takes. Raises ``ValueError`` (incl.
    :class:`~vscbench.benchmarks.findings.DatasetError`, ``MethodSpecError`` and
    :class:`~vscbench.experiment.ExperimentError`) for bad input.
    """
    from vscbench.methods.plan import MethodSpecError, parse_method

    if parse_method(method).pipeline.few_shot is not None:
        raise MethodSpecError(FEW_SHOT_REFUSAL)
    loaded = load_utility(benchmark, data, dataset_id=dataset_id, config=config, split=split, revision=revision,
                          limit=limit, image_only=image_only, cache_dir=cache_dir, seed=seed)  # fmt: skip
    if not loaded.samples:
        raise ValueError(
            f"{loaded.source.location} gave no usable {benchmark} sample ({loaded.source.rows_read} rows read)"
        )
    given = model if not isinstance(model, (str, bytes)) and hasattr(model, "generate") else None
    spec = str(given.spec) if given is not None else str(model)
    options = _source_options(loaded.source, image_only, limit)
    if cache_dir is not None:
        options["cache_dir"] = str(cache_dir)
    selection = Selection(data=str(data) if isinstance(data, (str, Path)) else "", benchmark=benchmark,
                          benchmark_options=options, seed=seed)  # fmt: skip
    execution = Execution(concurrency=concurrency, timeout=timeout, max_retries=max_retries,
                          model_options=model_options or {})  # fmt: skip
    experiment = Experiment(
        models=[spec],
        selection=selection,
        methods=[method or "none"],
        generation=generation or GenerationConfig(),
        store=str(store.path),
        run_name=run_name,
        execution=execution,
    )
    result = run_experiment(experiment, progress=progress, say=say,
                            loaded={spec: given} if given is not None else None, pool=LoadedPool(loaded.samples))  # fmt: skip
    outcome = result.runs[0]
    stored = store.get_run(outcome.run)
    method_record = stored.meta.get("method", {}) if stored is not None else {}
    return UtilityRun(outcome.run, outcome.summary, loaded.source, outcome.score, method_record, len(loaded.findings))


@dataclass
class UtilityTarget:
    """A utility benchmark to measure beside safety: pope or scienceqa, its data and limit."""

    benchmark: str
    data: str | None = None
    limit: int | None = None


@dataclass
class TradeoffResult:
    table: TradeoffTable
    safety: ExperimentResult
    utility: list[ExperimentResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_tradeoff(
    experiment: Experiment,
    utility: Sequence[UtilityTarget],
    baseline: str = "none",
    progress: Callable[[str], Callable[[Any], None] | None] | None = None,
    say: Callable[[str], None] | None = None,
) -> TradeoffResult:
    """Run ``experiment`` (a safety benchmark), the same models and methods on each utility
    benchmark, and return safety beside utility per model and method.

    Local models are loaded once for all the experiments. Few-shot methods have no utility run
    (POPE and ScienceQA have no twins to draw demonstrations from); their rows show safety only.
    The safety runs are judged with the experiment's first judge (``offline`` when it has none).
    """
    from vscbench.methods.plan import fit_model_options, parse_method
    from vscbench.models.base import ModelSpec, load_model

    if not utility:
        raise ExperimentError("name at least one utility benchmark (pope or scienceqa) to weigh safety against")
    judges = experiment.judging.judges or ["offline"]
    experiment = experiment.model_copy(update={"judging": experiment.judging.model_copy(update={"judges": judges})})
    urls = ",".join(experiment.execution.base_urls) if experiment.execution.base_urls else None
    loaded: dict[str, Any] = {}
    for text in experiment.models:
        spec = ModelSpec.parse(text, urls)
        if spec.provider in ("hf", "vllm"):
            loaded[str(spec)] = load_model(spec, **fit_model_options(spec.provider, dict(experiment.execution.model_options),
                                                                     experiment.methods))  # fmt: skip
    safety = run_experiment(experiment, progress=progress, say=say, loaded=loaded)
    plain = [m for m in experiment.methods if parse_method(m).pipeline.few_shot is None]
    notes = [f"{m}: no utility run (few-shot needs twins that POPE and ScienceQA lack)"
             for m in experiment.methods if m not in plain]  # fmt: skip
    results: list[ExperimentResult] = []
    for target in utility if plain else []:
        options = {"limit": target.limit} if target.limit is not None else {}
        selection = Selection(benchmark=target.benchmark, data=target.data or "", benchmark_options=options,
                              seed=experiment.selection.seed)  # fmt: skip
        measured = experiment.model_copy(update={"selection": selection, "methods": plain, "judging": Judging(),
                                                 "run_name": None})  # fmt: skip
        results.append(run_experiment(measured, progress=progress, say=say, loaded=loaded))
    names = [run.run for result in (safety, *results) for run in result.runs]
    with Store(experiment.store) as store:
        table = tradeoff(store, names, judge=judges[0], baseline=baseline, rule=experiment.scoring.rule,
                         failures=experiment.scoring.failures)  # fmt: skip
    return TradeoffResult(table, safety, results, notes)
