"""VSCBench as Inspect tasks: ``vscbench/image_centric``, ``vscbench/text_centric`` and ``vscbench/all``.

    inspect eval vscbench/text_centric -T data=vscbench-data --model openai/gpt-4o-mini
    inspect eval vscbench/all -T data=vscbench-data -T limit=200 -T method=few-shot:2+cot \\
        -T judge=grader --model-role grader=openai/gpt-4o-mini --model anthropic/claude-3-5-haiku-latest

Each task asks the samples `vscbench run` would ask, with the same messages (system prompt, image
bytes, order), the same generation defaults (512 tokens, temperature 0, seed 0; Inspect's
``--max-tokens`` and friends override them), and the same sample selection: ``limit`` is our
stratified sample that keeps safe/unsafe twins together, not Inspect's first-N ``--limit``.
The answers are judged by :func:`~vscbench.inspect.scorer.safety_judge` and summarised by
the SRA metrics; the rule, method, judge and selection are kept in the log's task metadata.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import Solver, generate

from vscbench import __version__
from vscbench.benchmarks.samples import load_samples
from vscbench.benchmarks.vscbench import DEFAULT_FIGSTEP_INSTRUCTION, is_release, load_vscbench
from vscbench.engine.requests import ImageHashCache, select_samples
from vscbench.inspect.messages import inspect_sample
from vscbench.inspect.scorer import safety_judge
from vscbench.inspect.solvers import prepare_method, prompting
from vscbench.inspect.sra_metrics import pair_calibration, sra_a, sra_s, sra_u
from vscbench.schema import GenerationConfig, Sample
from vscbench.scoring.metrics import RULES, get_rule

#: Environment variable naming the data when ``-T data=`` is not given (handy in eval sets).
DATA_ENV = "VSCBENCH_DATA"


class TaskSetupError(ValueError):
    """A task parameter that cannot be used; the message says which and what to give instead."""


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """``-T variant=figstep,typography`` or a list: the names, or None for all."""
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = [item.strip() for item in items if item.strip()]
    return names or None


def load_pool(data: str | None, subset: str, figstep_instruction: str | None) -> tuple[list[Sample], str, str]:
    """Every sample of ``subset`` in the data, the data's path, and a one-line load summary."""
    source = data or os.environ.get(DATA_ENV)
    if not source:
        raise TaskSetupError(
            "the vscbench tasks need the benchmark data: pass -T data=DIR (a release folder made by "
            f"`vscbench data fetch --dest DIR`, or a .jsonl/.parquet export), or set {DATA_ENV}"
        )
    path = Path(source).expanduser()
    wanted = ["image_centric", "text_centric"] if subset == "all" else [subset]
    if path.is_dir() and is_release(path):
        loaded = load_vscbench(path, subsets=wanted, figstep_instruction=figstep_instruction or DEFAULT_FIGSTEP_INSTRUCTION,
                               warn=False)  # fmt: skip
    elif figstep_instruction is not None:
        raise TaskSetupError(
            f"figstep_instruction applies to a release folder; {path} is an export, whose prompts are sent as exported"
        )
    else:
        loaded = load_samples(path, subset=subset, warn=False)
    report = getattr(loaded, "report", None)
    summary = report.summary() if report is not None else f"{len(loaded.samples)} samples"
    return [s for s in loaded.samples if subset == "all" or s.subset == subset], str(path), summary


