"""The records of an experiment: what it asks, as typed sub-records.

An :class:`Experiment` is the models and methods to run plus five sub-records, one per stage
of the flow: :class:`Selection` (which benchmark, data and samples), ``generation``
(:class:`~vscbench.schema.GenerationConfig`), :class:`Execution` (where and how fast the calls
are made, and the backends' options), :class:`Judging` and :class:`Scoring`. A setting's meaning
lives in the field that holds it, not in the code that reads it.

Files and keyword arguments may still use the flat keys of earlier versions (``data``,
``limit``, ``judge_with_image``...) and the names of the command-line options (``model``,
``judge``, ``max_tokens``, ``run``); :func:`vscbench.experiment.keys.normalise` maps each to its
place and notes the flat ones as deprecated. Unknown keys are errors that name the close match.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ModelWrapValidatorHandler, PrivateAttr, field_validator, model_validator

from vscbench.experiment.files import ExperimentFileError, read_settings, write_settings
from vscbench.experiment.inputs import ExperimentError, fold_benchmark_options, normalise_subset
from vscbench.experiment.keys import normalise, not_one_of, option_name
from vscbench.jsonl import lone_surrogate
from vscbench.judges.base import JudgeInputMode
from vscbench.locations import DEFAULT_STORE
from vscbench.schema import GenerationConfig, Record
from vscbench.scoring.records import INTERVAL_METHODS, IntervalMethod
from vscbench.scoring.rules import RULES, FailureTreatment

SUBSETS = ("all", "image_centric", "text_centric", "text_only")
FAILURE_TREATMENTS = ("exclude", "incorrect")


class Selection(Record):
    """Which samples: the benchmark and its data, and the subset, variants, categories and
    stratified limit drawn from it."""

    data: str
    """Release folder, a ``.jsonl``/``.parquet`` export of samples, or the benchmark's file or folder."""
    benchmark: str = "vscbench"
    benchmark_options: dict[str, Any] = Field(default_factory=dict)
    """Options of the benchmark's loader (``vscbench benchmarks list`` shows them)."""
    subset: str = "all"
    variants: list[str] | None = None
    categories: list[str] | None = None
    limit: int | None = None
    """A stratified sample of this many: each subset and label in proportion to its size, twins together."""
    seed: int = 0
    figstep_instruction: str | None = None
    """``None``: the benchmark's own sentence."""
    same_samples: bool = False
    """Ask every method the same samples: those no method holds out (few-shot demonstrations,
    the rows steering data was built from), so the runs compare like for like."""

    @model_validator(mode="before")
    @classmethod
    def _benchmark_options(cls, value: Any) -> Any:
        """Options checked against the benchmark's loader; VSCBench's subset and variants
        options become the selection's (:func:`~vscbench.experiment.inputs.fold_benchmark_options`)."""
        from vscbench.benchmarks.findings import DatasetError

        if not isinstance(value, dict):
            return value
        try:
            return normalise_subset(fold_benchmark_options(value))
        except DatasetError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> Selection:
        if self.subset not in SUBSETS and self.benchmark == "vscbench":
            raise not_one_of("subset", self.subset, SUBSETS)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        return self


class Execution(Record):
    """Where and how fast the calls are made, and what each backend is given."""

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
    base_urls: list[str] | None = None
    """OpenAI-compatible servers; several are a pool of replicas of one model."""
    model_options: dict[str, Any] = Field(default_factory=dict)
    """Passed to every backend (hf: device, dtype, batch_size, trust_remote_code; openai: ...)."""
    mode: Literal["sync", "batch"] = "sync"
    """``batch``: send openai:/anthropic: calls (models and LLM judges) through the provider's
    batch API, at its discount, answered within 24 h (``--execution batch``)."""
    batch_requests: int | None = None
    """Requests per provider batch (None: the provider's limit)."""
    batch_mb: float | None = None
    """Input megabytes per provider batch (None: 95 % of the provider's limit)."""
    batch_poll: float = 30.0
    """Seconds between polls of running batches."""
    batch_retry: Literal["sync", "batch", "none"] = "sync"
    """Items that failed or expired in a batch: asked again synchronously, in a new batch, or
    left for the next run."""
    batch_wait: bool = True
    """Wait for the batches; False submits them and ends (run again to collect)."""
    max_cost: float | None = None
    """The most this command may spend, in USD (``--max-cost``); None: no budget."""
    prices: str | None = None
    """A price file over the shipped table (``--prices``)."""

    @model_validator(mode="after")
    def _check(self) -> Execution:
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
        if self.batch_requests is not None and self.batch_requests < 1:
            raise ValueError(f"batch_requests must be at least 1, got {self.batch_requests}")
        if self.batch_mb is not None and not self.batch_mb > 0:
            raise ValueError(f"batch_mb must be a positive number of megabytes, got {self.batch_mb}")
        if not self.batch_poll > 0 or math.isinf(self.batch_poll):
            raise ValueError(f"batch_poll must be a positive number of seconds, got {self.batch_poll}")
        if self.max_cost is not None and (not self.max_cost >= 0 or math.isinf(self.max_cost)):
            raise ValueError(f"max_cost must be 0 or more US dollars, got {self.max_cost}")
        if self.mode == "batch" and self.ray:
            raise ValueError("execution batch sends calls through a provider's batch API; it does not run on Ray")
        return self

    def batch_settings(self) -> Any:
        """The :class:`~vscbench.engine.batch.BatchSettings` of these options (used with ``mode == "batch"``)."""
        from vscbench.engine.batch import BatchSettings

        return BatchSettings(self.batch_requests, self.batch_mb, self.batch_poll, self.batch_retry, self.batch_wait)


