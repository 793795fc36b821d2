"""The judge stage of a stored run: which responses a judge still has to read, their verdicts
stored under the judge's key, and which key a later score should use.

Only ``ok`` responses are judged. ``blocked``, ``error`` and ``empty`` responses keep their
outcome as their label, and a sample without a response or verdict is ``missing``.

Verdicts are stored under the judge's key (``offline@v3``: name and version), so a judge
upgrade re-judges instead of reusing stale verdicts; :func:`resolve_judge` finds which key a
score should use and says so when the verdicts there are stale or absent.

Each verdict keeps the judge's confidence and the key of the judge that decided it. A cascade
(``offline:threshold=0.8>openai:gpt-4o-mini``) also stores its first judge's verdicts under that
judge's own key, and its summary says how many answers it deferred and how many calls of the
next judge that saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vscbench.judges.base import Judge, JudgeInput, Judgement, describe_judge, judge_key, split_judge_key
from vscbench.judges.cascade import CascadeJudge
from vscbench.judges.registry import JudgeSpecError, get_judge, is_builtin
from vscbench.judges.released import input_digest, judged_input, released_inputs
from vscbench.schema import MISSING, Verdict
from vscbench.store import RunNotFoundError, Store, require_run

__all__ = [
    "JudgeSummary", "RunNotFoundError", "VerdictsNotFoundError", "current_key", "fresh_judges", "judge_run",
    "judged_by", "require_run", "resolve_judge", "run_agreement",
]  # fmt: skip


class VerdictsNotFoundError(LookupError):
    """No usable verdicts for a run under the judge asked for (none, or only stale ones); the
    message lists the judges that have verdicts and the command that judges the run."""


@dataclass
class JudgeSummary:
    run: str
    judge: str
    judged: int = 0
    cached: int = 0
    not_judged: dict[str, int] = field(default_factory=dict)
    """Responses that were not sent to the judge, by outcome (blocked, error, missing)."""
    labels: dict[str, int] = field(default_factory=dict)
    judge_failed: int = 0
    """Judge calls that failed (no verdict stored; the next judging retries them)."""
    failure_reasons: list[str] = field(default_factory=list)
    """The first few reasons judge calls failed."""
    judge_name: str = ""
    judge_version: str = ""
    decided_by: dict[str, int] = field(default_factory=dict)
    """New verdicts by the key of the judge that decided them (a cascade's members)."""
    deferred: int | None = None
    """A cascade: answers its first judge was uncertain of, sent to the next judge (None: no cascade)."""
    deferred_to: str | None = None
    """A cascade: the key of the judge the uncertain answers went to."""
    calls_saved: int | None = None
    """A cascade: calls of the next judge it did not make (answers judged minus those deferred)."""
    stand_ins: dict[str, int] = field(default_factory=dict)
    """A released judge (``--preset paper``): samples whose answer was the stand-in, by why."""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _verdicts(key: str, item: JudgeInput, judgement: Judgement) -> list[Verdict]:
    """The verdicts one judgement stores: the judge's own (unless it failed for a passing
    reason) and those of the members it reached on the way, under their keys."""

    def verdict(under: str, j: Judgement) -> Verdict:
        return Verdict(
            response_key=item.response_key or "", sample_id=item.sample_id or "", judge=under, label=j.label,
            reason=j.reason, raw=j.raw, confidence=j.confidence, decided_by=j.decided_by or under,
        )  # fmt: skip

    out = [verdict(stage_key, stage) for stage_key, stage in judgement.stages if not stage.retryable]
    return out if judgement.retryable else [*out, verdict(key, judgement)]


def judge_run(
    store: Store,
    run: str,
    judge: Judge,
    progress: Callable[[int, int], None] | None = None,
    rejudge: bool = False,
) -> JudgeSummary:
    """Judge every ``ok`` response of a run that this judge (at its current version) has not
    judged yet; store verdicts under the judge's key. A released judge (``reads ==
    "released"``) judges every sample instead, as the released evaluation reads it."""
    require_run(store, run)
    key = judge_key(judge)
    store.put_judge(key, judge.name, judge.version, describe_judge(judge))
    stages = judge.stage_judges() if isinstance(judge, CascadeJudge) else []
    for member in stages:
        store.put_judge(judge_key(member), member.name, member.version, describe_judge(member))
    existing = {} if rejudge else store.get_verdicts(key, run=run)
    summary = JudgeSummary(run=run, judge=key, judge_name=judge.name, judge_version=judge.version)
    if getattr(judge, "reads", None) == "released":
        todo = _released_todo(store, run, existing, summary)
    else:
        todo = _answers_todo(store, run, existing, summary)
    items = list(todo.values())
    batch = int(getattr(judge, "chunk_size", 256))  # a provider batch judge takes them all at once
    verdicts: list[Verdict] = []
    deferred = 0
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        judgements = judge.judge_many(chunk)
        deferred += sum(1 for j in judgements if j.deferred_to)
        stored = [v for item, judgement in zip(chunk, judgements) for v in _verdicts(key, item, judgement)]
        chunk_verdicts = [v for v in stored if v.judge == key]
        failed = [j for j in judgements if j.retryable]
        summary.judge_failed += len(failed)
        for judgement in failed:
            if (
                judgement.reason
                and judgement.reason not in summary.failure_reasons
                and len(summary.failure_reasons) < 5
            ):
                summary.failure_reasons.append(judgement.reason)
        store.put_verdicts(stored)  # committed chunk by chunk: an interrupted judge resumes
        store.usage.put_verdict_calls(
            (item.response_key or "", key, call)
            for item, judgement in zip(chunk, judgements)
            if not judgement.retryable
            for call in judgement.calls
        )
        verdicts.extend(chunk_verdicts)
        if progress:
            progress(start + len(chunk), len(items))
    summary.judged = len(verdicts)
    labels: dict[str, int] = {}
    decided: dict[str, int] = {}
    for verdict in verdicts:
        labels[verdict.label] = labels.get(verdict.label, 0) + 1
        decided[verdict.decided_by or key] = decided.get(verdict.decided_by or key, 0) + 1
    summary.labels = labels
    summary.decided_by = decided
    if isinstance(judge, CascadeJudge):
        summary.deferred, summary.deferred_to = deferred, judge.then_key
        summary.calls_saved = len(items) - deferred
    return summary


def _answers_todo(store: Store, run: str, existing: dict[str, Verdict], summary: JudgeSummary) -> dict[str, JudgeInput]:
    """Our judges read the ``ok`` answers not judged yet: the original question, the prompt as
    sent (an LLM judge may leave it out, ``--judge-input question``), the answer and the image."""
    todo: dict[str, JudgeInput] = {}
    for sample, response in store.run_items(run):
        if response is None or response.outcome != "ok":
            outcome = response.outcome if response is not None else MISSING
            summary.not_judged[outcome] = summary.not_judged.get(outcome, 0) + 1
            continue
        if response.key in existing:
            summary.cached += 1
            continue
        todo.setdefault(
            response.key,
            JudgeInput(
                question=sample.original_question, prompt_sent=sample.prompt, response=response.text or "",
                image_path=str(sample.image_path) if sample.image_path else None, sample_id=sample.id,
                response_key=response.key,
            ),
        )  # fmt: skip
    return todo


def _released_todo(
    store: Store, run: str, existing: dict[str, Verdict], summary: JudgeSummary
) -> dict[str, JudgeInput]:
    """A released judge reads every sample as the released evaluation does (stand-ins for
    failures); a stored verdict is reused only while it was judged on the same input."""
    todo: dict[str, JudgeInput] = {}
    seen: set[str] = set()  # samples sharing one answer share its verdict (the first one's question)
    for _, item, stand_in in released_inputs(store, run):
        if stand_in is not None:
            summary.stand_ins[stand_in] = summary.stand_ins.get(stand_in, 0) + 1
        key = item.response_key or ""
        if key in seen:
            continue
        seen.add(key)
        if key in existing and judged_input(existing[key].reason) == input_digest(item):
            summary.cached += 1
        else:
            todo[key] = item
    return todo


def judged_by(store: Store, run: str) -> list[str]:
    """Keys of the judges that have verdicts on this run's responses."""
    return store.run_judges(run)


def fresh_judges(store: Store, run: str) -> list[str]:
    """Keys of the judges with current verdicts on this run (stale versions of built-in judges
    left out): the judges a score can be compared across."""
    return [key for key in judged_by(store, run) if not _stale(key)]


def current_key(spec: str) -> str | None:
    """The key a built-in judge (offline, keyword, a vote or cascade of built-ins) stores
    verdicts under today; ``None`` for an LLM judge, whose key depends on the options it was
    judged with."""
    if not is_builtin(spec):
        return None
    try:
        return judge_key(get_judge(spec))
    except (JudgeSpecError, ValueError):
        return None


def _stale(key: str) -> bool:
    """True for verdicts of a built-in judge that is no longer at that version, or that were
    stored before judges had versions."""
    name, version = split_judge_key(key)
    current = current_key(name)
    if version is None:
        return current is not None
    return current is not None and current != key


def resolve_judge(store: Store, run: str, spec: str | None = None) -> str:
    """The judge key whose verdicts score ``run``.

    ``spec`` is a key (``offline@v3``), or a judge spec exactly as given to ``vscbench judge``
    (``offline``, ``openai:gpt-4o-mini``, ``openai:judge@http://host:8000/v1``,
    ``released:openai:gpt-4o-mini``), resolved to its key the way judging makes it; or
    ``None`` for the default: the first judge the run was judged with when it was made (its
    experiment record), else the current offline judge if it has judged the run, else the one
    judge that has. Stale verdicts (of an older version of a built-in judge) are never used:
    the error says to judge again.
    """
    require_run(store, run)
    available = judged_by(store, run)
    listed = ", ".join(available) or "none"
    name = split_judge_key(spec)[0] if spec else None
    judge_it = f"`vscbench judge --run {run}" + (f" --judge {name}`" if name else "`")
    if spec is None:
        recorded = _recorded_judge(store, run)
        if recorded is not None:
            found = _spec_keys(store, available, *recorded)
            if len(found) == 1 and not _stale(found[0]):
                return found[0]
        fresh = [key for key in available if not _stale(key)]
        offline = current_key("offline")
        if offline in fresh:
            return offline
        if len(fresh) == 1:
            return fresh[0]
        if fresh:
            raise VerdictsNotFoundError(
                f"run {run!r} was judged by several judges ({', '.join(fresh)}); choose one with --judge"
            )
        stale = f" (only stale verdicts, of an older judge version: {listed})" if available else ""
        raise VerdictsNotFoundError(f"run {run!r} has no current verdicts{stale}; judge it first: {judge_it}")
    if spec in available and not _stale(spec):
        return spec
    current = current_key(name or spec)
    if current is not None and current in available:
        return current
    same_name = [key for key in available if split_judge_key(key)[0] == name]
    if current is not None and same_name:
        raise VerdictsNotFoundError(
            f"run {run!r} has verdicts of an older {name} ({', '.join(same_name)}), not of the current "
            f"{current}: the judge changed since; judge again: {judge_it}"
        )
    if current is None:  # an LLM judge: its spec as given to `judge`, or its name with +image / +rubric=...
        matching = _spec_keys(store, available, spec, {})
        if len(matching) == 1:
            return matching[0]
        if matching:
            raise VerdictsNotFoundError(
                f"run {run!r} has several verdict sets of {spec} ({', '.join(matching)}); pass one of these keys to --judge"
            )
    raise VerdictsNotFoundError(
        f"run {run!r} has no verdicts by {spec} (judges with verdicts: {listed}); judge it: "
        f"`vscbench judge --run {run} --judge {spec}`"
    )


def _recorded_judge(store: Store, run: str) -> tuple[str, dict[str, Any]] | None:
    """The first judge of the experiment that made the run, with its options (None when the
    run holds no experiment record or was not judged when it was made)."""
    spec = store.get_run(run)
    judging = ((spec.meta if spec else {}).get("experiment") or {}).get("judging") or {}
    judges = judging.get("judges") or []
    if not judges:
        return None
    options = {"with_image": judging.get("with_image", False), "rubric": judging.get("rubric"),
               **({"judge_input": judging["judge_input"]} if judging.get("judge_input") else {}),
               **(judging.get("options") or {})}  # fmt: skip
    return str(judges[0]), options


def _spec_keys(store: Store, available: list[str], spec: str, options: dict[str, Any]) -> list[str]:
    """The keys among ``available`` that a judge spec's verdicts are stored under: the key the
    judge would store under now, or else the keys of its name (with any +image, +rubric=,
    +released suffix) judged on the same server."""
    try:
        judge = get_judge(spec, **options) if ":" in spec.removeprefix("vote:") else get_judge(spec)
    except (JudgeSpecError, ValueError, OSError, ImportError):
        return [key for key in available if split_judge_key(key)[0] == spec]
    exact = judge_key(judge)
    if exact in available:
        return [exact]
    identity = describe_judge(judge)
    host = identity.get("host")
    out = []
    for key in available:
        name = split_judge_key(key)[0]
        if name != judge.name and not name.startswith(judge.name + "+"):
            continue
        stored = store.judge_identity(key) or {}
        if host is None or stored.get("host") == host:
            out.append(key)
    return out


def run_agreement(store: Store, run: str, judges: list[str]):
    """Agreement (pairwise Cohen's kappa, raw agreement) between judges on the responses of a
    run that every one of them judged."""
    from vscbench.judges.vote import judge_agreement

    require_run(store, run)
    verdicts = {name: store.get_verdicts(name, run=run) for name in judges}
    common = sorted(set.intersection(*(set(v) for v in verdicts.values()))) if verdicts else []
    return judge_agreement({split_judge_key(name)[0]: [verdicts[name][key].label for key in common] for name in judges})
