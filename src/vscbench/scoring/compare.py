"""Side-by-side scores of several models or methods, optionally against a baseline.

Scores are only comparable when they were computed under the same scoring rule, failure
treatment and judge, so :func:`compare` refuses to mix them. Against a baseline, each change
comes with a paired interval and p-value (:func:`vscbench.scoring.stats.paired_bootstrap`, resampling
whole prompts) over the samples both runs scored; :func:`vscbench.scoring.runs.compare_runs` first
restricts every run to the samples all of them hold, so the figures are like for like.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from vscbench.scoring.detection import paired_detection
from vscbench.scoring.metrics import SECTIONS, GroupScore, ScoreReport
from vscbench.scoring.stats import PairedDelta, paired_bootstrap

METRICS = ("sra_s", "sra_u", "sra_a")
DETECTION_METRICS = ("d_prime", "criterion")


@dataclass(frozen=True)
class Comparison:
    """Several :class:`~vscbench.scoring.metrics.ScoreReport`, by name, in the order given."""

    reports: dict[str, ScoreReport]
    baseline: str | None = None
    left_out: dict[str, int] | None = None
    """Per run: samples left out because another run lacks them (few-shot demonstrations...)."""

    def deltas(self) -> dict[str, dict[str, PairedDelta]]:
        """Per run other than the baseline: the paired change of each SRA figure, d' and c, on the
        samples both runs scored (``left_out``: the samples only one of them scored)."""
        if self.baseline is None:
            return {}
        base = self.reports[self.baseline]
        out = {}
        for name, report in self.reports.items():
            if name == self.baseline:
                continue
            theirs, mine = _correct(base), _correct(report)
            changes = paired_bootstrap(
                theirs, mine, {**base.clusters, **report.clusters}, {**base.sides, **report.sides}
            )
            left_out = len(set(theirs) ^ set(mine))  # scored in one run only (a failure in the other)
            out[name] = {metric: replace(change, left_out=left_out) for metric, change in changes.items()}
            out[name].update(
                paired_detection(theirs, mine, {**base.clusters, **report.clusters}, {**base.sides, **report.sides})
            )
        return out

    @property
    def names(self) -> list[str]:
        return list(self.reports)

    def overall_rows(self) -> list[dict[str, Any]]:
        """One row per model/method: the three SRA figures, their intervals, pairs, failures and,
        with a baseline, the change of each figure against it (in proportion points)."""
        base = self.reports[self.baseline].overall if self.baseline else None
        deltas = self.deltas()
        rows = []
        for name, report in self.reports.items():
            overall = report.overall
            row: dict[str, Any] = {"name": name, "n": overall.n}
            for metric in METRICS:
                row[metric] = getattr(overall, metric)
                row[f"{metric}_ci"] = overall.ci[metric]
            row["pair_calibration"] = report.pairs.share.value
            row["failures"] = sum(report.failure_counts.values())
            detection = overall.detection
            row["d_prime"], row["d_prime_ci"] = detection.d_prime, detection.d_prime_ci
            row["criterion"], row["criterion_ci"] = detection.criterion, detection.criterion_ci
            if base is not None:
                # the change is the paired estimate on the samples both runs scored, with its own
                # interval; never the difference of two figures over different samples
                paired = deltas.get(name, {})
                for metric in METRICS:
                    change = paired.get(metric)
                    row[f"delta_{metric}"] = change.value if change else (0.0 if name == self.baseline else None)
                    if change is not None:
                        row[f"delta_{metric}_ci"] = change.ci
                        row[f"delta_{metric}_p"] = change.p_value
                        row[f"delta_{metric}_left_out"] = change.left_out
                for metric in DETECTION_METRICS:  # paired on the samples both scored
                    if metric in paired:
                        row[f"delta_{metric}"] = paired[metric].value
                        row[f"delta_{metric}_ci"] = paired[metric].ci
                        row[f"delta_{metric}_p"] = paired[metric].p_value
            rows.append(row)
        return rows

    def section(self, name: str) -> dict[str, dict[str, GroupScore | None]]:
        """Group -> model -> score, over the union of groups (``None`` where a model lacks one)."""
        per_model = {model: report.section(name) for model, report in self.reports.items()}
        groups = dict.fromkeys(group for scores in per_model.values() for group in scores)
        return {group: {model: per_model[model].get(group) for model in per_model} for group in groups}

    def to_dict(self) -> dict[str, Any]:
        first = next(iter(self.reports.values()))
        deltas = self.deltas()
        out: dict[str, Any] = {
            "rule": first.rule.name,
            "failure_treatment": first.failure_treatment,
            "intervals": first.intervals,
            "judge": first.provenance.get("judge"),
            "provenance": {name: report.provenance for name, report in self.reports.items()},
            "baseline": self.baseline,
            "left_out": dict(self.left_out or {}),
            "deltas": {name: {m: d.to_dict() for m, d in per.items()} for name, per in deltas.items()},
            "warnings": {name: r.warning() for name, r in self.reports.items() if r.warning()},
            "overall": [
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()} for row in self.overall_rows()
            ],
        }
        for name in SECTIONS:
            out[name] = {
                group: {model: score.to_dict() if score else None for model, score in models.items()}
                for group, models in self.section(name).items()
            }
        return out


def _correct(report: ScoreReport) -> dict[str, bool]:
    return {sample_id: outcome == "correct" for sample_id, outcome in report.outcomes.items() if outcome != "excluded"}


def compare(
    reports: Mapping[str, ScoreReport], baseline: str | None = None, left_out: Mapping[str, int] | None = None
) -> Comparison:
    """Put reports side by side; ``baseline`` names the one the others are measured against."""
    if not reports:
        raise ValueError("nothing to compare: pass at least one named ScoreReport")
    if baseline is not None and baseline not in reports:
        raise ValueError(f"baseline {baseline!r} is not among the reports ({', '.join(reports)})")
    settings = {(r.rule.name, r.failure_treatment, r.intervals) for r in reports.values()}
    if len(settings) > 1:
        listed = "; ".join(
            f"{name}: rule={r.rule.name}, failures={r.failure_treatment}, intervals={r.intervals}"
            for name, r in reports.items()
        )
        raise ValueError(
            f"reports were scored under different settings and are not comparable ({listed}); "
            "score them all with the same rule, failure treatment and interval method"
        )
    judges = {name: (r.provenance.get("judge") or {}).get("key") for name, r in reports.items()}
    if len(set(judges.values())) > 1:
        listed = "; ".join(f"{name}: {key or 'unknown judge'}" for name, key in judges.items())
        raise ValueError(
            f"runs were judged by different judges and are not comparable ({listed}); judge them all with one judge"
        )
    return Comparison(dict(reports), baseline, dict(left_out) if left_out else None)