class Judging(Record):
    """The judges run after the models; the first one's verdicts are scored. None: no judging."""

    judges: list[str] = Field(default_factory=list)
    with_image: bool = False
    """Show LLM judges the image too."""
    rubric: str | None = None
    """A file with an LLM judge's own rubric."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Settings of LLM judges (temperature, max_tokens, ...)."""
    judge_input: JudgeInputMode = "question+prompt"
    """What an LLM judge reads besides the answer: the original question and the prompt as sent
    (``question+prompt``), or the question alone (``question``, as the released judge)."""


class Scoring(Record):
    """How verdicts become figures."""

    rule: str = "paper"
    failures: FailureTreatment = "exclude"
    intervals: IntervalMethod = "cluster"

    @model_validator(mode="after")
    def _check(self) -> Scoring:
        if self.rule not in RULES:
            raise not_one_of("rule", self.rule, list(RULES))
        if self.failures not in FAILURE_TREATMENTS:
            raise not_one_of("failures", self.failures, FAILURE_TREATMENTS)
        if self.intervals not in INTERVAL_METHODS:
            raise not_one_of("intervals", self.intervals, list(INTERVAL_METHODS))
        return self


class Experiment(Record):
    """Models x methods, asked the selected samples with these settings, judged and scored."""

    models: list[str]
    selection: Selection
    methods: list[str] = Field(default_factory=lambda: ["none"])
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    execution: Execution = Field(default_factory=Execution)
    judging: Judging = Field(default_factory=Judging)
    scoring: Scoring = Field(default_factory=Scoring)
    store: str = str(DEFAULT_STORE)
    run_name: str | None = None
    preset: str | None = None
    _notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _normalise(cls, value: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        notes: list[str] = []
        if isinstance(value, dict):
            value = normalise(value, notes)
        experiment = handler(value)
        experiment._notes = notes
        return experiment

    @field_validator("models")
    @classmethod
    def _some_model(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one model, e.g. models = ['openai:gpt-4o-mini']")
        return value

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        temperature = self.generation.temperature
        if math.isnan(temperature) or not 0 <= temperature <= 2:
            raise ValueError(f"temperature must lie in [0, 2], got {temperature}")
        if self.generation.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.generation.max_tokens}")
        where = lone_surrogate(self.model_dump(mode="python"))
        if where:  # a byte that is not UTF-8 (from the command line) or a \ud800 escape (from a file)
            raise ValueError(
                f"{where} ({option_name(where)}): not UTF-8 text (a stray byte, or half of a surrogate pair); "
                "write the text as UTF-8"
            )
        return self

    def __eq__(self, other: object) -> bool:
        """Equal settings make equal experiments; how they were written (notes) does not count."""
        return isinstance(other, Experiment) and self.__dict__ == other.__dict__

    __hash__ = Record.__hash__

    @property
    def notes(self) -> list[str]:
        """Deprecation lines for settings given under their old flat names."""
        return list(self._notes)

    def to_file_dict(self) -> dict[str, Any]:
        """The typed form, as a file holds it: sections for the sub-records, defaults left out."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> Experiment:
        """An experiment from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file; ``overrides``
        (what was given on the command line, flat or in sections) win over the file."""
        try:
            settings = read_settings(path)
            notes: list[str] = []
            merged = _merge(normalise(settings, notes), normalise(overrides, []))
            experiment = cls.model_validate(merged)
        except ExperimentFileError as exc:
            raise ExperimentError(str(exc)) from None
        except ValueError as exc:
            raise ExperimentError(f"experiment file {path}: {validation_message(exc)}") from None
        experiment._notes = [f"{path}: {note}" for note in notes]
        return experiment

    @classmethod
    def from_options(cls, **options: Any) -> Experiment:
        """An experiment from command-line options: flat keys named as the options, in sections
        or not, with no deprecation note (the command line has no sections)."""
        experiment = cls.model_validate(normalise(options, []))
        experiment._notes = []
        return experiment

    def save(self, path: str | Path) -> Path:
        """Write the typed form to a ``.json`` or ``.yaml`` file (``vscbench run --config`` reads it)."""
        try:
            return write_settings(self.to_file_dict(), path)
        except ExperimentFileError as exc:
            raise ExperimentError(str(exc)) from None

    @classmethod
    def from_run(cls, store: Any, run: str) -> Experiment:
        """The experiment a stored run was made by (stored with it; runs stored before the
        typed form load through the flat keys)."""
        spec = store.get_run(run)
        if spec is None or "experiment" not in spec.meta:
            raise ExperimentError(
                f"run {run!r} holds no experiment record (it was made before experiments were stored)"
            )
        return cls.model_validate(_without_redacted(spec.meta["experiment"]))


def _without_redacted(value: Any) -> Any:
    """A stored experiment without the settings the store redacted (an ``api_key`` stored as
    ``***``): run again, it takes its keys from the environment, as a fresh run would."""
    from vscbench.safe_text import REDACTED

    if isinstance(value, dict):
        return {key: _without_redacted(item) for key, item in value.items() if item != REDACTED}
    return value


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validation_message(exc: ValueError) -> str:
    """One line for pydantic's validation errors: ``selection.limit: must be at least 1``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for error in errors():
            where = ".".join(str(p) for p in error["loc"] if p != "function-wrap[_normalise()]") or "settings"
            parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        return "; ".join(parts)
    return str(exc)
