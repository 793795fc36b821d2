"""Presets: named bundles of settings that reproduce a published setup.

``paper`` is the released VSCBench code (github.com/jiahuigeng/VSCBench, commit 426fa1f), quirks
included. It asks each provider as that code does (``utils_llm.py``): OpenAI at temperature 0
with ``max_tokens`` 4,096, the prompt before the image and the image file's own bytes labelled
``image/png``; Claude with ``max_tokens`` 4,096 and no temperature, the image first, re-encoded
by Pillow in its own format; Gemini with no generation setting at all, the image first,
re-saved by Pillow and labelled ``image/jpeg``. It sends the sheet's prompts exactly as stored,
keeps the rows it cannot send (:mod:`vscbench.benchmarks.released`) and judges with the
released GPT judge and ``sm_eval`` (:mod:`vscbench.judges.released`); ``score --preset paper``
prints the released statistics (:mod:`vscbench.scoring.released`). A preset only fills settings
the user did not set; everything it set is recorded with the run. :data:`DEVIATIONS` lists every
known difference between the paper, the released code and this tool's defaults, with the file
and line of the released code; ``docs/fidelity.md`` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vscbench.experiment.fidelity import DEVIATIONS, deviations_markdown
from vscbench.experiment.inputs import ExperimentError
from vscbench.experiment.spec import Experiment
from vscbench.models.base import BACKENDS
from vscbench.schema import GenerationConfig

PRESETS = ("paper",)
__all__ = ["DEVIATIONS", "PAPER", "PRESETS", "Preset", "apply_preset", "deviations_markdown", "generation_for",
           "get_preset", "preset_judges", "released_samples"]  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """Generation settings (for every provider and per provider), judges and their settings."""

    name: str
    generation: dict[str, Any]
    by_provider: dict[str, dict[str, Any]]
    """Settings for one provider's models (``openai``, ``anthropic``, ``google``); other
    providers get ``other_providers``."""
    other_providers: dict[str, Any]
    judges: tuple[str, ...]
    """The judges when none is given; a given LLM judge spec becomes ``released:SPEC``."""
    judge_options: dict[str, Any]
    description: str
    released_samples: bool = False
    """Ask the samples as the released code does (raw prompts, unsendable rows kept)."""
    added_judges: tuple[str, ...] = field(default_factory=tuple)
    """Judges added to the ones given (the released keyword judge)."""


PAPER = Preset(
    name="paper",
    generation={"max_tokens": 4096, "max_image_side": 0},
    by_provider={
        "openai": {"temperature": 0.0, "text_first": True, "image_format": "file-as-png", "call_style": "released"},
        "anthropic": {"image_format": "pil-native", "call_style": "released"},
        "google": {"image_format": "pil-resave-as-jpeg", "call_style": "released"},
    },
    other_providers={"temperature": 0.0},
    judges=("released:openai:gpt-4o-mini", "sm-eval"),
    judge_options={"temperature": 0.01, "max_tokens": 4096},
    released_samples=True,
    added_judges=("sm-eval",),
    description=(
        "the released VSCBench code: each provider asked as it asks it (OpenAI: temperature 0, max_tokens 4,096, "
        "prompt then the file's bytes labelled image/png; Claude: max_tokens 4,096, no temperature, image then "
        "prompt, Pillow re-encoding; Gemini: no generation settings, image then prompt, labelled image/jpeg), "
        "the sheet's prompts as stored, every row it sends; judged by its GPT judge word for word "
        "(gpt-4o-mini, temperature 0.01, 4,096 tokens) and sm_eval; `score --preset paper` prints its statistics"
    ),
)


def get_preset(name: str) -> Preset:
    if name != PAPER.name:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PAPER


def apply_preset(experiment: Experiment) -> Experiment:
    """The experiment with its preset's settings filled in where none was given.

    A setting given explicitly (in a file or on the command line; pydantic records which) keeps
    its value: ``preset = "paper"`` with ``generation.max_tokens = 1024`` asks 1,024 tokens.
    The per-provider settings are filled per model by :func:`generation_for`. Under ``paper``,
    judges given as LLM specs become the released judge of that model (``openai:M@URL`` ->
    ``released:openai:M@URL``), and ``sm-eval`` is added. Applying a preset twice changes
    nothing more.
    """
    if experiment.preset is None:
        return experiment
    try:
        preset = get_preset(experiment.preset)
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    given = experiment.generation.model_fields_set if "generation" in experiment.model_fields_set else set()
    generation = {k: v for k, v in preset.generation.items() if k not in given}
    update: dict[str, Any] = {"generation": experiment.generation.model_copy(update=generation)}
    judging = experiment.judging
    given_judges = "judging" in experiment.model_fields_set and "judges" in judging.model_fields_set
    judges = preset_judges(preset.name, judging.judges if given_judges else None)
    update["judging"] = judging.model_copy(
        update={"judges": judges, "options": {**preset.judge_options, **judging.options}}
    )
    return experiment.model_copy(update=update)


def preset_judges(name: str, given: list[str] | None) -> list[str]:
    """The judges of a preset: its own when none is given; else the given ones, an LLM judge
    spec turned into the released judge of that model, and the preset's added judges."""
    preset = get_preset(name)
    if not given:
        return list(preset.judges)
    judges = [_as_released(spec) for spec in given]
    return judges + [spec for spec in preset.added_judges if spec not in judges]


def _as_released(spec: str) -> str:
    """An LLM judge spec as the released judge of the same model; other judges as they are."""
    provider = spec.partition(":")[0]
    return f"released:{spec}" if provider in BACKENDS else spec


def generation_for(experiment: Experiment, provider: str) -> GenerationConfig:
    """The generation settings one model is asked with: a preset's settings for its provider,
    where the user set none."""
    if experiment.preset is None:
        return experiment.generation
    preset = get_preset(experiment.preset)
    given = experiment.generation.model_fields_set - set(preset.generation)
    settings = preset.by_provider.get(provider, preset.other_providers)
    return experiment.generation.model_copy(update={k: v for k, v in settings.items() if k not in given})


def released_samples(experiment: Experiment) -> bool:
    """Whether the experiment asks VSCBench's samples as the released code does."""
    return experiment.preset is not None and get_preset(experiment.preset).released_samples
