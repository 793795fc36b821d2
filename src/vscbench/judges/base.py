"""The judge interface: classify a response to a query into one of the verdict classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from vscbench.judges.rules import RuleId
from vscbench.schema import VerdictLabel

JudgeInputMode = Literal["question", "question+prompt"]
"""What an LLM judge is shown besides the answer: the original question alone (as the released
VSCBench judge), or also the prompt as sent when it says something else (the default)."""
JUDGE_INPUTS: tuple[JudgeInputMode, ...] = ("question+prompt", "question")


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees: the original question, the model's answer, the prompt as it was sent
    and, optionally, the image.

    ``question`` is what the user asked in plain words, as the released VSCBench judge reads it:
    the XSTest question (``prompt_origin``) for a text-centric sample, the row's prompt for an
    image-centric one. ``prompt_sent`` is the text that went to the model with the image (for
    FigStep only the generic instruction, for the QueryRelevant attacks "... the content in the
    image"): without the question a text-only judge could not know what was asked.
    """

    question: str
    response: str
    prompt_sent: str | None = None
    image_path: str | None = None
    sample_id: str | None = None
    response_key: str | None = None


@dataclass(frozen=True)
class Judgement:
    label: VerdictLabel
    reason: str | None = None
    raw: str | None = None
    retryable: bool = False
    """True when no verdict could be reached for a passing reason (a failed judge call): such a
    judgement is not stored, so the next judging tries again."""
    rule: RuleId | None = None
    """The offline judge's rule that reached the verdict (``reason`` is its text); None for
    other judges."""
    confidence: float | None = None
    """How likely ``label`` is right (0..1), for a judge that can say; None for one that cannot.
    Below a judge's threshold the label is ``uncertain`` (:func:`vscbench.judges.abstain.abstain`)."""
    decided_by: str | None = None
    """The key of the judge that reached the verdict, where it is not the judge asked (a
    cascade's member); the verdict is stored with it."""
    deferred_to: str | None = None
    """The key of the judge a cascade passed this answer to, because its first judge said
    ``uncertain``; None when the first judge decided."""
    stages: tuple[tuple[str, Judgement], ...] = ()
    """Verdicts of member judges reached on the way (a cascade's first judge), by their key:
    stored under those keys too, so each member's own verdicts can be scored apart."""
    calls: tuple[str, ...] = ()
    """Cache keys of the model calls that reached the verdict (an LLM judge's first ask and
    any re-ask): stored with the verdict, so its tokens and cost are known."""


@runtime_checkable
class Judge(Protocol):
    """A judge. Offline judges answer synchronously and in bulk; LLM judges go through the runner.

    ``name`` is what a user types (``offline``, ``openai:gpt-4o-mini+image``); ``version``
    changes whenever the judge would label the same answer differently (new rules or weights;
    for an LLM judge, a hash of model, server host, rubric, settings and what it is shown).
    Verdicts are stored under :func:`judge_key`, so an upgraded judge re-judges instead of
    reusing stale verdicts.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]: ...


def judge_key(judge: Judge) -> str:
    """The identity verdicts are stored under: ``offline@v3``, ``openai:gpt-4o-mini@3f2a91c0d4``."""
    return f"{judge.name}@v{judge.version}" if judge.version.isdigit() else f"{judge.name}@{judge.version}"


def split_judge_key(key: str) -> tuple[str, str | None]:
    """``offline@v3`` -> (``offline``, ``3``); a key stored before judges had versions -> (key, None)."""
    name, sep, version = key.rpartition("@")
    if not sep or not version or "/" in version or ":" in version:
        return key, None
    return name, version[1:] if version.startswith("v") and version[1:].isdigit() else version


def describe_judge(judge: Judge) -> dict[str, object]:
    """What a judge is, for provenance: name, version and whatever identity it states."""
    identity = getattr(judge, "identity", None)
    extra = identity() if callable(identity) else {}
    return {"name": judge.name, "version": judge.version, "key": judge_key(judge), **extra}
