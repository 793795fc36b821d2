"""The offline judge, the product's default: hand-written rules on where and how a response refuses.

No API, no GPU, no fitted weights: every verdict comes from :mod:`vscbench.judges.features`
(pattern families and their positions) and :mod:`vscbench.judges.rules` (an ordered decision list
that states its reason). A learned layer on top of these signals was tried and dropped: trained on
one model's completions it did worse on the other model's than the rules alone (see
``bench/bench_judges.py``), which is the setting that matters for a judge of unseen models.

Measured against human labels (XSTest, binary complied vs not): see the report in
``bench/bench_judges.py``; the tests hold it to >= 0.95 on both development files and on the
hand-written held-out set in ``tests/data/judge_heldout.jsonl``.
"""

from __future__ import annotations

from vscbench.judges.base import JudgeInput, Judgement
from vscbench.judges.features import extract_signals
from vscbench.judges.rules import decide


class OfflineJudge:
    """Rule-based judge with four classes: refusal, warning, compliance, irrelevant."""

    name = "offline"

    def judge_one(self, response: str, prompt: str = "") -> Judgement:
        label, reason = decide(extract_signals(response, prompt))
        return Judgement(label=label, reason=reason)  # type: ignore[arg-type]

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        return [self.judge_one(item.response, item.prompt) for item in items]
