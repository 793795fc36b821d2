"""OpenAI and every OpenAI-compatible server (vLLM, SGLang, Ollama, TGI, LM Studio, ...).

Retries are the SDK's own (``max_retries``): it honours ``Retry-After``, backs off with jitter
and retries 408/409/429/5xx, timeouts and dropped connections. This backend only turns a
Request into a chat completion and maps how the call ended: an answer (``ok``), a provider
content filter (``blocked``), or anything else after retries (``error``, with a short reason
that never contains the API key).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from vscbench.images import ImageError, data_url
from vscbench.models.base import Generation, ModelSpec, ModelSpecError, resolve_api_key
from vscbench.models.http import (
    CallLog,
    call_log,
    connection_reason,
    split_credentials,
    strip_credentials,
    url_query,
    url_secrets,
)
from vscbench.models.transport import guarded_client
from vscbench.safe_text import is_secret_name
from vscbench.schema import ImagePart, Outcome, Request, Usage

#: Error codes with which OpenAI (``content_policy_violation``) and Azure OpenAI
#: (``content_filter``) refuse an input; such a call is ``blocked``, not failed.
CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "ResponsibleAIPolicyViolation"})

#: Local servers accept any key; the SDK insists on one.
PLACEHOLDER_KEY = "EMPTY"

#: The SDK waits for a Retry-After up to two minutes; longer asks are reported, not retried.
MAX_RETRY_WAIT_S = 120.0


class ByteBudget:
    """Bounds the image bytes held by calls in flight, whatever the concurrency: a call waits
    until its images fit. Keeps memory flat when many large images are sent at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._condition: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _cond(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._condition is None or self._loop is not loop:  # a new event loop: a new condition
            self._condition, self._loop, self.used = asyncio.Condition(), loop, 0
        return self._condition

    @contextlib.asynccontextmanager
    async def hold(self, cost: int):
        cost = min(cost, self.limit)
        condition = self._cond()
        async with condition:
            await condition.wait_for(lambda: self.used + cost <= self.limit)
            self.used += cost
        try:
            yield
        finally:
            async with condition:
                self.used -= cost
                condition.notify_all()


def _image_cost(request: Request) -> int:
    """Rough peak bytes a request's images take while in flight: the file, its base64 text, the
    JSON body and the encoded request (about five copies)."""
    total = 0
    for message in request.messages:
        for part in message.images:
            try:
                total += os.path.getsize(part.path)
            except OSError:
                pass
    return 5 * total


class OpenAIModel:
    """Chat completions through the official ``AsyncOpenAI`` client; one request per call."""

    max_batch_size = 1

    def __init__(
        self,
        spec: ModelSpec,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        base_url: str | None = None,
        default_headers: dict[str, str] | None = None,
        max_inflight_image_mb: int = 256,
        max_retry_wait: float = MAX_RETRY_WAIT_S,
    ) -> None:
        import openai

        self._budget = ByteBudget(max_inflight_image_mb * 1024 * 1024)
        if base_url:
            clean, had_credentials = split_credentials(base_url.rstrip("/"))
            spec = ModelSpec(spec.provider, spec.name, clean, base_url.rstrip("/") if had_credentials else None)
        self.spec = spec
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        key = resolve_api_key(api_key, ("OPENAI_API_KEY",), str(spec))
        if not key:
            if self.spec.base_url is None:
                raise ModelSpecError(
                    "OPENAI_API_KEY is not set. Export it (export OPENAI_API_KEY=...), or point the "
                    "model at a local OpenAI-compatible server: openai:MODEL@http://localhost:8000/v1"
                )
            key = PLACEHOLDER_KEY
        headers = [value for name, value in (default_headers or {}).items() if is_secret_name(name)]
        self._secrets = (key if key != PLACEHOLDER_KEY else None, *url_secrets(self.spec.connect_url), *headers)
        connect_url, query = url_query(self.spec.connect_url)
        http_client = guarded_client(openai.DefaultAsyncHttpxClient, deadline_s=timeout, extra_query=query)
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=connect_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            http_client=http_client,
        )

    async def generate(self, requests: list[Request]) -> list[Generation]:
        answers = []
        for request in requests:
            async with self._budget.hold(_image_cost(request)):
                answers.append(await self._generate_one(request))
        return answers

    async def _generate_one(self, request: Request) -> Generation:
        import openai

        try:
            body = await self.request_body(request)
        except (ImageError, OSError) as exc:  # refused per request, named, and never sent
            return Generation("error", error=f"cannot read image: {exc}", attempts=0)
        with call_log(self.max_retry_wait) as log:
            try:
                completion = await self._create(body)
            except openai.APIStatusError as exc:
                code = _error_code(exc)
                reason = f"HTTP {exc.status_code}{f' {code}' if code else ''}: {_message(exc)}{log.wait_reason()}"
                outcome: Outcome = "blocked" if code in CONTENT_FILTER_CODES else "error"
                return Generation(outcome, error=self._redact(reason), attempts=max(log.attempts, 1))
            except openai.APITimeoutError:
                reason = f"timed out after {self.timeout:g} s per attempt"
                return Generation("error", error=reason, attempts=max(log.attempts, 1))
            except openai.APIConnectionError as exc:
                reason = self._redact(f"connection failed: {connection_reason(exc)}")
                return Generation("error", error=reason[:300], attempts=max(log.attempts, 1))
            except openai.OpenAIError as exc:  # e.g. a 200 reply whose body is not a completion
                reason = self._redact(f"{type(exc).__name__}: {exc}")
                return Generation("error", error=reason[:300], attempts=max(log.attempts, 1))
            except ValueError as exc:  # a body the SDK could not decode as JSON
                reason = self._redact(f"unreadable reply: {str(exc)[:200]}")
                return Generation("error", error=reason, attempts=max(log.attempts, 1))
            return self._to_generation(completion, max(log.attempts, 1), log)

    def _to_generation(self, completion: Any, attempts: int, log: CallLog | None = None) -> Generation:
        usage = Usage()
        if getattr(completion, "usage", None) is not None:
            details = getattr(completion.usage, "prompt_tokens_details", None)
            usage = Usage(
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                cached_tokens=getattr(details, "cached_tokens", None) or None,
            )
        choices = getattr(completion, "choices", None)
        if not choices:
            return Generation("error", error="the reply holds no choices", usage=usage, attempts=attempts)
        choice = choices[0]
        text = self._choice_text(choice)
        text, repaired = (log or CallLog()).note(text)  # storable text, and what was replaced
        if choice.finish_reason == "content_filter":
            return Generation(
                "blocked", text=text, error="finish_reason content_filter", usage=usage, attempts=attempts
            )
        if text is None or not text.strip():
            reason = f"no text (finish_reason {choice.finish_reason})"
            return Generation("empty", text=text, error=reason, usage=usage, attempts=attempts)
        return Generation("ok", text=text, error=repaired, usage=usage, attempts=attempts)

    async def _create(self, body: dict[str, Any]) -> Any:
        """One call of the endpoint this backend speaks (chat completions)."""
        return await self._client.chat.completions.create(**body)

    @staticmethod
    def _choice_text(choice: Any) -> str | None:
        """The text of a reply's first choice (the message, or the model's stated refusal)."""
        message = choice.message
        return message.content if message.content is not None else getattr(message, "refusal", None)

    async def request_body(self, request: Request) -> dict[str, Any]:
        """The chat completion arguments for a request (images encoded off the event loop)."""
        config = request.config
        released = config.call_style == "released"
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if not message.images and not (released and message.role == "user"):
                messages.append({"role": message.role, "content": message.text_content})
                continue
            parts: list[dict[str, Any]] = []
            for part in message.content:
                if isinstance(part, ImagePart):
                    # not cached: every key is sent once, and cached full-size images would cost memory
                    url = await asyncio.to_thread(data_url, str(part.path), config.max_image_side, config.image_format)
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    parts.append({"type": "text", "text": part.text})
            messages.append({"role": message.role, "content": parts})
        body: dict[str, Any] = {"model": self.spec.name, "messages": messages, "temperature": config.temperature}
        if released:  # the released VSCBench call: temperature and max_tokens, nothing else
            body["max_tokens"] = config.max_tokens
        else:  # OpenAI's newer models accept only max_completion_tokens; compatible servers know max_tokens
            body["max_completion_tokens" if self.spec.base_url is None else "max_tokens"] = config.max_tokens
        if config.top_p is not None and not released:
            body["top_p"] = config.top_p
        if config.seed is not None and not released:
            body["seed"] = config.seed
        if config.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": config.response_schema, "strict": True},
            }
        return body

    def _redact(self, text: str) -> str:
        """Error text without the API key, the headers' values, URL credentials, or anything
        that looks like a key."""
        return strip_credentials(text, self._secrets)

    async def aclose(self) -> None:
        await self._client.close()


def _error_code(exc: Any) -> str | None:
    """The provider's error code, from the SDK's parse or the raw body (Azure nests it)."""
    code = getattr(exc, "code", None)
    body = _dict(getattr(exc, "body", None))
    inner = _dict(body.get("error", body))
    code = code or inner.get("code")
    nested = _dict(inner.get("innererror"))
    if nested.get("code") in CONTENT_FILTER_CODES:
        return str(nested["code"])
    return str(code) if code else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _message(exc: Any) -> str:
    body = _dict(getattr(exc, "body", None))
    inner = _dict(body.get("error")) or body
    return str(inner.get("message") or getattr(exc, "message", "") or "")[:200]
