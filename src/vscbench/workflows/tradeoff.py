"""The price of calibration: helpfulness runs, and safety set side by side with helpfulness.

VSCBench's finding is that calibration methods buy safety with helpfulness. This module measures
both sides with the same run engine and store:

* :func:`vscbench.workflows.utility.run_utility` asks a model POPE or ScienceQA through
  :func:`vscbench.experiment.run_experiment` (kept in its own module: the experiment scores
  utility runs with this one);
* :func:`score_utility_run` scores a stored utility run again, from the store alone.
* :func:`tradeoff` groups stored safety and utility runs by (model, method) and reports SRA_s,
  SRA_u, SRA_a, POPE F1 and ScienceQA accuracy, each with its change against the model's
  uncalibrated baseline; marks each model's Pareto front of (SRA_a, utility accuracy) and tests
  the utility change paired, calling a method "free" only when its interval includes 0
  (:mod:`vscbench.scoring.frontier`).

A run is told apart as safety or utility by the subsets of the samples it stored, not by its
name, so runs made by any command (or a notebook) can be compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vscbench.engine.runner import default_run_name
from vscbench.judges.base import Judge, judge_key
from vscbench.judges.runs import judge_run, require_run
from vscbench.schema import Response, RunSpec, Sample
from vscbench.scoring.frontier import UtilityVerdict, pareto_front, utility_change, utility_verdict
from vscbench.scoring.metrics import Interval, ScoreReport, cluster_of, score
from vscbench.scoring.runs import run_labels
from vscbench.scoring.stats import PairedDelta
from vscbench.scoring.utility.metrics import Estimate, UtilityReport, score_utility
from vscbench.scoring.utility.runs import (
    RunKindError,
    run_kind,
    score_utility_run,
    utility_items,
)
from vscbench.store import Store

#: Figures of a trade-off row, in table order; deltas are taken for each.
METRICS = ("sra_s", "sra_u", "sra_a", "pope_f1", "pope_accuracy", "scienceqa_accuracy")


# ---------------------------------------------------------------------------------------------
# Trade-off table


@dataclass
class TradeoffRow:
    """One (model, method): its safety and utility figures and their change against baseline."""

    model: str
    method: str
    safety_runs: list[str] = field(default_factory=list)
    utility_runs: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, Interval | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    baseline: str | None = None
    """The method this row is compared against (``None`` for a baseline, or when it is absent)."""
    deltas: dict[str, float | None] = field(default_factory=dict)
    safety: ScoreReport | None = None
    utility: UtilityReport | None = None
    utility_correct: dict[str, bool] = field(default_factory=dict, repr=False)
    """Per utility sample id: answered correctly (POPE and ScienceQA together)."""
    utility_units: dict[str, str] = field(default_factory=dict, repr=False)
    utility_change: PairedDelta | None = None
    """Utility accuracy against the baseline method, paired on the samples both answered."""
    utility_verdict: UtilityVerdict | None = None
    """``free`` only when the utility change's interval includes 0 (see :mod:`vscbench.scoring.frontier`)."""
    pareto: bool | None = None
    """On the Pareto front of (SRA_a, utility accuracy on the utility samples all of this model's
    rows answered) among this model's methods; ``None`` when the row lacks one of the two."""

    @property
    def utility_accuracy(self) -> float | None:
        """Share of all utility samples answered correctly (POPE and ScienceQA pooled)."""
        return sum(self.utility_correct.values()) / len(self.utility_correct) if self.utility_correct else None

    @property
    def name(self) -> str:
        return f"{default_run_name(self.model)}:{self.method}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "method": self.method, "safety_runs": self.safety_runs,
            "utility_runs": self.utility_runs, **{m: self.values.get(m) for m in METRICS},
            "ci": {m: list(ci) if ci else None for m, ci in self.intervals.items()},
            "counts": self.counts, "baseline": self.baseline,
            "deltas": {m: self.deltas.get(m) for m in METRICS} if self.baseline else None,
            "utility_accuracy": self.utility_accuracy, "pareto": self.pareto,
            "utility_change": self.utility_change.to_dict() if self.utility_change else None,
            "utility_verdict": self.utility_verdict,
        }  # fmt: skip


