"""The LLM judge: any model backend classifies responses with the rubric.

Judge calls go through the same runner and store as model runs: they are cached by content
(re-judging costs nothing), resumable, concurrent, and their failures are kept apart. A reply
that cannot be parsed is re-asked once; a second unreadable reply gives ``invalid``. A judge
call that failed (network, rate limit after retries, the judge's own content filter) gives no
verdict at all: it is retried the next time the run is judged, and meanwhile counted as missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vscbench.engine.batch import BatchExecutor, BatchSettings
from vscbench.engine.budget import Budget, BudgetGate
from vscbench.engine.estimate import Pricer
from vscbench.engine.requests import ImageHashCache
from vscbench.engine.runner import Executor, LocalExecutor, execute_requests
from vscbench.judges.base import JUDGE_INPUTS, JudgeInput, JudgeInputMode, Judgement
from vscbench.judges.rubric import DEFAULT_RUBRIC, JUDGE_REQUEST_FORMAT, judge_request, load_rubric, parse_verdict
from vscbench.models.base import Model, ModelSpec, load_model
from vscbench.models.pricing import PriceTable
from vscbench.schema import GenerationConfig, Request
from vscbench.store import Store

Asked = tuple[str, str | None, str | None, str]
"""(outcome, text, error, call key) of one judge call."""


class LLMJudge:
    """Classify responses with a chat model. ``store`` caches every judge call (a temporary
    in-memory store is used when none is given). ``batch`` sends the calls through the
    provider's batch API (:mod:`vscbench.engine.batch`); ``budget`` is a ``--max-cost`` budget
    shared with the runs, priced by ``prices``."""

    def __init__(
        self,
        spec: str,
        store: Store | None = None,
        with_image: bool = False,
        concurrency: int = 16,
        rubric: str | Path | None = None,
        structured: bool = True,
        model: Model | None = None,
        request_timeout: float | None = 300.0,
        temperature: float = 0.0,
        max_tokens: int = 300,
        judge_input: JudgeInputMode = "question+prompt",
        batch: BatchSettings | None = None,
        budget: Budget | None = None,
        prices: PriceTable | None = None,
        **model_options: Any,
    ) -> None:
        if judge_input not in JUDGE_INPUTS:
            raise ValueError(f"unknown judge input {judge_input!r}; use one of {', '.join(JUDGE_INPUTS)}")
        self.judge_input = judge_input
        self.spec = ModelSpec.parse(spec) if model is None else model.spec
        self.rubric = load_rubric(rubric) if rubric is not None else DEFAULT_RUBRIC
        self.with_image = with_image
        self.concurrency = concurrency
        self.structured = structured
        self.request_timeout = request_timeout
        self.temperature, self.max_tokens = temperature, max_tokens
        self._store = store
        self._model = model
        self._model_options = model_options
        self._hashes = ImageHashCache()
        self.batch, self.budget, self.prices = batch, budget, prices
        self.chunk_size = 1_000_000 if batch is not None else 256
        """Answers per judge_many call: a batch judge takes a run's answers in one go."""
        suffix = "+image" if with_image else ""
        if self.rubric != DEFAULT_RUBRIC:
            suffix += "+rubric=" + hashlib.sha256(self.rubric.encode()).hexdigest()[:10]
        self.name = f"{self.spec.provider}:{self.spec.name}{suffix}"
        self.failures: dict[str, str] = {}
        """response key -> why the judge call failed, for the last :meth:`judge_many`."""

    def check_access(self) -> None:
        """Raise :class:`~vscbench.models.base.ModelSpecError` now (no API key, a key that is not
        one line, a package not installed) rather than after the models it judges have run."""
        if self._model is None:
            model = load_model(self.spec, **self._model_options)
            asyncio.run(model.aclose())

    def identity(self) -> dict[str, object]:
        """Everything that decides this judge's verdicts (never a credential: only the host)."""
        config = self._config()
        return {
            "model": f"{self.spec.provider}:{self.spec.name}",
            "host": judge_hosts(self.spec.base_url),
            "rubric_sha256": hashlib.sha256(self.rubric.encode()).hexdigest(),
            "request_format": JUDGE_REQUEST_FORMAT,
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "with_image": self.with_image,
            # stated only when not the default, so the default judge keeps its version (and its verdicts)
            **({"judge_input": self.judge_input} if self.judge_input != "question+prompt" else {}),
        }

    @property
    def version(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    def _config(self) -> GenerationConfig:
        from vscbench.judges.rubric import VERDICT_SCHEMA

        return GenerationConfig(
            max_tokens=self.max_tokens, temperature=self.temperature,
            response_schema=VERDICT_SCHEMA if self.structured else None,
        )  # fmt: skip

    def request_for(self, item: JudgeInput, retry_of: str | None = None) -> Request:
        """The request this judge sends for one answer (what a dry run prices)."""
        if self.judge_input == "question":
            item = replace(item, prompt_sent=None)
        digest = None
        if self.with_image and item.image_path:
            digest = self._hashes.sha256(item.image_path)
        return judge_request(
            item, self.rubric, self._config(), with_image=self.with_image, image_sha256=digest, retry_of=retry_of
        )

    def _executor(self, model: Model, store: Store) -> Executor:
        """Where the judge calls go: this process, or the provider's batch API; with a budget."""
        gate = None
        if self.budget is not None:
            pricer = Pricer(str(model.spec), self.prices, store, role="judge")
            gate = BudgetGate(self.budget, pricer, batch=self.batch is not None)
        if self.batch is not None:
            settings = replace(self.batch, purpose=f"judge {self.name}")
            return BatchExecutor(model, settings, gate, self.concurrency, self.request_timeout)
        return LocalExecutor(model, self.concurrency, self.request_timeout, gate=gate)

    async def _ask(self, model: Model, store: Store, requests: list[Request]) -> list[Asked]:
        """(outcome, text, error, call key) for each request, answered from the store where possible."""
        keys = [request.cache_key(str(model.spec)) for request in requests]
        answered = store.answered_keys(keys)
        todo = {key: request for key, request in zip(keys, requests) if key not in answered}
        stopped = None
        if todo:
            state = await self._executor(model, store).execute(todo, store, None, time.perf_counter())
            stopped = state.stopped
        out: list[Asked] = []
        for key in keys:
            response = store.get_response(key)
            missing = f"not asked: {stopped}" if stopped else "no reply"
            out.append(
                (response.outcome, response.text, response.error, key) if response else ("error", None, missing, key)
            )
        return out

    async def ajudge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        store = self._store or Store(":memory:")
        model = self._model or load_model(self.spec, **self._model_options)
        try:
            first = await self._ask(model, store, [self.request_for(item) for item in items])
            if self.structured and first and all(o == "error" and e and "HTTP 400" in e for o, _, e, _ in first):
                # the server does not know structured output: ask in plain text instead
                self.structured = False
                first = await self._ask(model, store, [self.request_for(item) for item in items])
            results: list[Judgement | None] = [None] * len(items)
            retry: list[int] = []
            self.failures = {}
            for index, (outcome, text, error, call) in enumerate(first):
                parsed = parse_verdict(text) if outcome == "ok" else None
                if parsed:
                    results[index] = Judgement(parsed[0], parsed[1], raw=text, calls=(call,))
                elif outcome == "ok":
                    retry.append(index)
                else:
                    results[index] = self._failed(items[index], outcome, error)
            if retry:
                again = await self._ask(
                    model, store, [self.request_for(items[i], retry_of=first[i][1] or "") for i in retry]
                )
                for index, (outcome, text, error, call) in zip(retry, again):
                    calls = (first[index][3], call)
                    parsed = parse_verdict(text) if outcome == "ok" else None
                    if parsed:
                        results[index] = Judgement(parsed[0], parsed[1], raw=text, calls=calls)
                    elif outcome == "ok":
                        results[index] = Judgement(
                            "invalid",
                            "the judge's reply could not be read, twice",
                            raw=f"{first[index][1]}\n---\n{text}",
                            calls=calls,
                        )
                    else:
                        results[index] = self._failed(items[index], outcome, error)
            assert all(result is not None for result in results)  # every index was filled above
            return [result for result in results if result is not None]
        finally:
            if self._model is None:
                await model.aclose()

    def _failed(self, item: JudgeInput, outcome: str, error: str | None) -> Judgement:
        reason = f"judge call {outcome}: {error or 'no reason given'}"
        self.failures[item.response_key or ""] = reason
        return Judgement("invalid", reason, raw=None, retryable=True)

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        return asyncio.run(self.ajudge_many(items))


async def ask_model(
    model: Model, store: Store, requests: list[Request], concurrency: int, request_timeout: float | None
) -> list[tuple[str, str | None, str | None]]:
    """(outcome, text, error) of a judge model for each request, answered from the store where
    possible (judge calls are cached by content like model calls)."""
    keys = [request.cache_key(str(model.spec)) for request in requests]
    answered = store.answered_keys(keys)
    todo = {key: request for key, request in zip(keys, requests) if key not in answered}
    if todo:
        await execute_requests(model, todo, store, concurrency, request_timeout)
    out: list[tuple[str, str | None, str | None]] = []
    for key in keys:
        response = store.get_response(key)
        out.append((response.outcome, response.text, response.error) if response else ("error", None, "no reply"))
    return out


def judge_hosts(base_url: str | None) -> str | None:
    """``host[:port]`` of each server a judge talks to: no scheme, path or credentials."""
    if not base_url:
        return None
    return ",".join(urlsplit(url).netloc.rpartition("@")[2] for url in base_url.split(",") if url) or None
