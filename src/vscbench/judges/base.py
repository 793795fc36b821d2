"""The judge interface: classify a response to a query into one of the verdict classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vscbench.schema import VerdictLabel


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees: the query as sent, the model's answer and, optionally, the image."""

    prompt: str
    response: str
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


@runtime_checkable
class Judge(Protocol):
    """A judge. Offline judges answer synchronously and in bulk; LLM judges go through the runner."""

    name: str

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        ...