@dataclass
class TradeoffTable:
    """Rows per (model, method), in the order their first run was given."""

    rows: list[TradeoffRow]
    judge: str
    baseline_method: str
    rule: str = "paper"

    def row(self, model: str, method: str) -> TradeoffRow | None:
        return next((r for r in self.rows if (r.model, r.method) == (model, method)), None)

    def points(self, utility: str = "pope_f1") -> list[Any]:
        """Rows with SRA_a and ``utility`` as :class:`~vscbench.report.plots.TradeoffPoint`, each
        calibrated row pointing at its baseline (when that is a point too)."""
        from vscbench.report.plots import TradeoffPoint

        if utility not in METRICS:
            raise ValueError(f"unknown utility figure {utility!r}; use one of {', '.join(METRICS[3:])}")
        names = _display_names(self.rows)
        plotted = [r for r in self.rows if r.values.get("sra_a") is not None and r.values.get(utility) is not None]
        keys = {(r.model, r.method) for r in plotted}
        return [
            TradeoffPoint(
                name=names[id(r)],
                sra_a=r.values["sra_a"],  # type: ignore[arg-type]  # plotted rows have both figures
                utility=r.values[utility],  # type: ignore[arg-type]
                baseline=names[id(self.row(r.model, r.baseline))]
                if r.baseline and (r.model, r.baseline) in keys
                else None,
                sra_a_ci=r.intervals.get("sra_a"),
            )
            for r in plotted
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "rule": self.rule, "baseline_method": self.baseline_method,
                "rows": [row.to_dict() for row in self.rows]}  # fmt: skip


def _display_names(rows: Sequence[TradeoffRow]) -> dict[int, str]:
    """Short ``model:method`` labels; the full model spec where two models share a short name."""
    short = [row.name for row in rows]
    return {id(row): row.name if short.count(row.name) == 1 else f"{row.model}:{row.method}" for row in rows}


def tradeoff(
    store: Store,
    runs: Sequence[str],
    judge: str | Judge = "offline",
    baseline: str = "none",
    rule: str = "paper",
    failures: str = "exclude",
) -> TradeoffTable:
    """Safety and utility of each (model, method) among ``runs``, and the change against baseline.

    Safety runs are judged with ``judge`` where they have no verdict from it yet (a spec such as
    ``offline`` or a :class:`~vscbench.judges.base.Judge`). Several runs of one (model, method)
    and kind are pooled (e.g. an image-centric and a text-centric run). ``baseline`` is the
    method each model is compared against (``none``, the uncalibrated model), or the name of a
    run whose method is used.
    """
    if isinstance(judge, str):
        from vscbench.judges.registry import get_judge

        judge = get_judge(judge)
    if not runs:
        raise ValueError("give at least one run")
    safety: dict[tuple[str, str], list[str]] = defaultdict(list)
    utility: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    order: list[tuple[str, str]] = []
    specs: dict[str, RunSpec] = {}
    for run in dict.fromkeys(runs):
        require_run(store, run)
        spec = store.get_run(run)
        assert spec is not None
        specs[run] = spec
        samples = [sample for sample, _ in store.run_items(run)]
        key = (spec.model, spec.method)
        if key not in order:
            order.append(key)
        if run_kind(samples, run) == "safety":
            safety[key].append(run)
        else:
            for benchmark in sorted({s.subset for s in samples}):
                utility[key][benchmark].append(run)
    baseline_method = specs[baseline].method if baseline in specs else baseline
    models = list(dict.fromkeys(model for model, _ in order))
    order.sort(key=lambda key: (models.index(key[0]), key[1] != baseline_method))  # baseline first
    rows = []
    for key in order:
        row = TradeoffRow(model=key[0], method=key[1], safety_runs=safety.get(key, []),
                          utility_runs={b: list(r) for b, r in utility.get(key, {}).items()})  # fmt: skip
        if row.safety_runs:
            _add_safety(row, store, judge, rule, failures)
        if row.utility_runs:
            _add_utility(row, store)
        rows.append(row)
    for row in rows:
        base = next((r for r in rows if (r.model, r.method) == (row.model, baseline_method)), None)
        if base is None or base is row:
            continue
        row.baseline = baseline_method
        for metric in METRICS:
            mine, theirs = row.values.get(metric), base.values.get(metric)
            row.deltas[metric] = None if mine is None or theirs is None else mine - theirs
        if row.utility_correct and base.utility_correct:
            units = {**base.utility_units, **row.utility_units}
            row.utility_change = utility_change(base.utility_correct, row.utility_correct, units)
            row.utility_verdict = utility_verdict(row.utility_change)
    _mark_front(rows)
    return TradeoffTable(rows=rows, judge=judge.name, baseline_method=baseline_method, rule=rule)


