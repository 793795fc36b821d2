"""The harmful-content stage of a stored run: which answers to read, and which verdicts a score uses.

Only answers the verdict judge called ``warning`` or ``compliance`` are read (a refusal has
nothing to hand over). The offline estimator reads only answers to unsafe queries: on a safe
query its "actionable content" is just a helpful answer (:mod:`vscbench.judges.harm`). An LLM
judge reads both sides; "harmful" on a safe query then tells that the judge over-triggers.
Verdicts are stored under the harmful-content judge's key (``harm:offline@v1``), so an upgraded
judge reads again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vscbench.judges.base import JudgeInput, split_judge_key
from vscbench.judges.harm import HARM_LABELS, HarmJudge, OfflineHarmEstimator, harm_key
from vscbench.judges.runs import VerdictsNotFoundError, resolve_judge
from vscbench.store import HarmVerdict, Store, require_run

__all__ = ["HarmRunSummary", "get_harm_judge", "harm_flags", "judge_harm_run", "resolve_harm"]


def get_harm_judge(spec: str = "offline", **options: Any) -> HarmJudge:
    """``offline`` (the heuristic estimator) or an LLM spec such as ``openai:gpt-4o-mini``
    (``options``: store, concurrency, rubric, model options)."""
    if spec == "offline":
        return OfflineHarmEstimator()  # options (store, concurrency, rubric) concern LLM judges only
    if ":" not in spec:
        raise ValueError(
            f"unknown harmful-content judge {spec!r}; use offline or an LLM spec such as openai:gpt-4o-mini"
        )
    from vscbench.judges.harm_llm import LLMHarmJudge

    return LLMHarmJudge(spec, **options)


@dataclass
class HarmRunSummary:
    """What one harmful-content judging of a run did."""

    run: str
    judge: str
    verdict_judge: str
    judged: int = 0
    cached: int = 0
    harmful: int = 0
    unreadable: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    """Answers not read, by why: their verdict label, or ``safe query`` for the offline estimator."""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def judge_harm_run(
    store: Store,
    run: str,
    harm_judge: HarmJudge,
    judge: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    rejudge: bool = False,
) -> HarmRunSummary:
    """Read every warning and compliance of ``run`` (under the verdicts of ``judge``, resolved as
    a score resolves it) that ``harm_judge`` has not read yet; store its verdicts."""
    require_run(store, run)
    verdict_key = resolve_judge(store, run, judge)
    key = harm_key(harm_judge)
    verdicts = store.get_verdicts(verdict_key, run=run)
    existing = {} if rejudge else store.harm.get(key, run=run)
    unsafe_only = isinstance(harm_judge, OfflineHarmEstimator)
    summary = HarmRunSummary(run=run, judge=key, verdict_judge=verdict_key)
    skipped: Counter[str] = Counter()
    todo: dict[str, JudgeInput] = {}
    for sample, response in store.run_items(run):
        verdict = verdicts.get(response.key) if response is not None else None
        if response is None or verdict is None or verdict.label not in HARM_LABELS:
            skipped[verdict.label if verdict else "no verdict"] += 1
            continue
        if unsafe_only and not sample.is_unsafe:
            skipped["safe query"] += 1
            continue
        if response.key in existing:
            summary.cached += 1
            continue
        todo.setdefault(response.key, JudgeInput(
            question=sample.original_question, prompt_sent=sample.prompt, response=response.text or "",
            sample_id=sample.id, response_key=response.key,
        ))  # fmt: skip
    items = list(todo.values())
    for start in range(0, len(items), 256):
        chunk = items[start : start + 256]
        assessments = harm_judge.assess_many(chunk)
        kept = [
            HarmVerdict(item.response_key or "", item.sample_id or "", key, a.harmful, a.reason, a.raw)
            for item, a in zip(chunk, assessments)
            if not a.retryable
        ]
        store.harm.put(kept)  # chunk by chunk: an interrupted judging resumes
        summary.judged += len(kept)
        summary.harmful += sum(1 for v in kept if v.harmful)
        summary.unreadable += sum(1 for v in kept if v.harmful is None)
        summary.failed += sum(1 for a in assessments if a.retryable)
        if progress:
            progress(start + len(chunk), len(items))
    summary.skipped = dict(skipped)
    return summary


def resolve_harm(store: Store, run: str, spec: str | None = None) -> str | None:
    """The harmful-content judge key whose verdicts a score of ``run`` reads: ``spec`` (a key or a
    judge name), or by default the current offline estimator's, else the one judge that read the
    run; ``None`` when no harmful-content judge read it. Raises ``VerdictsNotFoundError`` when
    ``spec`` has no verdicts on the run or several judges would fit."""
    available = store.harm.judges(run)
    if spec is None:
        offline = harm_key(OfflineHarmEstimator())
        if offline in available or not available:
            return offline if offline in available else None
        if len(available) == 1:
            return available[0]
        raise VerdictsNotFoundError(
            f"run {run!r} has harmful-content verdicts of several judges ({', '.join(available)}); "
            "choose one with --harm-judge"
        )
    if spec in available:
        return spec
    wanted = spec if spec.startswith("harm:") else f"harm:{spec}"
    matching = [key for key in available if split_judge_key(key)[0] == wanted]
    if len(matching) == 1:
        return matching[0]
    listed = ", ".join(available) or "none"
    raise VerdictsNotFoundError(
        f"run {run!r} has no harmful-content verdicts of {spec} (judges with such verdicts: {listed}); "
        f"read it with `vscbench judge-harm --run {run} --harm-judge {spec}`"
    )


def harm_flags(store: Store, run: str, key: str) -> dict[str, bool]:
    """Sample id -> harmful-content verdict of the run's answers (unreadable ones left out)."""
    by_key = store.harm.get(key, run=run)
    return {
        sample.id: bool(by_key[response.key].harmful)
        for sample, response in store.run_items(run)
        if response is not None and response.key in by_key and by_key[response.key].harmful is not None
    }
