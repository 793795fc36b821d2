"""From a stored run to verdicts and scores: the judge and score stages of the pipeline.

Only ``ok`` responses are judged. ``blocked``, ``error`` and ``empty`` responses keep their
outcome as their label, and a sample without a response or verdict is ``missing``: the metrics
count all of these apart and never score them as a refusal or an answer.

Verdicts are stored under the judge's key (``offline@v3``: name and version), so a judge
upgrade re-judges instead of reusing stale verdicts; :func:`resolve_judge` finds which key a
score should use and says so when the verdicts there are stale or absent. Every score made
here carries its provenance (judge, rule, data, run, model, method, counts, date).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from vscbench import __version__
from vscbench.judges.base import Judge, JudgeInput, describe_judge, judge_key, split_judge_key
from vscbench.judges.registry import BUILTIN_JUDGES, JudgeSpecError, get_judge
from vscbench.metrics import INTERVAL_METHODS, MISSING, IntervalMethod, ScoreReport, score
from vscbench.report.compare import Comparison, compare
from vscbench.schema import Response, Sample, Verdict, utc_now
from vscbench.store import Store


class RunNotFoundError(LookupError):
    """A run name that the store does not hold; the message lists the runs it does hold."""


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
    batch = 256
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
            if judgement.reason and judgement.reason not in summary.failure_reasons and len(summary.failure_reasons) < 5:
                summary.failure_reasons.append(judgement.reason)
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
    """Samples of a run, their labels (the verdict of the judge key ``judge``, or the run
    outcome for blocked/error/empty; none for a sample not answered or not judged yet, which
    the metrics count as missing), and their responses."""
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
    """Keys of the judges that have verdicts on this run's responses."""
    return store.run_judges(run)


def current_key(spec: str) -> str | None:
    """The key a built-in judge (offline, keyword, a vote of built-ins) stores verdicts under
    today; ``None`` for an LLM judge, whose key depends on the options it was judged with."""
    members = spec[len("vote:"):].split(",") if spec.startswith("vote:") else [spec]
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
            return offline  # type: ignore[return-value]
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
    raise VerdictsNotFoundError(f"run {run!r} has no verdicts by {spec} (judges with verdicts: {listed}); judge it: {judge_it}")


def provenance(store: Store, run: str, judge: str, report: ScoreReport) -> dict[str, object]:
    """What made a score: the run's model, method, data and selection, the judge with its
    version and identity, the rule, failure treatment and interval method, and when."""
    info = store.run_info(run)
    spec = info.spec if info else store.get_run(run)
    name, version = split_judge_key(judge)
    identity = store.judge_identity(judge) or {}
    return {
        "run": run,
        "model": spec.model if spec else None,
        "method": spec.method if spec else None,
        "benchmark": spec.benchmark if spec else None,
        "data": spec.data if spec else None,
        "selection": spec.selection() if spec else None,
        "preset": spec.preset if spec else None,
        "generation": spec.config.key_fields() if spec else None,
        "run_status": info.status if info else None,
        "run_updated": info.updated if info else None,
        "judge": {**identity, "key": judge, "name": name, "version": version},
        "rule": report.rule.name,
        "failures": report.failure_treatment,
        "intervals": INTERVAL_METHODS[report.intervals],
        "samples": report.overall.samples,
        "scored_at": utc_now(),
        "vscbench": __version__,
    }


def score_run(
    store: Store,
    run: str,
    judge: str,
    rule: str = "paper",
    failures: str = "exclude",
    intervals: IntervalMethod = "cluster",
) -> ScoreReport:
    """SRA figures of a stored run under one judge key's verdicts, with their provenance."""
    samples, labels, _ = run_labels(store, run, judge)
    report = score(samples, labels, rule=rule, failures=failures, intervals=intervals)  # type: ignore[arg-type]
    return replace(report, provenance=provenance(store, run, judge, report))


def run_agreement(store: Store, run: str, judges: list[str]):
    """Agreement (pairwise Cohen's kappa, raw agreement) between judges on the responses of a
    run that every one of them judged."""
    from vscbench.judges.vote import judge_agreement

    require_run(store, run)
    verdicts = {name: store.get_verdicts(name, run=run) for name in judges}
    common = sorted(set.intersection(*(set(v) for v in verdicts.values()))) if verdicts else []
    return judge_agreement({split_judge_key(name)[0]: [verdicts[name][key].label for key in common] for name in judges})


def compare_runs(
    store: Store,
    runs: list[str],
    judge: str | None = None,
    rule: str = "paper",
    failures: str = "exclude",
    intervals: IntervalMethod = "cluster",
    baseline: str | None = None,
) -> Comparison:
    """Runs side by side under one judge, on the samples every run holds.

    Samples one run lacks (a few-shot run's demonstration rows, a smaller ``--limit``) are left
    out of every run, and :attr:`Comparison.left_out` says how many per run. Raises
    :class:`VerdictsNotFoundError` naming the run that lacks the judge's verdicts, and
    ``ValueError`` when the runs were judged by different judges.
    """
    keys = {run: resolve_judge(store, run, judge) for run in runs}
    if len(set(keys.values())) > 1:
        listed = "; ".join(f"{run}: {key}" for run, key in keys.items())
        raise ValueError(
            f"the runs were judged by different judges ({listed}); compare them under one judge with --judge NAME "
            "(judge every run with it first)"
        )
    loaded = {run: run_labels(store, run, keys[run]) for run in runs}
    common = set.intersection(*({s.id for s in samples} for samples, _, _ in loaded.values()))
    reports: dict[str, ScoreReport] = {}
    left_out: dict[str, int] = {}
    for run, (samples, labels, _) in loaded.items():
        kept = [s for s in samples if s.id in common]
        left_out[run] = len(samples) - len(kept)
        report = score(kept, labels, rule=rule, failures=failures, intervals=intervals)  # type: ignore[arg-type]
        reports[run] = replace(report, provenance=provenance(store, run, keys[run], report))
    return compare(reports, baseline=baseline, left_out=left_out)