def _mark_front(rows: Sequence[TradeoffRow]) -> None:
    """Mark each model's rows on the Pareto front of (SRA_a, utility accuracy), the accuracy
    taken on the utility samples all those rows answered, so that every point is measured alike."""
    for model in dict.fromkeys(row.model for row in rows):
        mine = [r for r in rows if r.model == model and r.values.get("sra_a") is not None and r.utility_correct]
        common = set.intersection(*(set(r.utility_correct) for r in mine)) if mine else set()
        placed = {
            r.method: (float(r.values["sra_a"] or 0.0), sum(r.utility_correct[i] for i in common) / len(common))
            for r in mine
            if common
        }
        front = pareto_front(placed)
        for row in mine:
            if row.method in placed:
                row.pareto = row.method in front


def _add_safety(row: TradeoffRow, store: Store, judge: Judge, rule: str, failures: str) -> None:
    samples: dict[str, Sample] = {}
    labels: dict[str, str] = {}
    for run in row.safety_runs:
        judge_run(store, run, judge)  # only responses this judge has not seen yet
        run_samples, run_label, _ = run_labels(store, run, judge_key(judge))
        for sample in run_samples:
            if sample.id not in samples:  # a sample in two runs of one method is counted once
                samples[sample.id] = sample
                if sample.id in run_label:
                    labels[sample.id] = run_label[sample.id]
    report = score(list(samples.values()), labels, rule=rule, failures=failures)  # type: ignore[arg-type]
    row.safety = report
    overall = report.overall
    for metric in ("sra_s", "sra_u", "sra_a"):
        row.values[metric] = getattr(overall, metric)
        row.intervals[metric] = overall.ci[metric]
    row.counts["safety_samples"] = overall.samples
    row.counts["safety_failures"] = sum(report.failure_counts.values())


def _add_utility(row: TradeoffRow, store: Store) -> None:
    samples: dict[str, Sample] = {}
    responses: dict[str, Response | None] = {}
    for run in (r for runs in row.utility_runs.values() for r in runs):
        run_samples, run_responses = utility_items(store, run)
        for sample in run_samples:
            if sample.id not in samples:
                samples[sample.id] = sample
                responses[sample.id] = run_responses[sample.id]
    report = score_utility(list(samples.values()), responses)
    row.utility = report
    row.utility_correct = {answer.sample_id: answer.status == "correct" for answer in report.answers}
    row.utility_units = {sample_id: cluster_of(sample) for sample_id, sample in samples.items()}
    if report.pope is not None:
        pope = report.pope.overall
        for metric, estimate in (("pope_f1", pope.f1), ("pope_accuracy", pope.accuracy)):  # type: ignore[union-attr]
            row.values[metric] = estimate.value
            row.intervals[metric] = _interval(estimate)
        row.counts["pope_samples"] = pope.n
    if report.scienceqa is not None:
        accuracy = report.scienceqa.overall.accuracy
        row.values["scienceqa_accuracy"] = accuracy.value
        row.intervals["scienceqa_accuracy"] = _interval(accuracy)
        row.counts["scienceqa_samples"] = report.scienceqa.overall.n
    row.counts["unextractable"] = sum(1 for a in report.answers if a.status == "unextractable")
    row.counts["no_response"] = len(report.no_response_ids)


__all__ = ["METRICS", "RunKindError", "TradeoffRow", "TradeoffTable", "run_kind", "score_utility_run", "tradeoff"]


def _interval(estimate: Estimate) -> tuple[float, float] | None:
    return (estimate.low, estimate.high) if estimate.low is not None and estimate.high is not None else None
