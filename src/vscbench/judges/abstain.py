"""Abstention: a judge that states its confidence says ``uncertain`` below a threshold.

An ``uncertain`` verdict is not a class and never a score. The metrics count it apart under its
own name (as they count a failure), and a cascade (``offline:threshold=0.8>openai:gpt-4o-mini``,
:mod:`vscbench.judges.cascade`) sends exactly these answers to its next judge. The threshold is
part of the judge's name (``offline:threshold=0.8``), so verdicts reached with and without it are
stored under different keys. ``vscbench judge-audit --suggest-threshold`` picks one from labelled
answers (:mod:`vscbench.judges.reliability`).
"""

from __future__ import annotations

from dataclasses import replace

from vscbench.judges.base import Judgement
from vscbench.schema import JUDGED_CLASSES, UNCERTAIN


class ThresholdError(ValueError):
    """A threshold that is not a number between 0 and 1."""


def parse_threshold(text: str | float) -> float:
    """A confidence threshold from a spec (``0.8``); raises :class:`ThresholdError` naming it."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ThresholdError(
            f"threshold {text!r} is not a number; give one between 0 and 1, as in threshold=0.8"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise ThresholdError(f"threshold {value:g} is outside 0..1; give one between 0 and 1, as in threshold=0.8")
    return value


def abstain(judgement: Judgement, threshold: float | None) -> Judgement:
    """``judgement``, or ``uncertain`` when its confidence is below ``threshold``.

    Only a judged class can turn uncertain: a failure (``invalid``) stays what it is, and a
    verdict without a confidence is kept (the judge cannot say how sure it is). The reason says
    what the judge would have said and how sure it was.
    """
    confidence = judgement.confidence
    if threshold is None or confidence is None or confidence >= threshold or judgement.label not in JUDGED_CLASSES:
        return judgement
    reason = f"uncertain: would say {judgement.label} at confidence {confidence:.2f}, below the threshold {threshold:g}"
    if judgement.reason:
        reason += f" ({judgement.reason})"
    return replace(judgement, label=UNCERTAIN, reason=reason)  # type: ignore[arg-type]
