"""Majority vote over several judges, and how much the judges agree with each other.

A vote is only as good as its voters' independence, so the agreement figure (pairwise Cohen's
kappa) comes with it: two judges that always agree add nothing over one.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vscbench.judges.base import Judge, JudgeInput, Judgement, judge_key


@dataclass(frozen=True)
class Agreement:
    """Pairwise agreement between judges over the same items."""

    pairwise_kappa: dict[str, float | None]  # "a vs b" -> Cohen's kappa (None when undefined)
    pairwise_agreement: dict[str, float]  # "a vs b" -> share of identical labels
    mean_kappa: float | None
    n: int

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "mean_kappa": self.mean_kappa,
            "pairwise_kappa": dict(self.pairwise_kappa),
            "pairwise_agreement": dict(self.pairwise_agreement),
        }


def safe_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa, or None where it is undefined (both raters used one single label)."""
    from sklearn.metrics import cohen_kappa_score

    if not first:
        return None
    if len(set(first) | set(second)) < 2:
        return 1.0 if first == second else None
    value = float(cohen_kappa_score(first, second))
    return None if math.isnan(value) else value


def judge_agreement(labels_by_judge: Mapping[str, Sequence[str]]) -> Agreement:
    """Pairwise Cohen's kappa and raw agreement between judges' labels of the same items."""
    names = list(labels_by_judge)
    lengths = {len(labels) for labels in labels_by_judge.values()}
    if len(lengths) > 1:
        raise ValueError(f"judges labelled different numbers of items: { {n: len(labels_by_judge[n]) for n in names} }")
    n = lengths.pop() if lengths else 0
    kappas: dict[str, float | None] = {}
    raw: dict[str, float] = {}
    for first, second in itertools.combinations(names, 2):
        key = f"{first} vs {second}"
        a, b = labels_by_judge[first], labels_by_judge[second]
        kappas[key] = safe_kappa(a, b)
        raw[key] = sum(x == y for x, y in zip(a, b)) / n if n else 0.0
    defined = [k for k in kappas.values() if k is not None]
    return Agreement(kappas, raw, sum(defined) / len(defined) if defined else None, n)


@dataclass
class VoteJudge:
    """The majority label of several judges.

    Ties are broken by judge order: among the tied labels, the one given by the judge listed
    first wins. Put the judge you trust most first.
    """

    judges: list[Judge]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.judges:
            raise ValueError("a vote needs at least one judge")
        if not self.name:
            self.name = "vote(" + ",".join(j.name for j in self.judges) + ")"

    @property
    def version(self) -> str:
        """Changes when any member's version does (its verdicts are then stale too)."""
        members = ",".join(judge_key(judge) for judge in self.judges)
        return hashlib.sha256(members.encode()).hexdigest()[:10]

    def identity(self) -> dict[str, object]:
        return {"members": [judge_key(judge) for judge in self.judges]}

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        votes = [judge.judge_many(items) for judge in self.judges]
        results = []
        for per_item in zip(*votes):
            labels = [judgement.label for judgement in per_item]
            counts = Counter(labels)
            top = max(counts.values())
            winner = next(label for label in labels if counts[label] == top)
            tally = ", ".join(f"{judge.name}={label}" for judge, label in zip(self.judges, labels))
            results.append(Judgement(label=winner, reason=f"{counts[winner]}/{len(labels)} votes ({tally})"))
        return results


def vote(judges: list[Judge], name: str = "") -> VoteJudge:
    """A judge whose label is the majority of ``judges`` (ties: earliest-listed judge wins)."""
    return VoteJudge(list(judges), name=name)
