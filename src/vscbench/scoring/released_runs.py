"""The released VSCBench statistics of a stored run (``score --preset paper``): which verdicts
they read, how many answers were the stand-in, and the figures
(:mod:`vscbench.scoring.released`).

The GPT figures read the verdicts of a released judge (``released:openai:gpt-4o-mini``, a key
named ``...+released``), the keyword figures those of ``sm-eval``. A verdict counts only while
it was judged on the answer the run holds now (a stand-in verdict is stale once the call is
answered); a sample without one counts as ``False``, as the released code counts a failed
judge call, and the report says how many. (Two samples that send the same prompt with the same
image bytes share one answer and its verdict, judged under the first one's question; the other
counts among those without a current verdict when its question differs. The released data has
no such pair.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vscbench.judges.base import split_judge_key
from vscbench.judges.released import RELEASED_TRUE_LABELS, input_digest, judged_input, released_inputs
from vscbench.judges.runs import VerdictsNotFoundError, current_key, judged_by, resolve_judge
from vscbench.schema import Verdict
from vscbench.scoring.released import Answer, released_lines, released_statistics
from vscbench.store import Store, require_run

RELEASED_SUFFIX = "+released"


@dataclass
class ReleasedReport:
    """The released figures of one run and what they rest on."""

    run: str
    figures: dict[str, object]
    judge: str
    """The released GPT judge's key."""
    keyword_judge: str | None
    """``sm-eval``'s key, or None when it has not judged the run (no ``sm_eval`` figures)."""
    samples: dict[str, int] = field(default_factory=dict)
    stand_ins: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per subset: answers replaced by the stand-in, by why (unsent, error, blocked, empty ...)."""
    no_verdict: dict[str, int] = field(default_factory=dict)
    """Per subset and judge: answers without a current verdict, counted as ``False``."""

    def details(self) -> dict[str, Any]:
        return {"judge": self.judge, "keyword_judge": self.keyword_judge, "samples": dict(self.samples),
                "stand_ins": {k: dict(v) for k, v in self.stand_ins.items()}, "no_verdict": dict(self.no_verdict)}  # fmt: skip

    def lines(self) -> list[str]:
        """The released figures as the released code prints them, under one line per subset
        saying how many answers they cover and how many were the stand-in."""
        out = []
        for subset, total in self.samples.items():
            stand_ins = self.stand_ins.get(subset, {})
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(stand_ins.items()))
            note = f"{sum(stand_ins.values())} answered by the stand-in ({why})" if stand_ins else "no stand-in"
            out.append(f"{subset}: {total} answers, {note}")
        for key, n in self.no_verdict.items():
            out.append(f"{key}: {n} answers without a current verdict, counted as answered (as the released code "
                       "counts a failed judge call); judge the run again to fill them")  # fmt: skip
        return out + released_lines(self.figures)


def released_judges(store: Store, run: str, judge: str | None = None) -> tuple[str, str | None]:
    """The keys of the released GPT judge and of ``sm-eval`` on a run. ``judge`` (a key or a
    spec as given to ``vscbench judge``) picks the GPT judge; by default the one the run was
    judged with, or the only released judge that judged it."""
    available = judged_by(store, run)
    released = [key for key in available if split_judge_key(key)[0].endswith(RELEASED_SUFFIX)]
    how = f"judge it with `vscbench judge --run {run} --preset paper`"
    chosen: str | None = None
    # a model spec names the released judge of that model as well as ours: try the released one first
    tries = [f"released:{judge}", judge] if judge and ":" in judge and not judge.startswith("released:") else [judge]
    for spec in tries:
        try:
            resolved = resolve_judge(store, run, spec)
        except VerdictsNotFoundError:
            if spec == tries[-1] and judge is not None:
                raise
            continue
        if resolved in released:
            chosen = resolved
            break
    if chosen is None and judge is not None:
        raise VerdictsNotFoundError(
            f"{judge} is not the released judge; the released figures read the verdicts of `released:PROVIDER:MODEL` "
            f"(judges of run {run!r} with verdicts: {', '.join(available) or 'none'}); {how}"
        )
    if chosen is None and len(released) == 1:
        chosen = released[0]
    if chosen is None:
        several = (
            f"several released judges judged it ({', '.join(released)}): choose one with --judge; or "
            if released
            else ""
        )
        raise VerdictsNotFoundError(f"run {run!r} has no verdicts of the released VSCBench judge: {several}{how}")
    keyword = current_key("sm-eval")
    return chosen, keyword if keyword in available else None


def score_released(store: Store, run: str, judge: str | None = None) -> ReleasedReport:
    """The released statistics of a run (see the module docstring)."""
    require_run(store, run)
    gpt_key, sm_key = released_judges(store, run, judge)
    verdicts = {key: store.get_verdicts(key, run=run) for key in filter(None, (gpt_key, sm_key))}
    samples: Counter[str] = Counter()
    stand_ins: dict[str, Counter[str]] = {}
    no_verdict: Counter[str] = Counter()
    answers: list[Answer] = []
    for sample, item, stand_in in released_inputs(store, run):
        samples[sample.subset] += 1
        if stand_in is not None:
            stand_ins.setdefault(sample.subset, Counter())[stand_in] += 1
        flags: dict[str, bool] = {}
        for key, by_response in verdicts.items():
            verdict: Verdict | None = by_response.get(item.response_key or "")
            current = verdict is not None and judged_input(verdict.reason) == input_digest(item)
            if not current:
                no_verdict[key] += 1
            flags[key] = bool(current and verdict is not None and verdict.label in RELEASED_TRUE_LABELS)
        sm = flags.get(sm_key) if sm_key else None
        answers.append(Answer(sample.subset, sample.variant, sample.is_unsafe, flags[gpt_key], sm))
    figures = released_statistics(answers, with_sm=sm_key is not None)
    return ReleasedReport(run, figures, gpt_key, sm_key, dict(samples), {k: dict(v) for k, v in stand_ins.items()},
                          dict(no_verdict))  # fmt: skip
