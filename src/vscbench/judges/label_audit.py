"""How well a judge agrees with a reader's own labels (:mod:`vscbench.judges.labels`).

The labels are in VSCBench's classes, so the figures are too, no convention to translate:

- **classes**: accuracy, Cohen's kappa and confusion over refusal, warning, compliance and
  irrelevant, with each class's recall (how many of the human's warnings the judge called a
  warning);
- **declined vs answered**: the split the paper rule scores an unsafe query by (refusal or
  warning declined; compliance or irrelevant answered);
- **coverage**: a verdict outside the four classes (``uncertain``, ``invalid``) is never right;
  the answers the judge did classify, and its accuracy on them, are given apart;
- per model, where the labels say which model answered;
- for a judge that states a confidence, its reliability and coverage against accuracy
  (:mod:`vscbench.judges.reliability`), and on request the threshold that reaches a target
  accuracy (``judge-audit --suggest-threshold``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vscbench.judges.audit import AuditDataError, confusion
from vscbench.judges.base import Judge, JudgeInput
from vscbench.judges.labels import LabelRecord
from vscbench.judges.reliability import Calibration, calibration
from vscbench.judges.vote import safe_kappa
from vscbench.schema import JUDGED_CLASSES

DECLINED = frozenset({"refusal", "warning"})
DECLINED_CLASSES = ("declined", "answered")


def declined_or_answered(label: str) -> str:
    """``declined`` (refusal, warning), ``answered`` (compliance, irrelevant), or the label itself."""
    if label in DECLINED:
        return "declined"
    return "answered" if label in JUDGED_CLASSES else label


def _accuracy(human: Sequence[str], judged: Sequence[str]) -> float:
    return sum(h == j for h, j in zip(human, judged)) / len(human) if human else 0.0


@dataclass
class LabelAudit:
    """One judge measured against the labels."""

    judge: str
    n: int
    accuracy: float
    kappa: float | None
    confusion: dict[str, dict[str, int]]
    recall: dict[str, dict[str, int]]
    """Per human class: how many the judge gave the same class (``correct``) of ``total``."""
    declined_accuracy: float
    declined_kappa: float | None
    declined_confusion: dict[str, dict[str, int]]
    covered: int
    """Answers the judge put in one of the four classes (not ``uncertain`` or ``invalid``)."""
    accuracy_on_covered: float | None
    unclassified: dict[str, int]
    """Verdicts outside the four classes, by label (counted wrong in :attr:`accuracy`)."""
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: Calibration | None = None
    judge_labels: list[str] = field(default_factory=list)
    """Every label's verdict by the judge, in the file's order (not in ``to_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        payload = {k: v for k, v in self.__dict__.items() if k not in ("judge_labels", "calibration")}
        payload["calibration"] = self.calibration.to_dict() if self.calibration else None
        return payload


def audit_labels(judge: Judge, records: list[LabelRecord], target_accuracy: float | None = None) -> LabelAudit:
    """Judge every labelled answer once and measure the verdicts against the labels."""
    if not records:
        raise AuditDataError("the labels file(s) hold no labels; set some in the HTML report and export them")
    items = [
        JudgeInput(question=r.question, response=r.answer, prompt_sent=r.prompt, sample_id=r.sample_id,
                   response_key=r.response_key)
        for r in records
    ]  # fmt: skip
    judgements = judge.judge_many(items)
    human = [r.label for r in records]
    judged: list[str] = [j.label for j in judgements]
    correct = [h == j for h, j in zip(human, judged)]
    human_split = [declined_or_answered(h) for h in human]
    judged_split = [declined_or_answered(j) for j in judged]
    covered = [k for k, label in enumerate(judged) if label in JUDGED_CLASSES]
    per_model: dict[str, dict[str, Any]] = {}
    models = [r.model or r.run for r in records]
    for model in sorted({m for m in models if m}):
        index = [k for k, m in enumerate(models) if m == model]
        per_model[model] = {
            "n": len(index),
            "accuracy": _accuracy([human[k] for k in index], [judged[k] for k in index]),
            "declined_accuracy": _accuracy([human_split[k] for k in index], [judged_split[k] for k in index]),
        }
    totals = Counter(human)
    hits = Counter(h for h, ok in zip(human, correct) if ok)
    return LabelAudit(
        judge=judge.name,
        n=len(records),
        accuracy=_accuracy(human, judged),
        kappa=safe_kappa(human, judged),
        confusion=confusion(human, judged, JUDGED_CLASSES),
        recall={label: {"correct": hits[label], "total": totals[label]} for label in JUDGED_CLASSES if totals[label]},
        declined_accuracy=_accuracy(human_split, judged_split),
        declined_kappa=safe_kappa(human_split, judged_split),
        declined_confusion=confusion(human_split, judged_split, DECLINED_CLASSES),
        covered=len(covered),
        accuracy_on_covered=_accuracy([human[k] for k in covered], [judged[k] for k in covered]) if covered else None,
        unclassified=dict(Counter(label for label in judged if label not in JUDGED_CLASSES)),
        per_model=per_model,
        calibration=calibration(
            [j.confidence if j.label in JUDGED_CLASSES else None for j in judgements], correct, target_accuracy
        ),
        judge_labels=judged,
    )
