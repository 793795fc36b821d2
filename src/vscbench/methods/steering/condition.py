"""Conditional steering (CAST-style): steer only when the request looks like a harmful one.

Fixed-strength mass-mean steering pushes every answer, so it buys refusals of unsafe queries
with refusals of safe ones. Conditional activation steering (Lee et al., "Programming Refusal
with Conditional Activation Steering", 2024) first asks whether the prompt's hidden state lies
on the harmful side of a *condition direction*, and steers only then.

Here the condition direction ``c`` is the normalised difference between the mean last-prompt-
token activations of unsafe and of safe requests (the contrastive items' queries), at the
steering block; ``mu`` is the midpoint of the two means. A prompt's score is the cosine between
``h - mu`` and ``c`` (scale-free, so the same threshold holds at every token), and steering is
applied when the score reaches a threshold learned on the contrastive split: the one with the
best balanced accuracy between the unsafe and safe requests, half way between neighbouring
scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any


@dataclass
class ConditionVector:
    """Steer a row when ``cos(h - center, direction) >= threshold`` at the prompt's last token."""

    direction: Any  # torch.Tensor [hidden], float32, unit norm
    center: Any  # torch.Tensor [hidden], float32
    threshold: float
    balanced_accuracy: float | None = None
    n_unsafe: int = 0
    n_safe: int = 0

    def score(self, hidden: Any) -> Any:
        """Scores of a [batch, hidden] tensor, in float32."""
        import torch

        direction = self.direction.to(device=hidden.device, dtype=torch.float32)
        center = self.center.to(device=hidden.device, dtype=torch.float32)
        return torch.nn.functional.cosine_similarity(hidden.float() - center, direction[None, :], dim=-1)

    def to_meta(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "balanced_accuracy": self.balanced_accuracy,
                "n_unsafe": self.n_unsafe, "n_safe": self.n_safe}  # fmt: skip


def best_threshold(scores: list[float], unsafe: list[bool]) -> tuple[float, float]:
    """(threshold, balanced accuracy) of the rule ``score >= threshold -> unsafe`` that best
    separates the labels; thresholds lie half way between neighbouring distinct scores."""
    positives = sum(unsafe)
    negatives = len(unsafe) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("a condition threshold needs unsafe and safe requests")
    distinct = sorted(set(scores))
    candidates = [distinct[0] - 1e-6] + [(a + b) / 2 for a, b in pairwise(distinct)] + [distinct[-1] + 1e-6]
    best = (candidates[0], -1.0)
    for threshold in candidates:
        hits = sum(1 for s, u in zip(scores, unsafe) if u and s >= threshold)
        rejections = sum(1 for s, u in zip(scores, unsafe) if not u and s < threshold)
        accuracy = (hits / positives + rejections / negatives) / 2
        if accuracy > best[1] + 1e-12:
            best = (threshold, accuracy)
    return best


def fit_condition(features: Any, unsafe: list[bool]) -> ConditionVector:
    """The condition direction, midpoint and threshold from prompt activations [n, hidden]."""
    import torch

    flags = torch.tensor(unsafe, dtype=torch.bool)
    if int(flags.sum()) == 0 or int((~flags).sum()) == 0:
        raise ValueError("a condition vector needs unsafe and safe requests")
    values = features.float()
    unsafe_mean, safe_mean = values[flags].mean(0), values[~flags].mean(0)
    difference = unsafe_mean - safe_mean
    norm = float(difference.norm())
    if norm == 0.0:
        raise ValueError("unsafe and safe requests have the same mean activation: no condition direction")
    condition = ConditionVector(direction=difference / norm, center=(unsafe_mean + safe_mean) / 2, threshold=0.0,
                                n_unsafe=int(flags.sum()), n_safe=int((~flags).sum()))  # fmt: skip
    scores = condition.score(values).tolist()
    condition.threshold, condition.balanced_accuracy = best_threshold(scores, list(unsafe))
    return condition
