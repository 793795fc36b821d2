"""A cascade of judges: the first decides what it is sure of, the next reads only the rest.

``offline:threshold=0.8>openai:gpt-4o-mini`` asks the offline judge first; the answers it calls
``uncertain`` (its confidence below the threshold) go to the LLM judge, the others keep the
offline verdict. So an LLM judge's quality costs only the calls on the hard answers. Any judge
spec works on either side, and a chain (``a>b>c``) passes on what ``b`` is unsure of too.

What is stored (by :func:`vscbench.judges.runs.judge_run`): every verdict of the first judge
under its own key (``offline:threshold=0.8@v4``, its ``uncertain`` ones included), and the
resolved verdicts under the cascade's key, each with the key of the member that decided it
(``decided_by``) and that member's confidence. The judge summary says how many answers were
deferred and how many calls of the next judge that saved.

A first verdict that failed for a passing reason (an LLM judge's call) fails the cascade's
verdict too (retried next time); an answer the next judge fails on keeps no cascade verdict
either, while the first judge's ``uncertain`` is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from vscbench.judges.base import Judge, JudgeInput, Judgement, describe_judge, judge_key
from vscbench.schema import UNCERTAIN

#: What separates the judges of a cascade in a spec.
CASCADE_SEPARATOR = ">"


@dataclass
class CascadeJudge:
    """``first`` judges every answer; ``then`` judges those ``first`` calls ``uncertain``."""

    first: Judge
    then: Judge
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"{self.first.name}{CASCADE_SEPARATOR}{self.then.name}"

    @property
    def version(self) -> str:
        """Changes when either member's key does (a new version, another threshold)."""
        members = f"{judge_key(self.first)}{CASCADE_SEPARATOR}{judge_key(self.then)}"
        return hashlib.sha256(members.encode()).hexdigest()[:10]

    @property
    def first_key(self) -> str:
        return judge_key(self.first)

    @property
    def then_key(self) -> str:
        return judge_key(self.then)

    def identity(self) -> dict[str, object]:
        return {"first": describe_judge(self.first), "then": describe_judge(self.then)}

    def stage_judges(self) -> list[Judge]:
        """The members whose own verdicts are stored under their own key as well (the first)."""
        return [self.first]

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        firsts = self.first.judge_many(items)
        first_key, then_key = self.first_key, self.then_key
        deferred = [k for k, j in enumerate(firsts) if j.label == UNCERTAIN and not j.retryable]
        results: list[Judgement] = []
        for judgement in firsts:
            stage = () if judgement.retryable else ((first_key, judgement),)
            results.append(replace(judgement, decided_by=judgement.decided_by or first_key, stages=stage))
        if deferred:
            resolved = self.then.judge_many([items[k] for k in deferred])
            for k, judgement in zip(deferred, resolved):
                results[k] = replace(
                    judgement,
                    decided_by=judgement.decided_by or then_key,
                    deferred_to=then_key,
                    stages=((first_key, firsts[k]),),
                )
        return results


def cascade(judges: list[Judge], name: str = "") -> Judge:
    """The cascade of ``judges`` in order (``a>b>c``: ``a``, then ``b`` on its uncertain
    answers, then ``c`` on what ``b`` is unsure of); a single judge is itself."""
    if not judges:
        raise ValueError("a cascade needs at least one judge")
    if len(judges) == 1:
        return judges[0]
    return CascadeJudge(judges[0], cascade(judges[1:]), name=name)
