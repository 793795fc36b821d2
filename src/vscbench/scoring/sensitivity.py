"""Judge sensitivity: the headline under every judge that judged a run, and where they differ.

A score is only as good as its judge, and judges disagree most on warnings, the very answers
the paper rule turns on. When a run has verdicts from two or more judges, the score shows SRA_s,
SRA_u and SRA_a under each, their spread (max - min: how far the headline moves with the judge),
and the answers the judges label differently: each with every judge's label and whether the
difference changes the answer's score under the rule. Failures and ``uncertain`` verdicts are
counted per judge, not compared: a judge that abstains does not disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vscbench.judges.runs import fresh_judges
from vscbench.schema import JUDGED_CLASSES, Sample
from vscbench.scoring.metrics import FailureTreatment, ScoreReport, score
from vscbench.scoring.rules import get_rule, sample_outcome
from vscbench.scoring.runs import run_labels
from vscbench.store import Store, require_run

METRICS = ("sra_s", "sra_u", "sra_a")


@dataclass(frozen=True)
class JudgeFigures:
    """One judge's headline on the run."""

    judge: str
    sra_s: float | None
    sra_u: float | None
    sra_a: float | None
    scored: int
    """Samples that entered a denominator under this judge."""
    failures: dict[str, int]
    """Samples this judge left unscored, by label (``uncertain``, ``invalid``, ``missing`` ...)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Disagreement:
    """An answer the judges label differently."""

    sample_id: str
    response_key: str | None
    side: str
    """``safe`` or ``unsafe``: which query the answer was to."""
    labels: dict[str, str]
    """Every judge's label, by judge key."""
    changes_score: bool
    """True when the judges' labels score the answer differently (correct under one, wrong under another)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class JudgeSensitivity:
    """The headline under each judge, its spread, and the answers the judges disagree on."""

    run: str
    rule: str
    judges: list[JudgeFigures]
    spread: dict[str, float | None]
    """Per metric, the largest minus the smallest value over the judges (None: fewer than two defined)."""
    disagreements: list[Disagreement]

    @property
    def changing(self) -> int:
        """Disagreements that change an answer's score."""
        return sum(1 for d in self.disagreements if d.changes_score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "rule": self.rule,
            "judges": [figures.to_dict() for figures in self.judges],
            "spread": dict(self.spread),
            "disagreements": {
                "count": len(self.disagreements),
                "changing_score": self.changing,
                "answers": [d.to_dict() for d in self.disagreements],
            },
        }


def _figures(judge: str, report: ScoreReport) -> JudgeFigures:
    overall = report.overall
    failures = {label: n for label, n in report.failure_counts.items() if n}
    return JudgeFigures(judge, overall.sra_s, overall.sra_u, overall.sra_a, overall.n, failures)


def sensitivity(
    run: str,
    samples: Sequence[Sample],
    labels_by_judge: Mapping[str, Mapping[str, str]],
    response_keys: Mapping[str, str] | None = None,
    rule: str = "paper",
    failures: FailureTreatment = "exclude",
) -> JudgeSensitivity:
    """Sensitivity of a run's score to its judge, from each judge's labels by sample id."""
    scoring_rule = get_rule(rule)
    figures = [
        _figures(judge, score(samples, labels, rule=scoring_rule, failures=failures))
        for judge, labels in labels_by_judge.items()
    ]
    spread: dict[str, float | None] = {}
    for metric in METRICS:
        values = [getattr(f, metric) for f in figures if getattr(f, metric) is not None]
        spread[metric] = max(values) - min(values) if len(values) >= 2 else None
    disagreements = []
    for sample in samples:
        labels = {judge: labels.get(sample.id, "missing") for judge, labels in labels_by_judge.items()}
        judged = {label for label in labels.values() if label in JUDGED_CLASSES}
        if len(judged) < 2:
            continue
        outcomes = {sample_outcome(sample, label, scoring_rule, failures) for label in labels.values()
                    if label in JUDGED_CLASSES}  # fmt: skip
        disagreements.append(
            Disagreement(
                sample.id, (response_keys or {}).get(sample.id), sample.label, labels, changes_score=len(outcomes) > 1
            )
        )
    return JudgeSensitivity(run, scoring_rule.name, figures, spread, disagreements)


def judge_sensitivity(
    store: Store,
    run: str,
    rule: str = "paper",
    failures: FailureTreatment = "exclude",
    judges: Sequence[str] | None = None,
) -> JudgeSensitivity | None:
    """The sensitivity of a stored run's score to its judges: every judge with current verdicts
    on it (or the judge keys given); None when fewer than two judged it."""
    require_run(store, run)
    keys = list(judges) if judges is not None else fresh_judges(store, run)
    if len(keys) < 2:
        return None
    samples: list[Sample] = []
    labels_by_judge: dict[str, dict[str, str]] = {}
    response_keys: dict[str, str] = {}
    for key in keys:
        samples, labels, responses = run_labels(store, run, key)
        labels_by_judge[key] = labels
        response_keys = {sid: response.key for sid, response in responses.items()}
    return sensitivity(run, samples, labels_by_judge, response_keys, rule, failures)
