"""Open guard models as judges, served behind an OpenAI-compatible server (vLLM, SGLang).

A spec names the format, the model as the server knows it, and the server:
``wildguard:allenai/wildguard@http://localhost:8000/v1``,
``llamaguard:meta-llama/Llama-Guard-3-8B@http://localhost:8001/v1``,
``qwen3guard:Qwen/Qwen3Guard-Gen-4B@http://localhost:8002/v1``. The URL is required (no hosted
API serves these models under an OpenAI name); its credentials, if any, are used to connect and
kept nowhere else: the judge's name is ``format:MODEL``, its version a hash of the model, the
server's host and the format's version.

Each format (:mod:`vscbench.judges.guard_formats`) writes the prompt the model was trained on and
reads its reply; WildGuard and Llama Guard are sent as raw text completions (``/v1/completions``,
no chat template in between), Qwen3Guard-Gen as chat messages for its own chat template. Calls
go through the runner and the store like an LLM judge's: cached by content, concurrent, resumed.
A reply that breaks the format is ``invalid``; a call that fails gives no verdict (retried the
next time the run is judged). Guard models read text only, and state no confidence.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from vscbench.engine.runner import execute_requests
from vscbench.judges.base import JudgeInput, Judgement
from vscbench.judges.guard_formats import GUARDS, GuardFormat
from vscbench.models.base import Model, ModelSpec, ModelSpecError, load_model
from vscbench.models.completions import OpenAICompletionsModel
from vscbench.schema import GenerationConfig, Request
from vscbench.store import Store


class GuardSpecError(ValueError):
    """A guard judge spec that cannot be used as written; the message says how to write it."""


#: Settings of the server connection a guard judge passes on (its prompt and decoding are fixed).
CONNECTION_OPTIONS = frozenset({"api_key", "timeout", "max_retries", "default_headers", "max_retry_wait"})


class GuardJudge:
    """A guard model judging answers in its own format. ``store`` caches every call (a
    temporary in-memory store is used when none is given)."""

    def __init__(
        self,
        format_name: str,
        spec: str,
        store: Store | None = None,
        concurrency: int = 16,
        request_timeout: float | None = 300.0,
        with_image: bool = False,
        rubric: object = None,
        model: Model | None = None,
        **model_options: Any,
    ) -> None:
        if format_name not in GUARDS:
            raise GuardSpecError(f"no guard format {format_name!r}; use one of {', '.join(GUARDS)}")
        self.format: GuardFormat = GUARDS[format_name]
        example = f"{format_name}:MODEL@http://localhost:8000/v1"
        if with_image:
            raise GuardSpecError(f"{self.format.title} reads text only; leave --with-image out for {format_name}")
        if rubric is not None:
            raise GuardSpecError(f"{self.format.title} has its own fixed prompt; a --rubric applies to LLM judges only")
        unknown = sorted(set(model_options) - CONNECTION_OPTIONS)
        if unknown:
            raise GuardSpecError(
                f"{self.format.title} asks in its own fixed format; it takes no {', '.join(unknown)} "
                f"(only the connection's {', '.join(sorted(CONNECTION_OPTIONS))})"
            )
        rest = spec.strip().partition(":")[2]
        if model is None and "@" not in rest:
            raise GuardSpecError(
                f"the guard judge {spec!r} needs the server that serves the model: {example} (vLLM or SGLang)"
            )
        try:
            self.spec = model.spec if model is not None else ModelSpec.parse(f"openai:{rest}")
        except ModelSpecError as exc:
            raise GuardSpecError(f"{spec!r}: {exc}") from None
        if self.spec.is_pool and self.format.transport == "completions":
            raise GuardSpecError(f"{spec!r}: name one server for {format_name} (a pool of servers needs chat models)")
        self.name = f"{format_name}:{self.spec.name}"
        self.concurrency = concurrency
        self.request_timeout = request_timeout
        self._store = store
        self._model = model
        self._model_options = model_options
        self.failures: dict[str, str] = {}
        """response key -> why the judge call failed, for the last :meth:`judge_many`."""

    def identity(self) -> dict[str, object]:
        """Everything that decides the verdicts (never a credential: only the host)."""
        return {
            "model": self.spec.name,
            "host": ",".join(urlsplit(url).netloc.rpartition("@")[2] for url in self.spec.base_urls) or None,
            "guard_format": self.format.name,
            "format_version": self.format.version,
            "transport": self.format.transport,
            "max_tokens": self.format.max_tokens,
        }

    @property
    def version(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:10]

    def request(self, item: JudgeInput) -> Request:
        """The request for one answer, in the model's own format."""
        config = GenerationConfig(max_tokens=self.format.max_tokens, temperature=0.0)
        method = f"judge:{self.format.name}:{self.format.transport}:v{self.format.version}"
        return Request(sample_id=item.sample_id or "", messages=self.format.build(item), config=config, method=method)

    def _load(self) -> Model:
        if self._model is not None:
            return self._model
        if self.format.transport == "completions":
            return OpenAICompletionsModel(self.spec, **self._model_options)
        return load_model(self.spec, **self._model_options)

    async def ajudge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        store = self._store or Store(":memory:")
        model = self._load()
        self.failures = {}
        try:
            requests = [self.request(item) for item in items]
            keys = [request.cache_key(str(model.spec)) for request in requests]
            answered = store.answered_keys(keys)
            todo = {key: request for key, request in zip(keys, requests) if key not in answered}
            if todo:
                await execute_requests(model, todo, store, self.concurrency, self.request_timeout)
            return [self._read(item, store.get_response(key)) for item, key in zip(items, keys)]
        finally:
            if self._model is None:
                await model.aclose()

    def _read(self, item: JudgeInput, response: Any) -> Judgement:
        if response is None or response.outcome != "ok":
            outcome = response.outcome if response is not None else "error"
            reason = f"judge call {outcome}: {(response.error if response is not None else None) or 'no reply'}"
            self.failures[item.response_key or ""] = reason
            return Judgement("invalid", reason, retryable=True)
        reading = self.format.parse(response.text or "")
        if reading is None:
            return Judgement("invalid", f"the {self.format.title} reply does not follow its format", raw=response.text)
        return Judgement(reading.label, reading.reason, raw=response.text)

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        return asyncio.run(self.ajudge_many(items))
