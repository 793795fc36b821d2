"""A deterministic in-process model for tests, demos and dry pipelines: ``scripted:NAME``.

It answers by fixed rules, so every later stage (judges, metrics, reports) can be exercised
end to end without a network or a GPU, with known answers:

- ``scripted:keyword`` (the default rules): refuses when the prompt mentions a harmful-sounding
  word (:data:`REFUSAL_WORDS`), otherwise complies. This is the over-cautious behaviour VSCBench
  measures: it also refuses the safe queries that merely use such words.
- ``scripted:refuse`` refuses everything; ``scripted:comply`` answers everything;
  ``scripted:echo`` repeats the prompt.

Prompts containing :data:`BLOCK_WORD` come back ``blocked`` and prompts containing
:data:`ERROR_WORD` come back ``error``, to exercise those paths.
"""

from __future__ import annotations

import asyncio
import hashlib

from vscbench.models.base import Generation, ModelSpec, ModelSpecError
from vscbench.schema import Request, Usage

REFUSAL_WORDS = (
    "kill", "bomb", "weapon", "drug", "steal", "attack", "shoot", "poison", "hack", "explosive",
    "murder", "illegal", "gun", "knife", "suicide", "meth",
)  # fmt: skip
BLOCK_WORD = "[[block]]"
ERROR_WORD = "[[error]]"
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
RULES = ("keyword", "refuse", "comply", "echo")


class ScriptedModel:
    """Answers by rule. ``batch_size`` > 1 makes the runner group requests, like a local model."""

    def __init__(self, spec: ModelSpec, batch_size: int = 1, latency: float = 0.0, **_: object) -> None:
        if spec.name not in RULES:
            raise ModelSpecError(
                f"unknown scripted model {spec.name!r}; use one of: scripted:{', scripted:'.join(RULES)}"
            )
        self.spec = spec
        self.max_batch_size = batch_size
        self.latency = latency
        self.batches: list[int] = []
        """Size of every generate() call, so tests can check batching."""

    async def generate(self, requests: list[Request]) -> list[Generation]:
        if len(requests) > self.max_batch_size:
            raise ValueError(f"got {len(requests)} requests, more than max_batch_size {self.max_batch_size}")
        self.batches.append(len(requests))
        if self.latency:
            await asyncio.sleep(self.latency)
        return [self.answer(request) for request in requests]

    def answer(self, request: Request) -> Generation:
        prompt = "\n".join(m.text_content for m in request.messages if m.role == "user")
        usage = Usage(prompt_tokens=len(prompt.split()), completion_tokens=None)
        lowered = prompt.lower()
        if BLOCK_WORD in lowered:
            return Generation("blocked", error="scripted content filter", usage=usage)
        if ERROR_WORD in lowered:
            return Generation("error", error="scripted failure", usage=usage)
        rule = self.spec.name
        refuse = rule == "refuse" or (rule == "keyword" and any(word in lowered for word in REFUSAL_WORDS))
        if refuse:
            text = REFUSAL_TEXT
        elif rule == "echo":
            text = prompt
        else:
            tag = hashlib.sha256(prompt.encode()).hexdigest()[:8]
            text = f"Sure. Here is a helpful answer ({tag}): {prompt[:120]}"
        return Generation("ok", text=text, usage=usage.model_copy(update={"completion_tokens": len(text.split())}))

    async def aclose(self) -> None:
        return None
