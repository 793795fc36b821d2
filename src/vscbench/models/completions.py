"""Text completions (``/v1/completions``) of an OpenAI-compatible server (vLLM, SGLang, TGI).

Some models are prompted in a format of their own, written out token for token (a guard model's
instruction format, with its special tokens): no chat template may wrap it. This backend sends
the text of a request's one user message as the raw ``prompt`` and returns the completion's
text. Everything else (retries, errors, credentials, what counts as blocked or empty) is the
chat backend's (:class:`~vscbench.models.openai.OpenAIModel`).

Such a request holds exactly one text-only user message; anything else is refused per request
(an ``error`` answer naming why), never sent half-formed.
"""

from __future__ import annotations

from typing import Any

from vscbench.models.base import Generation
from vscbench.models.openai import OpenAIModel
from vscbench.schema import Request


class PromptShapeError(ValueError):
    """A request that is not one text-only user message."""


def raw_prompt(request: Request) -> str:
    """The prompt a completion request sends: the text of its single user message."""
    messages = request.messages
    if len(messages) != 1 or messages[0].role != "user" or messages[0].images:
        raise PromptShapeError("a text completion request holds exactly one text-only user message")
    return messages[0].text_content


class OpenAICompletionsModel(OpenAIModel):
    """``/v1/completions`` through the official client: the request's text is the whole prompt."""

    async def _generate_one(self, request: Request) -> Generation:
        try:
            raw_prompt(request)
        except PromptShapeError as exc:
            return Generation("error", error=str(exc), attempts=0)
        return await super()._generate_one(request)

    async def _create(self, body: dict[str, Any]) -> Any:
        return await self._client.completions.create(**body)

    @staticmethod
    def _choice_text(choice: Any) -> str | None:
        return getattr(choice, "text", None)

    async def request_body(self, request: Request) -> dict[str, Any]:
        config = request.config
        body: dict[str, Any] = {
            "model": self.spec.name,
            "prompt": raw_prompt(request),
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
        }
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.seed is not None:
            body["seed"] = config.seed
        return body
