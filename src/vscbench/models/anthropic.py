"""Claude models through the official ``anthropic`` SDK (Messages API).

The SDK's own retry handles rate limits (it honours ``Retry-After``) and server errors; this
backend only translates requests and sorts the outcome into an answer, a content-filter block,
or an error whose reason never contains the API key.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import anthropic

from vscbench.images import ImageError, encode_jpeg_base64, encode_png_base64, load_rgb
from vscbench.models.base import Generation, ModelSpec, ModelSpecError
from vscbench.schema import ImagePart, Request, TextPart, Usage

#: Anthropic refuses images above 5 MB; past this many base64 characters we send JPEG instead.
_PNG_BASE64_LIMIT = 4_500_000

#: Phrases in a 400 error that mean the provider's filter refused, not that the request was bad.
_POLICY_PHRASES = ("content policy", "content filter", "usage policy", "output blocked", "safety")


def redact(text: str, secret: str | None) -> str:
    """The text with the secret replaced, so an echoed key never reaches the store or logs."""
    return text.replace(secret, "***") if secret and len(secret) >= 8 else text


def image_block(part: ImagePart, max_side: int) -> dict[str, Any]:
    """A base64 image block of the prepared (RGB, size-capped) pixels."""
    image = load_rgb(part.path, max_side)
    data, media_type = encode_png_base64(image), "image/png"
    if len(data) > _PNG_BASE64_LIMIT:
        data, media_type = encode_jpeg_base64(image), "image/jpeg"
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def to_anthropic(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    """The ``system`` text and the ``messages`` list for one request.

    System messages (the config's system prompt among them, placed when the request was built)
    are joined into the one ``system`` field the API has. Raises ``OSError``/``ValueError`` (from Pillow) when an image cannot be decoded.
    """
    system_texts: list[str] = []  # the config's system prompt is among the messages already
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system_texts.append(message.text_content)
            continue
        blocks: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                blocks.append(image_block(part, request.config.max_image_side))
            elif isinstance(part, TextPart):
                blocks.append({"type": "text", "text": part.text})
        messages.append({"role": message.role, "content": blocks})
    return ("\n\n".join(system_texts) or None), messages


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        inner = body["error"]
        kind = inner.get("type")
        return f"{kind}: {inner.get('message')}" if kind else str(inner.get("message"))
    return exc.message


class AnthropicModel:
    """One Claude model. ``spec.base_url`` points the SDK at a gateway or proxy instead of the API.

    The key comes from ``api_key`` or ``ANTHROPIC_API_KEY``. ``max_retries`` is the SDK's retry
    budget for 408/409/429/5xx and connection errors.

    The installed SDK's ``messages.create`` has no ``temperature``/``top_p`` (current Claude
    models fix sampling), so they are not sent by default. ``sampling_params=True`` sends them
    in the request body for older models and gateways that still accept them.
    """

    max_batch_size = 1

    def __init__(
        self,
        spec: ModelSpec,
        api_key: str | None = None,
        max_retries: int = 4,
        timeout: float = 120.0,
        sampling_params: bool = False,
    ) -> None:
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ModelSpecError(
                f"{spec} needs an Anthropic API key: set ANTHROPIC_API_KEY in the environment"
            )
        self.spec = spec
        self._api_key = key
        self.sampling_params = sampling_params
        self.client = anthropic.AsyncAnthropic(
            api_key=key, base_url=spec.base_url, max_retries=max_retries, timeout=timeout
        )

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return list(await asyncio.gather(*(self._generate_one(r) for r in requests)))

    async def aclose(self) -> None:
        await self.client.close()

    async def _generate_one(self, request: Request) -> Generation:
        try:
            system, messages = to_anthropic(request)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ImageError) else f"{type(exc).__name__}: {exc}"
            return Generation(outcome="error", error=f"cannot read image: {reason}")
        options: dict[str, Any] = {
            "model": self.spec.name,
            "max_tokens": request.config.max_tokens,
            "messages": messages,
        }
        if system:
            options["system"] = system
        if self.sampling_params:
            sampling = {"temperature": request.config.temperature, "top_p": request.config.top_p}
            options["extra_body"] = {k: v for k, v in sampling.items() if v is not None}
        try:
            reply = await self.client.messages.create(**options)
        except anthropic.APIStatusError as exc:
            reason = redact(f"HTTP {exc.status_code} {_error_message(exc)}", self._api_key)
            blocked = exc.status_code == 400 and any(p in reason.lower() for p in _POLICY_PHRASES)
            return Generation(outcome="blocked" if blocked else "error", error=reason)
        except anthropic.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            reason = f"{type(exc).__name__}: {exc} ({type(cause).__name__}: {cause})"
            return Generation(outcome="error", error=redact(reason, self._api_key))
        except Exception as exc:  # a bug or SDK surprise must not end the whole run
            return Generation(outcome="error", error=redact(f"{type(exc).__name__}: {exc}", self._api_key))
        text = "".join(block.text for block in reply.content if block.type == "text")
        usage = Usage(prompt_tokens=reply.usage.input_tokens, completion_tokens=reply.usage.output_tokens)
        if reply.stop_reason == "refusal":
            return Generation(outcome="blocked", text=text or None, error="stop_reason=refusal", usage=usage)
        return Generation(outcome="ok", text=text, usage=usage)
