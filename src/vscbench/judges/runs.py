"""The judge stage of a stored run: which responses a judge still has to read, their verdicts
stored under the judge's key, and which key a later score should use.

Only ``ok`` responses are judged. ``blocked``, ``error`` and ``empty`` responses keep their
outcome as their label, and a sample without a response or verdict is ``missing``.

Verdicts are stored under the judge's key (``offline@v3``: name and version), so a judge
upgrade re-judges instead of reusing stale verdicts; :func:`resolve_judge` finds which key a
score should use and says so when the verdicts there are stale or absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vscbench.judges.base import Judge, JudgeInput, describe_judge, judge_key, split_judge_key
from vscbench.judges.registry import BUILTIN_JUDGES, JudgeSpecError, get_judge
from vscbench.schema import MISSING, Verdict
from vscbench.store import RunNotFoundError, Store, require_run

__all__ = [
    "JudgeSummary", "RunNotFoundError", "VerdictsNotFoundError", "current_key", "judge_run", "judged_by",
    "require_run", "resolve_judge", "run_agreement",
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

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def judge_run(
    store: Store,
    run: str,
    judge: Judge,
    progress: Callable[[int, int], None] | None = None,
    rejudge: bool = False,
) -> JudgeSummary:
    """Judge every ``ok`` response of a run that this judge (at its current version) has not
    judged yet; store verdicts under the judge's key."""
    require_run(store, run)
    key = judge_key(judge)
    store.put_judge(key, judge.name, judge.version, describe_judge(judge))
    existing = {} if rejudge else store.get_verdicts(key, run=run)
    summary = JudgeSummary(run=run, judge=key, judge_name=judge.name, judge_version=judge.version)
    todo: dict[str, JudgeInput] = {}
    not_judged: dict[str, int] = {}
    for sample, response in store.run_items(run):
        if response is None or response.outcome != "ok":
            outcome = response.outcome if response is not None else MISSING
            not_judged[outcome] = not_judged.get(outcome, 0) + 1
            continue
        if response.key in existing:
            summary.cached += 1
            continue
        todo.setdefault(
            response.key,
            JudgeInput(
                question=sample.original_question,
                prompt_sent=sample.prompt,
                response=response.text or "",
                image_path=str(sample.image_path) if sample.image_path else None,
                sample_id=sample.id,
                response_key=response.key,
            ),
        )
    items = list(todo.values())
    batch = int(getattr(judge, "chunk_size", 256))  # a provider batch judge takes them all at once
    verdicts: list[Verdict] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        judgements = judge.judge_many(chunk)
        chunk_verdicts = [
            Verdict(
                response_key=item.response_key or "",
                sample_id=item.sample_id or "",
                judge=key,
                label=judgement.label,
                reason=judgement.reason,
                raw=judgement.raw,
            )
            for item, judgement in zip(chunk, judgements)
            if not judgement.retryable
        ]
        failed = [j for j in judgements if j.retryable]
        summary.judge_failed += len(failed)
        for judgement in failed:
            if (
                judgement.reason
                and judgement.reason not in summary.failure_reasons
                and len(summary.failure_reasons) < 5
            ):
                summary.failure_reasons.append(judgement.reason)
        store.put_verdicts(chunk_verdicts)  # committed chunk by chunk: an interrupted judge resumes
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
    summary.not_judged = not_judged
    labels: dict[str, int] = {}
    for verdict in verdicts:
        labels[verdict.label] = labels.get(verdict.label, 0) + 1
    summary.labels = labels
    return summary


def judged_by(store: Store, run: str) -> list[str]:
    """Keys of the judges that have verdicts on this run's responses."""
    return store.run_judges(run)


def current_key(spec: str) -> str | None:
    """The key a built-in judge (offline, keyword, a vote of built-ins) stores verdicts under
    today; ``None`` for an LLM judge, whose key depends on the options it was judged with."""
    members = spec[len("vote:") :].split(",") if spec.startswith("vote:") else [spec]
    if not all(member.strip() in BUILTIN_JUDGES for member in members):
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

    ``spec`` is a key (``offline@v3``), a judge name (``offline``, ``keyword``,
    ``openai:gpt-4o-mini``) or ``None`` for the default: the current offline judge if it has
    judged the run, else the one judge that has. Stale verdicts (of an older version of a
    built-in judge) are never used: the error says to judge again.
    """
    require_run(store, run)
    available = judged_by(store, run)
    listed = ", ".join(available) or "none"
    name = split_judge_key(spec)[0] if spec else None
    judge_it = f"`vscbench judge --run {run}" + (f" --judge {name}`" if name else "`")
    if spec is None:
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
    if current is None:  # an LLM judge: its name, possibly with +image / +rubric=...
        matching = [
            key for key in available
            if split_judge_key(key)[0] == spec or split_judge_key(key)[0].startswith(spec + "+")
        ]  # fmt: skip
        if len(matching) == 1:
            return matching[0]
        if matching:
            raise VerdictsNotFoundError(
                f"run {run!r} has several verdict sets of {spec} ({', '.join(matching)}); pass one of these keys to --judge"
            )
    raise VerdictsNotFoundError(
        f"run {run!r} has no verdicts by {spec} (judges with verdicts: {listed}); judge it: {judge_it}"
    )


def run_agreement(store: Store, run: str, judges: list[str]):
    """Agreement (pairwise Cohen's kappa, raw agreement) between judges on the responses of a
    run that every one of them judged."""
    from vscbench.judges.vote import judge_agreement

    require_run(store, run)
    verdicts = {name: store.get_verdicts(name, run=run) for name in judges}
    common = sorted(set.intersection(*(set(v) for v in verdicts.values()))) if verdicts else []
    return judge_agreement({split_judge_key(name)[0]: [verdicts[name][key].label for key in common] for name in judges})
