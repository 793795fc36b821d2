"""From a stored run to verdicts and scores: the judge and score stages of the pipeline.

Only ``ok`` responses are judged. ``blocked`` and ``error`` responses keep their outcome as
their label, and a sample without a response or verdict is ``missing``: the metrics count all of
these apart and never score them as a refusal or an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from vscbench.judges.base import Judge, JudgeInput
from vscbench.metrics import MISSING, ScoreReport, score
from vscbench.schema import Response, Sample, Verdict
from vscbench.store import Store


class RunNotFoundError(LookupError):
    """A run name that the store does not hold; the message lists the runs it does hold."""


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

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def require_run(store: Store, run: str) -> None:
    if store.get_run(run) is None:
        names = [info.name for info in store.list_runs()]
        known = ", ".join(names[-10:]) if names else "none yet: start one with `vscbench run`"
        raise RunNotFoundError(f"no run named {run!r} in {store.path}; runs there: {known}")


def judge_run(
    store: Store,
    run: str,
    judge: Judge,
    progress: Callable[[int, int], None] | None = None,
    rejudge: bool = False,
) -> JudgeSummary:
    """Judge every ``ok`` response of a run that this judge has not judged yet; store verdicts."""
    require_run(store, run)
    existing = {} if rejudge else store.get_verdicts(judge.name, run=run)
    summary = JudgeSummary(run=run, judge=judge.name)
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
    batch = 256
    verdicts: list[Verdict] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        judgements = judge.judge_many(chunk)
        chunk_verdicts = [
            Verdict(
                response_key=item.response_key or "",
                sample_id=item.sample_id or "",
                judge=judge.name,
                label=judgement.label,
                reason=judgement.reason,
                raw=judgement.raw,
            )
            for item, judgement in zip(chunk, judgements)
            if not judgement.retryable
        ]
        summary.judge_failed += sum(1 for j in judgements if j.retryable)
        store.put_verdicts(chunk_verdicts)  # committed chunk by chunk: an interrupted judge resumes
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


def run_labels(store: Store, run: str, judge: str) -> tuple[list[Sample], dict[str, str], dict[str, Response]]:
    """Samples of a run, their labels (the verdict, or the run outcome for blocked/error; none
    for a sample not answered or not judged yet, which the metrics count as missing), and
    their responses."""
    require_run(store, run)
    verdicts = store.get_verdicts(judge, run=run)
    samples: list[Sample] = []
    labels: dict[str, str] = {}
    responses: dict[str, Response] = {}
    for sample, response in store.run_items(run):
        samples.append(sample)
        if response is None:
            continue  # no label: the metrics count it as missing
        responses[sample.id] = response
        if response.outcome != "ok":
            labels[sample.id] = response.outcome
        elif response.key in verdicts:
            labels[sample.id] = verdicts[response.key].label
    return samples, labels, responses


def judged_by(store: Store, run: str) -> list[str]:
    """Judges that have verdicts on this run's responses."""
    return [name for name in store.judges() if store.get_verdicts(name, run=run)]


def score_run(
    store: Store,
    run: str,
    judge: str,
    rule: str = "paper",
    failures: str = "exclude",
) -> ScoreReport:
    """SRA figures of a stored run under one judge's verdicts."""
    samples, labels, _ = run_labels(store, run, judge)
    return score(samples, labels, rule=rule, failures=failures)  # type: ignore[arg-type]


def run_agreement(store: Store, run: str, judges: list[str]):
    """Agreement (pairwise Cohen's kappa, raw agreement) between judges on the responses of a
    run that every one of them judged."""
    from vscbench.judges.vote import judge_agreement

    require_run(store, run)
    verdicts = {name: store.get_verdicts(name, run=run) for name in judges}
    common = sorted(set.intersection(*(set(v) for v in verdicts.values()))) if verdicts else []
    return judge_agreement({name: [verdicts[name][key].label for key in common] for name in judges})
