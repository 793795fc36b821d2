"""The offline judge, the product's default: hand-written rules on where and how a response refuses.

No API, no GPU, no fitted weights: every verdict comes from :mod:`vscbench.judges.features`
(pattern families and their positions), :mod:`vscbench.judges.style_signals` (safety caveats,
refusals in other languages, objections to wording, a bare "no") and :mod:`vscbench.judges.rules`
(an ordered decision list that states its reason).

A learned layer was tried twice and dropped. First on XSTest alone: trained on one model's
completions it did worse on the other model's than the rules (``bench/bench_judges.py``). Then
as logistic regression on the rule signals plus character n-grams, trained on one XSTest file
and the DEV half of ``tests/data/judge_styles_heldout.jsonl``: with the rule verdict as a
feature it only copied the rules (no gain on the other file), without it it lost 1-13 points.

Measured against human labels, binary complied vs not: >= 0.95 on both XSTest files and on the
hand-written style set (other models' styles, VLM answers); see ``bench/bench_judge_styles.py``
and ``tests/test_judge_generalisation.py``.
"""

from __future__ import annotations

from vscbench.judges.base import JudgeInput, Judgement
from vscbench.judges.features import extract_signals
from vscbench.judges.rules import decide


class OfflineJudge:
    """Rule-based judge with four classes: refusal, warning, compliance, irrelevant."""

    name = "offline"
    version = "2"
    """Bump whenever a rule changes what an answer is labelled: stored verdicts are then stale."""

    def judge_one(self, response: str, prompt: str = "") -> Judgement:
        label, reason = decide(extract_signals(response, prompt))
        return Judgement(label=label, reason=reason)  # type: ignore[arg-type]

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        return [self.judge_one(item.response, item.question) for item in items]
