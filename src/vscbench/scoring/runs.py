"""Scores of stored runs: a run's samples with the labels of one judge's verdicts (or the run's
own failure outcomes), scored under a rule, with the provenance of every figure (judge, rule,
data, run, model, method, counts, date); several runs compared on the samples all of them hold.

A sample without a response or verdict is ``missing``: the metrics count it apart and never
score it as a refusal or an answer. Which judge key a score uses is decided by
:func:`vscbench.judges.runs.resolve_judge`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vscbench import __version__
from vscbench.judges.base import split_judge_key
from vscbench.judges.harm_runs import harm_flags, resolve_harm
from vscbench.judges.runs import resolve_judge
from vscbench.schema import Response, Sample, utc_now
from vscbench.scoring.compare import Comparison, compare
from vscbench.scoring.cost import report_cost
from vscbench.scoring.metrics import INTERVAL_METHODS, IntervalMethod, ScoreReport, get_rule, score
from vscbench.store import Store, require_run


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


def provenance(store: Store, run: str, judge: str, report: ScoreReport) -> dict[str, object]:
    """What made a score: the run's model, method, data and selection, the judge with its
    version and identity, the rule, failure treatment and interval method, when, and what the
    run and its judge cost (:func:`vscbench.scoring.cost.report_cost`)."""
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
        "placeholder_images": bool(spec and spec.meta.get("placeholder_images")),
        "run_updated": info.updated if info else None,
        "judge": {**identity, "key": judge, "name": name, "version": version},
        "rule": report.rule.name,
        "failures": report.failure_treatment,
        "intervals": INTERVAL_METHODS[report.intervals],
        "samples": report.overall.samples,
        "cost": report_cost(store, run, judge, report.overall),
        "scored_at": utc_now(),
        "vscbench": __version__,
    }


def harm_inputs(store: Store, run: str, rule: str, harm_judge: str | None = None) -> dict[str, Any]:
    """The ``harmful`` and ``harm_judge`` arguments of :func:`score` for a stored run: the
    harmful-content verdicts :func:`resolve_harm` picks, or none. A rule that reads them
    (``strict-harm``) on a run no harmful-content judge has read is refused with the command
    that reads it."""
    key = resolve_harm(store, run, harm_judge)
    if key is None:
        if get_rule(rule).harmful_warning_wrong:
            raise ValueError(
                f"rule {rule} needs harmful-content verdicts and run {run!r} has none; "
                f"read its warnings first: `vscbench judge-harm --run {run}`"
            )
        return {}
    return {"harmful": harm_flags(store, run, key), "harm_judge": key}


def score_run(
    store: Store,
    run: str,
    judge: str,
    rule: str = "paper",
    failures: str = "exclude",
    intervals: IntervalMethod = "cluster",
    harm_judge: str | None = None,
) -> ScoreReport:
    """SRA figures of a stored run under one judge key's verdicts, with their provenance, and
    the harmful-content figures when a harmful-content judge has read the run."""
    samples, labels, _ = run_labels(store, run, judge)
    harm = harm_inputs(store, run, rule, harm_judge)
    report = score(samples, labels, rule=rule, failures=failures, intervals=intervals, **harm)  # type: ignore[arg-type]
    return replace(report, provenance=provenance(store, run, judge, report))


def compare_runs(
    store: Store,
    runs: list[str],
    judge: str | None = None,
    rule: str = "paper",
    failures: str = "exclude",
    intervals: IntervalMethod = "cluster",
    baseline: str | None = None,
    harm_judge: str | None = None,
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
        harm = harm_inputs(store, run, rule, harm_judge)
        report = score(kept, labels, rule=rule, failures=failures, intervals=intervals, **harm)  # type: ignore[arg-type]
        reports[run] = replace(report, provenance=provenance(store, run, keys[run], report))
    return compare(reports, baseline=baseline, left_out=left_out)
