"""The records of an experiment: what it asks (:class:`Experiment`, :class:`Execution`), the
presets it may take, and what it gives back (:class:`RunOutcome`, :class:`ExperimentResult`).

Kept apart from :mod:`vscbench.experiment`, which runs them, so that modules the run loop
imports (utility runs, sweeps) can name these records without importing the loop.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from vscbench.experiment_inputs import ExperimentError
from vscbench.locations import DEFAULT_STORE
from vscbench.schema import GenerationConfig, Record

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
