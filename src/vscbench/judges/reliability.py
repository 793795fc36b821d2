"""How far a judge's confidence can be trusted, measured on labelled answers.

For a judge that states a confidence (:attr:`Judgement.confidence`): a **reliability diagram**
(answers binned by confidence, each bin's accuracy beside its mean confidence: a calibrated
judge's bins lie on the diagonal), the expected calibration error, and **coverage against
accuracy**: keeping only the verdicts at or above a threshold (the judge says ``uncertain``
below it, and a cascade sends those on), how many answers are kept and how often they are right.

:func:`suggest_threshold` picks the lowest threshold, on a grid of 0.001, whose kept verdicts
reach a target accuracy: the most coverage for that accuracy. It is written with three decimals,
so ``offline:threshold=0.873`` abstains on exactly the answers it left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Thresholds shown in the coverage table (the suggested one is added where there is one).
COVERAGE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)
BINS = 10
GRID = 1000
"""Thresholds are searched on steps of 1/GRID."""


@dataclass(frozen=True)
class ReliabilityBin:
    """Answers whose confidence lies in [low, high) (the last bin includes 1.0)."""

    low: float
    high: float
    n: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class CoveragePoint:
    """What a threshold keeps: the share of answers at or above it, and their accuracy."""

    threshold: float
    kept: int
    coverage: float
    accuracy: float | None


@dataclass(frozen=True)
class Calibration:
    """A judge's confidence against the truth, over ``n`` answers that had a confidence."""

    n: int
    bins: list[ReliabilityBin]
    expected_calibration_error: float
    coverage: list[CoveragePoint]
    suggested: CoveragePoint | None = None
    """The threshold that reaches :attr:`target_accuracy` with the most coverage (None: none does)."""
    target_accuracy: float | None = None
    without_confidence: int = 0
    """Answers whose verdict had no confidence (left out of the figures above)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "without_confidence": self.without_confidence,
            "expected_calibration_error": self.expected_calibration_error,
            "bins": [bin.__dict__ for bin in self.bins],
            "coverage": [point.__dict__ for point in self.coverage],
            "target_accuracy": self.target_accuracy,
            "suggested_threshold": self.suggested.__dict__ if self.suggested else None,
        }


def _point(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> CoveragePoint:
    kept = confidence >= threshold - 1e-12
    count = int(kept.sum())
    accuracy = float(correct[kept].mean()) if count else None
    return CoveragePoint(round(threshold, 6), count, count / len(confidence), accuracy)


def suggest_threshold(confidences: Sequence[float], correct: Sequence[bool], target: float) -> CoveragePoint | None:
    """The lowest threshold (a multiple of 0.001) whose kept verdicts reach ``target`` accuracy."""
    confidence = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if not len(confidence):
        return None
    order = np.argsort(-confidence, kind="stable")
    sorted_conf, cumulative = confidence[order], np.cumsum(right[order])
    for step in range(GRID + 1):
        threshold = step / GRID
        kept = int(np.searchsorted(-sorted_conf, -(threshold - 1e-12), side="right"))
        if kept and cumulative[kept - 1] / kept >= target:
            return _point(confidence, right, threshold)
    return None


def calibration(
    confidences: Sequence[float | None], correct: Sequence[bool], target: float | None = None, bins: int = BINS
) -> Calibration | None:
    """Reliability bins, calibration error and coverage of the answers that have a confidence;
    None when no verdict had one (the judge states none)."""
    pairs = [(c, ok) for c, ok in zip(confidences, correct) if c is not None]
    if not pairs:
        return None
    confidence = np.clip(np.array([c for c, _ in pairs], dtype=float), 0.0, 1.0)
    right = np.array([ok for _, ok in pairs], dtype=bool)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    found: list[ReliabilityBin] = []
    error = 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if not count:
            continue
        mean, accuracy = float(confidence[members].mean()), float(right[members].mean())
        found.append(ReliabilityBin(b / bins, (b + 1) / bins, count, mean, accuracy))
        error += count / len(confidence) * abs(mean - accuracy)
    suggested = suggest_threshold(confidence.tolist(), right.tolist(), target) if target is not None else None
    thresholds = sorted({*COVERAGE_THRESHOLDS, *([suggested.threshold] if suggested else [])})
    return Calibration(
        n=len(confidence),
        bins=found,
        expected_calibration_error=error,
        coverage=[_point(confidence, right, t) for t in thresholds],
        suggested=suggested,
        target_accuracy=target,
        without_confidence=len(correct) - len(pairs),
    )
