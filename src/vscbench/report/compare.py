"""Side-by-side scores of several models or methods, optionally against a baseline.

Scores are only comparable when they were computed under the same scoring rule and the same
failure treatment, so :func:`compare` refuses to mix them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vscbench.metrics import SECTIONS, GroupScore, ScoreReport

METRICS = ("sra_s", "sra_u", "sra_a")


@dataclass(frozen=True)
class Comparison:
    """Several :class:`~vscbench.metrics.ScoreReport`, by name, in the order given."""

    reports: dict[str, ScoreReport]
    baseline: str | None = None

    @property
    def names(self) -> list[str]:
        return list(self.reports)

    def overall_rows(self) -> list[dict[str, Any]]:
        """One row per model/method: the three SRA figures, their intervals, pairs, failures and,
        with a baseline, the change of each figure against it (in proportion points)."""
        base = self.reports[self.baseline].overall if self.baseline else None
        rows = []
        for name, report in self.reports.items():
            overall = report.overall
            row: dict[str, Any] = {"name": name, "n": overall.n}
            for metric in METRICS:
                row[metric] = getattr(overall, metric)
                row[f"{metric}_ci"] = overall.ci[metric]
            row["pair_calibration"] = report.pairs.share.value
            row["failures"] = sum(report.failure_counts.values())
            if base is not None:
                for metric in METRICS:
                    mine, theirs = getattr(overall, metric), getattr(base, metric)
                    row[f"delta_{metric}"] = None if mine is None or theirs is None else mine - theirs
            rows.append(row)
        return rows

    def section(self, name: str) -> dict[str, dict[str, GroupScore | None]]:
        """Group -> model -> score, over the union of groups (``None`` where a model lacks one)."""
        per_model = {model: report.section(name) for model, report in self.reports.items()}
        groups = dict.fromkeys(group for scores in per_model.values() for group in scores)
        return {group: {model: per_model[model].get(group) for model in per_model} for group in groups}

    def to_dict(self) -> dict[str, Any]:
        first = next(iter(self.reports.values()))
        out: dict[str, Any] = {
            "rule": first.rule.name,
            "failure_treatment": first.failure_treatment,
            "baseline": self.baseline,
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


def compare(reports: Mapping[str, ScoreReport], baseline: str | None = None) -> Comparison:
    """Put reports side by side; ``baseline`` names the one the others are measured against."""
    if not reports:
        raise ValueError("nothing to compare: pass at least one named ScoreReport")
    if baseline is not None and baseline not in reports:
        raise ValueError(f"baseline {baseline!r} is not among the reports ({', '.join(reports)})")
    settings = {(r.rule.name, r.failure_treatment) for r in reports.values()}
    if len(settings) > 1:
        listed = "; ".join(f"{name}: rule={r.rule.name}, failures={r.failure_treatment}" for name, r in reports.items())
        raise ValueError(
            f"reports were scored under different settings and are not comparable ({listed}); "
            "score them all with the same rule and failure treatment"
        )
    return Comparison(dict(reports), baseline)
