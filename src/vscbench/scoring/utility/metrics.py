"""Helpfulness metrics: POPE accuracy/precision/recall/F1/yes-ratio and ScienceQA accuracy.

Scoring rules, chosen so that a calibration method can neither hide nor inflate what it costs:

* A reply from which no answer can be extracted (see :mod:`vscbench.scoring.utility.answers`) is
  WRONG, and is counted and shown (``unextractable``) rather than guessed at.
* A sample with no reply (the model call failed or was blocked: ``None`` in ``responses``, or
  missing from it) is counted as ``no_response``. By default it is also WRONG, because a user
  got no answer; ``no_response_as_wrong=False`` leaves it out of every denominator instead.
* POPE's positive class is "yes". An unextractable reply to a "yes" question is a miss (it
  lowers recall); to a "no" question it is neither a false alarm nor a correct rejection, so it
  lowers accuracy but not precision. The yes-ratio is the share of all scored replies that said
  yes (the POPE paper's bias indicator; about 0.5 is unbiased on its balanced splits).
* Intervals are 95%: Wilson for proportions, a seeded bootstrap for F1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from vscbench.benchmarks.utility.prompts import OPTION_LETTERS
from vscbench.schema import Sample
from vscbench.scoring.metrics import wilson_interval
from vscbench.scoring.utility.answers import extract_choice, extract_yes_no

AnswerStatus = Literal["correct", "wrong", "unextractable", "no_response"]


@dataclass(frozen=True)
class Estimate:
    """A metric with its 95% interval; all ``None`` when it is undefined (e.g. no "yes" said)."""

    value: float | None
    low: float | None
    high: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def proportion(successes: int, n: int) -> Estimate:
    low, high = wilson_interval(successes, n) or (None, None)
    return Estimate(successes / n if n else None, low, high, "wilson")


def f1_with_bootstrap(tp: int, fp: int, fn: int, n: int, resamples: int = 2000, seed: int = 0) -> Estimate:
    """F1 = 2TP / (2TP + FP + FN) with a percentile bootstrap interval.

    Resampling n rows with replacement only changes how many fall in each confusion cell, so
    the bootstrap draws the cell counts from a multinomial: identical in distribution to
    resampling rows, and fast for any n.
    """
    denominator = 2 * tp + fp + fn
    if n <= 0 or denominator == 0:
        return Estimate(None, None, None, "bootstrap")
    rest = n - tp - fp - fn
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.array([tp, fp, fn, rest], dtype=float) / n, size=resamples)
    denominators = 2 * draws[:, 0] + draws[:, 1] + draws[:, 2]
    valid = denominators > 0
    scores = 2 * draws[valid, 0] / denominators[valid]
    if scores.size == 0:
        return Estimate(2 * tp / denominator, None, None, "bootstrap")
    low, high = np.percentile(scores, [2.5, 97.5])
    return Estimate(2 * tp / denominator, float(low), float(high), "bootstrap")


@dataclass(frozen=True)
class ScoredAnswer:
    """One sample's gold answer, what was extracted from the reply, and the verdict."""

    sample_id: str
    subset: str
    category: str
    gold: str
    predicted: str | None
    status: AnswerStatus

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PopeScores:
    n: int
    correct: int
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    said_yes: int
    unextractable: int
    no_response: int
    accuracy: Estimate
    precision: Estimate
    recall: Estimate
    f1: Estimate
    yes_ratio: Estimate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AccuracyScores:
    n: int
    correct: int
    unextractable: int
    no_response: int
    accuracy: Estimate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pope_scores(
    answers: Sequence[ScoredAnswer], no_response_as_wrong: bool = True, resamples: int = 2000, seed: int = 0
) -> PopeScores:
    """Confusion counts and metrics for POPE answers (``gold``/``predicted`` are "yes"/"no")."""
    no_response = sum(1 for a in answers if a.status == "no_response")
    scored = [a for a in answers if no_response_as_wrong or a.status != "no_response"]
    tp = sum(1 for a in scored if a.gold == "yes" and a.predicted == "yes")
    fp = sum(1 for a in scored if a.gold == "no" and a.predicted == "yes")
    fn = sum(1 for a in scored if a.gold == "yes" and a.predicted != "yes")
    tn = sum(1 for a in scored if a.gold == "no" and a.predicted == "no")
    n = len(scored)
    return PopeScores(
        n=n,
        correct=tp + tn,
        true_positive=tp,
        false_positive=fp,
        false_negative=fn,
        true_negative=tn,
        said_yes=tp + fp,
        unextractable=sum(1 for a in scored if a.status == "unextractable"),
        no_response=no_response,
        accuracy=proportion(tp + tn, n),
        precision=proportion(tp, tp + fp),
        recall=proportion(tp, tp + fn),
        f1=f1_with_bootstrap(tp, fp, fn, n, resamples, seed),
        yes_ratio=proportion(tp + fp, n),
    )


