"""Gemini models through the official ``google-genai`` SDK (``generateContent``).

Retries are the SDK's (``HttpRetryOptions``: exponential backoff on 408/429/5xx; this SDK does
not read ``Retry-After``). A prompt blocked by Gemini's safety filter, or an answer cut off by
it, comes back as ``blocked``; failures come back as ``error`` with the key redacted.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from vscbench.images import (
    RELEASED_IMAGE_FORMATS,
    ImageError,
    encode_jpeg_base64,
    encode_png_base64,
    load_rgb,
    released_bytes,
)
from vscbench.models.base import Generation, ModelSpec, ModelSpecError, resolve_api_key
from vscbench.models.http import call_log, connection_reason, strip_credentials, url_query, url_secrets
from vscbench.models.transport import guarded_client
from vscbench.schema import ImagePart, Request, TextPart, Usage

#: Finish reasons that mean a filter stopped the answer, not the model.
BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "MODEL_ARMOR",
    }
)

#: Inline request data is limited to 20 MB; past this many bytes we send JPEG instead of PNG.
_PNG_BYTES_LIMIT = 7_000_000
_RETRY_STATUS_CODES = [408, 429, 500, 502, 503, 504]


def _redact(text: str, secrets: tuple[str | None, ...]) -> str:
    return strip_credentials(text, secrets)


def _async_client_class() -> type:
    """The httpx flavour google-genai drives (httpx2 where installed, else httpx)."""
    try:
        import httpx2

        return httpx2.AsyncClient
    except ImportError:  # pragma: no cover - depends on the installed SDK
        import httpx

        return httpx.AsyncClient


def image_part(part: ImagePart, max_side: int, image_format: str = "auto") -> types.Part:
    """Inline bytes of the prepared (RGB, size-capped) pixels, or of the released VSCBench
    code's encoding when ``image_format`` names one (``pil-resave-as-jpeg`` for Gemini)."""
    if image_format in RELEASED_IMAGE_FORMATS:
        raw, mime = released_bytes(part.path, image_format)
        return types.Part.from_bytes(data=raw, mime_type=mime)
    image = load_rgb(part.path, max_side)
    encoded, mime_type = encode_png_base64(image), "image/png"
    if len(encoded) * 3 // 4 > _PNG_BYTES_LIMIT:
        encoded, mime_type = encode_jpeg_base64(image), "image/jpeg"
    return types.Part.from_bytes(data=base64.b64decode(encoded), mime_type=mime_type)


def to_gemini(request: Request) -> tuple[str | None, list[types.Content]]:
    """The system instruction and the ``contents`` for one request (assistant -> ``model``).

    Raises ``OSError``/``ValueError`` (from Pillow) when an image cannot be decoded.
    """
    system_texts: list[str] = []  # the config's system prompt is among the messages already
    contents: list[types.Content] = []
    for message in request.messages:
        if message.role == "system":
            system_texts.append(message.text_content)
            continue
        parts: list[types.Part] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                parts.append(image_part(part, request.config.max_image_side, request.config.image_format))
            elif isinstance(part, TextPart):
                parts.append(types.Part.from_text(text=part.text))
        contents.append(types.Content(role="model" if message.role == "assistant" else "user", parts=parts))
    return ("\n\n".join(system_texts) or None), contents


def generation_config(request: Request, system: str | None) -> types.GenerateContentConfig | None:
    """The call's settings; under the released call style none at all (the released Gemini call
    sets no generation config, so the API's defaults apply)."""
    if request.config.call_style == "released":
        return types.GenerateContentConfig(system_instruction=system) if system else None
    return types.GenerateContentConfig(
        system_instruction=system,
        max_output_tokens=request.config.max_tokens,
        temperature=request.config.temperature,
        top_p=request.config.top_p,
        seed=request.config.seed,
    )


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def read_response(response: types.GenerateContentResponse) -> Generation:
    """Sort a Gemini reply into an answer, a filter block, or an empty-reply error."""
    metadata = response.usage_metadata
    usage = Usage(
        prompt_tokens=metadata.prompt_token_count if metadata else None,
        completion_tokens=metadata.candidates_token_count if metadata else None,
    )
    feedback = response.prompt_feedback
    block_reason = _enum_name(feedback.block_reason) if feedback else None
    if feedback and block_reason:
        detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        return Generation(outcome="blocked", error=f"prompt blocked ({block_reason}){detail}", usage=usage)
    if not response.candidates:
        return Generation(outcome="error", error="the reply has no candidates", usage=usage)
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    finish = _enum_name(candidate.finish_reason)
    if finish in BLOCKING_FINISH_REASONS:
        return Generation(outcome="blocked", text=text or None, error=f"finish_reason={finish}", usage=usage)
    if not text.strip():  # e.g. MAX_TOKENS spent on thinking: a reply, but no answer
        return Generation(outcome="empty", text=text or None, error=f"no text (finish_reason={finish})", usage=usage)
    return Generation(outcome="ok", text=text, usage=usage)