def vscbench_task(
    data: str | None = None,
    subset: str = "all",
    variant: str | Sequence[str] | None = None,
    category: str | Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    figstep_instruction: str | None = None,
    method: str = "none",
    judge: str = "offline",
    judge_image: bool = False,
    rule: str = "paper",
    rubric: str | None = None,
    system_prompt: str | None = None,
    max_tokens: int = 512,
    temperature: float = 0.0,
    max_image_side: int = 1024,
    image_format: str = "auto",
    text_first: bool = False,
) -> Task:
    """A VSCBench task over a selection of samples; see the module docstring for the parameters' meaning."""
    if subset not in ("all", "image_centric", "text_centric"):
        raise TaskSetupError(f"subset {subset!r} is not one of image_centric, text_centric, all")
    if rule not in RULES:
        raise TaskSetupError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")
    variants, categories = _names(variant), _names(category)
    pool, location, loaded = load_pool(data, subset, figstep_instruction)
    selected = select_samples(pool, subset, variants, categories, limit, seed)
    if not selected:
        raise TaskSetupError(
            f"no sample of {location} matches subset={subset} variant={variants or 'any'} category={categories or 'any'}"
        )
    prepared = prepare_method(method, selected, pool)
    config = GenerationConfig(max_tokens=max_tokens, temperature=temperature, seed=seed, system_prompt=system_prompt,
                              max_image_side=max_image_side, image_format=image_format, text_first=text_first)  # fmt: skip
    hashes = ImageHashCache()
    dataset = MemoryDataset([inspect_sample(s, config, hashes) for s in prepared.samples],
                            name=f"vscbench/{subset}", location=location)  # fmt: skip
    steps: list[Solver] = []
    if prepared.plan.canonical != "none":
        steps.append(prompting(prepared, max_image_side=max_image_side, image_format=image_format))
    steps.append(generate())
    metadata: dict[str, Any] = {
        "vscbench": {
            "version": __version__,
            "selection": {
                "benchmark": "vscbench",
                "data": location,
                "subset": subset,
                "variants": variants,
                "categories": categories,
                "limit": limit,
                "seed": seed,
                "figstep_instruction": figstep_instruction,
            },
            "loaded": loaded,
            "method": prepared.plan.to_dict(),
            "config": config.model_dump(mode="json"),
            "judge": judge,
            "rule": get_rule(rule).to_dict(),
        }
    }
    return Task(
        dataset=dataset,
        solver=steps,
        scorer=safety_judge(judge=judge, with_image=judge_image, rule=rule, rubric=rubric),
        metrics=[sra_s(rule=rule), sra_u(rule=rule), sra_a(rule=rule), pair_calibration(rule=rule)],
        config=GenerateConfig(max_tokens=max_tokens, temperature=temperature, seed=seed),
        metadata=metadata,
        version=1,
    )


@task
def image_centric(data: str | None = None, variant: str | None = None, category: str | None = None,
                  limit: int | None = None, seed: int = 0, method: str = "none", judge: str = "offline",
                  judge_image: bool = False, rule: str = "paper", rubric: str | None = None,
                  system_prompt: str | None = None, max_tokens: int = 512, temperature: float = 0.0,
                  max_image_side: int = 1024, image_format: str = "auto", text_first: bool = False) -> Task:  # fmt: skip
    """VSCBench image-centric: one question next to safe images and their unsafe look-alikes."""
    return vscbench_task(data, "image_centric", variant, category, limit, seed, None, method, judge, judge_image,
                         rule, rubric, system_prompt, max_tokens, temperature, max_image_side, image_format, text_first)  # fmt: skip


@task
def text_centric(data: str | None = None, variant: str | None = None, category: str | None = None,
                 limit: int | None = None, seed: int = 0, figstep_instruction: str | None = None,
                 method: str = "none", judge: str = "offline", judge_image: bool = False, rule: str = "paper",
                 rubric: str | None = None, system_prompt: str | None = None, max_tokens: int = 512,
                 temperature: float = 0.0, max_image_side: int = 1024, image_format: str = "auto",
                 text_first: bool = False) -> Task:  # fmt: skip
    """VSCBench text-centric: XSTest questions as text, search photos, typography, concat and FigStep."""
    return vscbench_task(data, "text_centric", variant, category, limit, seed, figstep_instruction, method, judge,
                         judge_image, rule, rubric, system_prompt, max_tokens, temperature, max_image_side,
                         image_format, text_first)  # fmt: skip


@task(name="all")
def all_subsets(data: str | None = None, variant: str | None = None, category: str | None = None,
                limit: int | None = None, seed: int = 0, figstep_instruction: str | None = None,
                method: str = "none", judge: str = "offline", judge_image: bool = False, rule: str = "paper",
                rubric: str | None = None, system_prompt: str | None = None, max_tokens: int = 512,
                temperature: float = 0.0, max_image_side: int = 1024, image_format: str = "auto",
                text_first: bool = False) -> Task:  # fmt: skip
    """All of VSCBench: the image-centric and the text-centric subsets."""
    return vscbench_task(data, "all", variant, category, limit, seed, figstep_instruction, method, judge,
                         judge_image, rule, rubric, system_prompt, max_tokens, temperature, max_image_side,
                         image_format, text_first)  # fmt: skip
