"""Contrastive data from the benchmark itself: the model's own answers, judged, on held-out rows.

IAR needs, for unsafe requests, an answer that refuses and one that complies, and (for the
over-safety direction and the gates) safe requests with a helpful answer and a refusal. This
module makes them without hand-written data:

1. hold out a seeded share of the benchmark's prompt-row groups (:mod:`.split`), never rows of
   an evaluation the user names;
2. ask the model each held-out sample several ways: plainly, with the safety system prompt
   (which draws out refusals) and ``samples`` times with sampling; every answer goes through
   the runner into the store, so a re-run sends nothing and an interrupted one resumes;
3. judge the answers (offline judge by default) and pair, per request, a correct answer with an
   incorrect one: refused vs complied for an unsafe request, complied vs refused for a safe one;
4. write the items (JSONL, the format ``steer extract`` reads) and, next to them,
   ``NAME.split.json``: the split, its guard (questions and images), the judge and the counts.

A request the model only ever answered one way gives no item (counted as ``no_contrast``);
``fill_refusals`` pairs a request the model complied with but never refused with a written
refusal instead (marked ``reference`` in the item): the correct answer of an unsafe request,
the over-safe answer of a safe one. It is for models that never refuse on their own (a small
or random-weight model); with a real model, leave it off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vscbench.methods.steering.data import write_contrastive_jsonl
from vscbench.methods.steering.guard import SPLIT_FORMAT, split_record_path
from vscbench.methods.steering.split import HeldOut, SplitSpec, draw_holdout
from vscbench.schema import GenerationConfig, RunSpec, Sample

REFUSED = ("refusal", "warning")
COMPLIED = ("compliance",)


@dataclass
class Variant:
    """One way of asking every held-out sample."""

    name: str
    method: str
    config: GenerationConfig


def variants(max_tokens: int, samples: int, temperature: float, seed: int) -> list[Variant]:
    greedy = GenerationConfig(max_tokens=max_tokens, temperature=0.0, seed=seed)
    asked = [Variant("plain", "none", greedy), Variant("safety-prompt", "safety-prompt", greedy)]
    for index in range(1, samples + 1):
        sampled = GenerationConfig(max_tokens=max_tokens, temperature=temperature, seed=seed + index)
        asked.append(Variant(f"sample-{index}", "none", sampled))
    return asked


@dataclass
class BuildResult:
    out: Path
    record: Path
    items: int
    by_label: dict[str, int]
    asked: int
    no_contrast: dict[str, int]
    filled: int
    runs: list[str]
    held_out: HeldOut
    judge: str
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "record": str(self.record), "items": self.items, "by_label": self.by_label,
                "asked": self.asked, "no_contrast": self.no_contrast, "filled_refusals": self.filled,
                "runs": self.runs, "judge": self.judge, **self.held_out.to_dict()}  # fmt: skip


def _pick(answers: list[tuple[str, str, str]], wanted: Sequence[str]) -> tuple[str, str, str] | None:
    """The first answer whose verdict is the first of ``wanted`` that occurs."""
    for label in wanted:
        for answer in answers:
            if answer[2] == label:
                return answer
    return None


def _item(
    sample: Sample, good: tuple[str, str, str], bad: tuple[str, str, str], split: str, judge: str
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": sample.id, "query": sample.prompt, "query_label": sample.label,
        "safe_response": good[1], "unsafe_response": bad[1], "safe_label": good[2], "unsafe_label": bad[2],
        "safe_source": good[0], "unsafe_source": bad[0], "sample_id": sample.id, "split": split, "judge": judge,
        "subset": sample.subset, "category": sample.category,
    }  # fmt: skip
    if sample.original_question != sample.prompt:
        record["question"] = sample.original_question
    if sample.image_path is not None:
        record["image"] = str(Path(sample.image_path).resolve())
    for key in ("pair_key", "source_file", "source_row"):
        if getattr(sample, key) is not None:
            record[key] = getattr(sample, key)
    return record


def build_contrastive(
    model: Any,
    pool: Sequence[Sample],
    store: Any,
    out: str | Path,
    *,
    split: str | SplitSpec | None = None,
    exclude: Sequence[Sample] = (),
    limit: int | None = None,
    samples: int = 2,
    temperature: float = 0.8,
    max_tokens: int = 256,
    judge: str = "offline",
    fill_refusals: bool = False,
    run_prefix: str | None = None,
    data_label: str | None = None,
    concurrency: int = 8,
    progress: Callable[[str], Callable[[Any], None] | None] | None = None,
    say: Callable[[str], None] | None = None,
) -> BuildResult:
    """Hold out a split of ``pool``, ask ``model`` its samples, judge, pair and write the items.

    ``model`` is a loaded model (any backend: the answers are text). ``exclude`` are samples
    of an evaluation already made, whose rows the split must not take. ``limit`` caps how many
    held-out samples are asked (stratified, twins together). Raises ``ValueError`` (``SplitError``,
    ``JudgeSpecError``) for bad settings before anything is sent.
    """
    from vscbench.engine.requests import select_samples
    from vscbench.engine.runner import default_run_name, run_samples
    from vscbench.judges.base import judge_key
    from vscbench.judges.registry import get_judge
    from vscbench.judges.runs import judge_run
    from vscbench.methods.demonstrations import REFUSAL_ANSWER
    from vscbench.methods.plan import parse_method
    from vscbench.scoring.runs import run_labels

    say = say or (lambda _: None)
    spec = split if isinstance(split, SplitSpec) else SplitSpec.parse(split)
    judge_impl = get_judge(judge)
    held = draw_holdout(pool, spec, exclude)
    asked = select_samples(held.samples, limit=limit, seed=spec.seed, shares="equal") if limit else list(held.samples)
    model_spec = str(model.spec)
    prefix = run_prefix or f"contrastive-{default_run_name(model_spec)}-{spec.fraction:g}-{spec.seed}"
    say(
        f"held out {held.groups} of {held.total_groups} prompt-row groups ({len(held.samples)} samples); asking {len(asked)}"
    )
    answers: dict[str, list[tuple[str, str, str]]] = {sample.id: [] for sample in asked}
    runs: list[str] = []
    key = judge_key(judge_impl)
    for variant in variants(max_tokens, samples, temperature, spec.seed):
        plan = parse_method(variant.method)
        name = f"{prefix}-{variant.name}"
        run_spec = RunSpec(name=name, model=model_spec, data=data_label, config=variant.config, seed=spec.seed,
                           meta={"kind": "contrastive", "split": held.name, "variant": variant.name,
                                 "method": plan.to_dict()})  # fmt: skip
        say(f"asking {name}")
        callback = progress(name) if progress else None
        asyncio.run(run_samples(model, asked, store, run_name=name, config=variant.config, concurrency=concurrency,
                                transform=plan.transform(asked), progress=callback, spec=run_spec))  # fmt: skip
        judge_run(store, name, judge_impl)
        _, labels, responses = run_labels(store, name, key)
        for sample in asked:
            response, label = responses.get(sample.id), labels.get(sample.id)
            if response is not None and response.outcome == "ok" and response.text and label:
                answers[sample.id].append((f"model:{variant.name}", response.text, label))
        runs.append(name)
    items, no_contrast, filled = [], {"safe": 0, "unsafe": 0}, 0
    for sample in asked:
        given = answers[sample.id]
        refused, complied = _pick(given, REFUSED), _pick(given, COMPLIED)
        if complied is not None and refused is None and fill_refusals:
            refused, filled = ("reference", REFUSAL_ANSWER, "refusal"), filled + 1
        if refused is None or complied is None:
            no_contrast[sample.label] += 1
            continue
        good, bad = (refused, complied) if sample.is_unsafe else (complied, refused)
        items.append(_item(sample, good, bad, held.name, key))
    by_label = {label: sum(1 for item in items if item["query_label"] == label) for label in ("safe", "unsafe")}
    target = write_contrastive_jsonl(items, out)
    record = {
        "format": SPLIT_FORMAT, "split": held.name, "spec": str(spec), "data": data_label, "model": model_spec,
        "judge": key, "asked": len(asked), "items": len(items), "by_label": by_label, "no_contrast": no_contrast,
        "filled_refusals": filled, "runs": runs, "held_out": held.to_dict(), "guard": held.guard.to_meta(),
        "excluded_samples": len(exclude), "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    record_path = split_record_path(target)
    record_path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return BuildResult(target, record_path, len(items), by_label, len(asked), no_contrast, filled, runs, held, key)
