"""Claude models through the official ``anthropic`` SDK (Messages API).

The SDK's own retry handles rate limits (it honours ``Retry-After``) and server errors; this
backend only translates requests and sorts the outcome into an answer, a content-filter block,
or an error whose reason never contains the API key.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import anthropic

from vscbench.images import (
    RELEASED_IMAGE_FORMATS,
    ImageError,
    encode_jpeg_base64,
    encode_png_base64,
    load_rgb,
    released_bytes,
)
from vscbench.models.base import Generation, ModelSpec, ModelSpecError, resolve_api_key
from vscbench.models.http import CallLog, call_log, connection_reason, strip_credentials, url_query, url_secrets
from vscbench.models.transport import guarded_client
from vscbench.schema import ImagePart, Outcome, Request, TextPart, Usage

#: Anthropic refuses images above 5 MB; past this many base64 characters we send JPEG instead.
_PNG_BASE64_LIMIT = 4_500_000

#: The provider's explicit signal that its filter refused (a 400 ``invalid_request_error`` whose
#: message is "Output blocked by content filtering policy"). Only this is ``blocked``: any other
#: 400, even one that mentions "safety" or a "policy", is an error, retried on the next run.
_FILTER_MESSAGE = re.compile(
    r"^\s*(output|input|prompt|request) blocked by (the )?content filter(ing)? policy", re.IGNORECASE
)

#: The SDK waits for a Retry-After up to two minutes; longer asks are reported, not retried.
MAX_RETRY_WAIT_S = 120.0


def redact(text: str, *secrets: str | None) -> str:
    """The text with the secrets, URL credentials and anything shaped like a key removed, so
    none reaches a store or log."""
    return strip_credentials(text, secrets)


def is_filter_block(exc: anthropic.APIStatusError) -> bool:
    """Whether a status error is the provider's content filter, by its explicit signal alone."""
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    message = str(inner.get("message") or "") if isinstance(inner, dict) else ""
    return exc.status_code == 400 and bool(_FILTER_MESSAGE.match(message))


def image_block(part: ImagePart, max_side: int, image_format: str = "auto") -> dict[str, Any]:
    """A base64 image block of the prepared (RGB, size-capped) pixels, or of the released
    VSCBench code's encoding when ``image_format`` names one (``pil-native`` for Claude)."""
    if image_format in RELEASED_IMAGE_FORMATS:
        raw, mime = released_bytes(part.path, image_format)
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": mime, "data": base64.b64encode(raw).decode()},
        }
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
                blocks.append(image_block(part, request.config.max_image_side, request.config.image_format))
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
        max_retry_wait: float = MAX_RETRY_WAIT_S,
    ) -> None:
        key = resolve_api_key(api_key, ("ANTHROPIC_API_KEY",), str(spec))
        if not key:
            raise ModelSpecError(f"{spec} needs an Anthropic API key: set ANTHROPIC_API_KEY in the environment")
        self.spec = spec
        self._secrets = (key, *url_secrets(spec.connect_url))
        self.sampling_params = sampling_params
        self.max_retry_wait = max_retry_wait
        connect_url, query = url_query(spec.connect_url)
        self._http = guarded_client(anthropic.DefaultAsyncHttpxClient, deadline_s=timeout, extra_query=query)
        self.client = anthropic.AsyncAnthropic(
            api_key=key, base_url=connect_url, max_retries=max_retries, timeout=timeout, http_client=self._http
        )

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return list(await asyncio.gather(*(self._generate_one(r) for r in requests)))

    async def aclose(self) -> None:
        await self.client.close()
        await self._http.aclose()

    def request_params(self, request: Request) -> dict[str, Any]:
        """The Messages API parameters of a request, as a synchronous call and a batch item send
        them (the sampling settings included only with ``sampling_params``). Raises
        ``OSError``/``ValueError`` when an image cannot be read."""
        system, messages = to_anthropic(request)
        params: dict[str, Any] = {
            "model": self.spec.name,
            "max_tokens": request.config.max_tokens,
            "messages": messages,
        }
        if system:
            params["system"] = system
        if self.sampling_params and request.config.call_style != "released":  # the released call sets none
            sampling = {"temperature": request.config.temperature, "top_p": request.config.top_p}
            params.update({k: v for k, v in sampling.items() if v is not None})
        return params

    async def _generate_one(self, request: Request) -> Generation:
        try:
            params = self.request_params(request)
        except Exception as exc:  # noqa: BLE001 -- recorded as this request's failure
            reason = str(exc) if isinstance(exc, ImageError) else f"{type(exc).__name__}: {exc}"
            return Generation(outcome="error", error=f"cannot read image: {reason}")
        # the SDK's create() has no sampling arguments: they travel in the body
        options = {k: v for k, v in params.items() if k not in ("temperature", "top_p")}
        if len(options) < len(params):
            options["extra_body"] = {k: params[k] for k in ("temperature", "top_p") if k in params}
        with call_log(self.max_retry_wait) as log:
            try:
                reply = await self.client.messages.create(**options)
            except anthropic.APIStatusError as exc:
                reason = redact(f"HTTP {exc.status_code} {_error_message(exc)}{log.wait_reason()}", *self._secrets)
                outcome: Outcome = "blocked" if is_filter_block(exc) else "error"
                return Generation(outcome=outcome, error=reason, attempts=max(log.attempts, 1))
            except anthropic.APIConnectionError as exc:
                reason = f"connection failed: {connection_reason(exc)}"
                return Generation(outcome="error", error=redact(reason, *self._secrets), attempts=max(log.attempts, 1))
            except Exception as exc:  # noqa: BLE001 -- a bug or SDK surprise must not end the whole run
                reason = redact(f"{type(exc).__name__}: {exc}", *self._secrets)
                return Generation(outcome="error", error=reason, attempts=max(log.attempts, 1))
        return message_generation(reply, max(log.attempts, 1), log)


def message_generation(reply: Any, attempts: int = 1, log: CallLog | None = None) -> Generation:
    """A Messages API reply as a Generation: the text of its text blocks, its usage, and
    ``blocked`` for the model's own refusal stop (shared by synchronous and batch calls)."""
    text, repaired = (log or CallLog()).note("".join(block.text for block in reply.content if block.type == "text"))
    usage = Usage(prompt_tokens=reply.usage.input_tokens, completion_tokens=reply.usage.output_tokens)
    if reply.stop_reason == "refusal":
        return Generation(outcome="blocked", text=text or None, error="stop_reason=refusal", usage=usage)
    return Generation(outcome="ok", text=text, error=repaired, usage=usage, attempts=attempts)