def accuracy_scores(answers: Sequence[ScoredAnswer], no_response_as_wrong: bool = True) -> AccuracyScores:
    no_response = sum(1 for a in answers if a.status == "no_response")
    scored = [a for a in answers if no_response_as_wrong or a.status != "no_response"]
    correct = sum(1 for a in scored if a.status == "correct")
    return AccuracyScores(
        n=len(scored),
        correct=correct,
        unextractable=sum(1 for a in scored if a.status == "unextractable"),
        no_response=no_response,
        accuracy=proportion(correct, len(scored)),
    )


@dataclass
class BenchmarkScores:
    """Overall and per-group scores of one benchmark (POPE by category, ScienceQA by subject)."""

    benchmark: str
    group_by: str
    overall: PopeScores | AccuracyScores
    groups: dict[str, PopeScores | AccuracyScores]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            f"by_{self.group_by}": {name: s.to_dict() for name, s in self.groups.items()},
        }


@dataclass
class UtilityReport:
    """Everything :func:`score_utility` found, per benchmark, with the replies it could not read."""

    benchmarks: dict[str, BenchmarkScores]
    answers: list[ScoredAnswer]
    unextractable_examples: list[dict[str, str]] = field(default_factory=list)
    no_response_ids: list[str] = field(default_factory=list)
    no_response_as_wrong: bool = True

    @property
    def pope(self) -> BenchmarkScores | None:
        return self.benchmarks.get("pope")

    @property
    def scienceqa(self) -> BenchmarkScores | None:
        return self.benchmarks.get("scienceqa")

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmarks": {name: scores.to_dict() for name, scores in self.benchmarks.items()},
            "unextractable": sum(1 for a in self.answers if a.status == "unextractable"),
            "unextractable_examples": self.unextractable_examples,
            "no_response": len(self.no_response_ids),
            "no_response_ids": self.no_response_ids,
            "no_response_as_wrong": self.no_response_as_wrong,
        }


def score_answer(sample: Sample, reply: str | None) -> ScoredAnswer:
    """Extract the answer from one reply and judge it against the sample's gold answer."""
    if sample.subset == "pope":
        gold = str(sample.meta["gold"])
        predicted: str | None = extract_yes_no(reply) if reply is not None else None
    elif sample.subset == "scienceqa":
        gold = str(sample.meta["gold_letter"])
        index = extract_choice(reply, sample.meta["choices"]) if reply is not None else None
        predicted = OPTION_LETTERS[index] if index is not None else None
    else:
        raise ValueError(f"sample {sample.id} is from subset {sample.subset!r}, not pope or scienceqa")
    if reply is None:
        status: AnswerStatus = "no_response"
    elif predicted is None:
        status = "unextractable"
    else:
        status = "correct" if predicted == gold else "wrong"
    return ScoredAnswer(sample.id, sample.subset, sample.category, gold, predicted, status)


def _reply_text(value: Any) -> str | None:
    """Plain text, or a :class:`~vscbench.schema.Response` (only an ``ok`` one has an answer)."""
    if value is None or isinstance(value, str):
        return value
    if getattr(value, "outcome", "ok") != "ok":
        return None
    return getattr(value, "text", None)


def score_utility(
    samples: Iterable[Sample],
    responses: Mapping[str, Any],
    *,
    no_response_as_wrong: bool = True,
    resamples: int = 2000,
    seed: int = 0,
    max_examples: int = 10,
) -> UtilityReport:
    """Score POPE and ScienceQA replies, choosing the metric by each sample's subset.

    ``responses`` maps sample id to the reply text, or ``None`` when the call failed or was
    blocked (a :class:`~vscbench.schema.Response` is accepted too). See the module docstring for
    how unextractable and missing replies count.
    """
    by_benchmark: dict[str, list[ScoredAnswer]] = defaultdict(list)
    answers: list[ScoredAnswer] = []
    examples: list[dict[str, str]] = []
    for sample in samples:
        reply = _reply_text(responses.get(sample.id))
        answer = score_answer(sample, reply)
        answers.append(answer)
        by_benchmark[sample.subset].append(answer)
        if answer.status == "unextractable" and len(examples) < max_examples:
            examples.append({"sample_id": sample.id, "reply": (reply or "")[:300]})
    benchmarks: dict[str, BenchmarkScores] = {}
    for name, group in sorted(by_benchmark.items()):
        per_group: dict[str, list[ScoredAnswer]] = defaultdict(list)
        for answer in group:
            per_group[answer.category].append(answer)
        if name == "pope":

            def compute(items: Sequence[ScoredAnswer]) -> PopeScores | AccuracyScores:
                return pope_scores(items, no_response_as_wrong, resamples, seed)

            group_by = "category"
        else:

            def compute(items: Sequence[ScoredAnswer]) -> PopeScores | AccuracyScores:
                return accuracy_scores(items, no_response_as_wrong)

            group_by = "subject"
        benchmarks[name] = BenchmarkScores(
            benchmark=name,
            group_by=group_by,
            overall=compute(group),
            groups={key: compute(items) for key, items in sorted(per_group.items())},
        )
    return UtilityReport(
        benchmarks=benchmarks,
        answers=answers,
        unextractable_examples=examples,
        no_response_ids=[a.sample_id for a in answers if a.status == "no_response"],
        no_response_as_wrong=no_response_as_wrong,
    )