class GoogleModel:
    """One Gemini model. ``spec.base_url`` points the SDK at a gateway or a test server.

    The key comes from ``api_key``, ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``. ``max_retries``
    retries follow the first try, waiting ``retry_initial_delay`` seconds and doubling.
    """

    max_batch_size = 1

    def __init__(
        self,
        spec: ModelSpec,
        api_key: str | None = None,
        max_retries: int = 4,
        retry_initial_delay: float = 1.0,
        timeout: float = 120.0,
    ) -> None:
        key = resolve_api_key(api_key, ("GEMINI_API_KEY", "GOOGLE_API_KEY"), str(spec))
        if not key:
            raise ModelSpecError(f"{spec} needs a Gemini API key: set GEMINI_API_KEY in the environment")
        self.spec = spec
        self._secrets = (key, *url_secrets(spec.connect_url))
        retry = types.HttpRetryOptions(
            attempts=max_retries + 1,
            initial_delay=retry_initial_delay,
            max_delay=max(30.0, retry_initial_delay),
            jitter=min(1.0, retry_initial_delay),
            http_status_codes=_RETRY_STATUS_CODES,
        )
        # our own httpx client: reply bodies made valid UTF-8 (the SDK would drop the answer) and
        # attempts counted; it also keeps the SDK off aiohttp, whose errors say less
        connect_url, query = url_query(spec.connect_url)
        self._http = guarded_client(_async_client_class(), deadline_s=timeout, extra_query=query, timeout=timeout)
        http_options = types.HttpOptions(
            base_url=connect_url, timeout=int(timeout * 1000), retry_options=retry,
            httpx_async_client=self._http,
        )  # fmt: skip
        self.client = genai.Client(api_key=key, http_options=http_options)

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return list(await asyncio.gather(*(self._generate_one(r) for r in requests)))

    async def aclose(self) -> None:
        await self.client.aio.aclose()
        await self._http.aclose()

    async def _generate_one(self, request: Request) -> Generation:
        try:
            system, contents = to_gemini(request)
        except Exception as exc:  # noqa: BLE001 -- recorded as this request's failure
            reason = str(exc) if isinstance(exc, ImageError) else f"{type(exc).__name__}: {exc}"
            return Generation(outcome="error", error=f"cannot read image: {reason}")
        config = generation_config(request, system)
        with call_log() as log:
            try:
                response = await self.client.aio.models.generate_content(
                    model=self.spec.name, contents=contents, config=config
                )
            except genai_errors.APIError as exc:
                status = f" {exc.status}" if exc.status else ""
                reason = f"HTTP {exc.code}{status}: {exc.message}{log.wait_reason()}"
                return Generation(outcome="error", error=_redact(reason, self._secrets), attempts=max(log.attempts, 1))
            except Exception as exc:  # noqa: BLE001 -- connection failures after retries, SDK surprises
                reason = _failure_reason(exc)
                return Generation(outcome="error", error=_redact(reason, self._secrets), attempts=max(log.attempts, 1))
        generation = read_response(response)
        generation.attempts = max(log.attempts, 1)
        generation.text, repaired = log.note(generation.text)
        if repaired and generation.outcome == "ok":
            generation.error = repaired
        return generation


def _failure_reason(exc: BaseException) -> str:
    """A transport failure in words (connection reset, refused...); anything else by its type."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    transport = ("ConnectError", "ReadError", "WriteError", "RemoteProtocolError", "ConnectTimeout", "ReadTimeout",
                 "DecodingError")  # fmt: skip
    if names & set(transport) or isinstance(exc, ConnectionError):
        return f"connection failed: {connection_reason(exc)}"
    return f"{type(exc).__name__}: {exc}"
