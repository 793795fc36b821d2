"""One model served by several OpenAI-compatible servers: ``openai:MODEL@URL1,URL2,URL3``.

Scaling vLLM or SGLang past one GPU usually means N replicas behind N URLs. The pool holds one
:class:`~vscbench.models.openai.OpenAIModel` client per URL and, for every request:

- sends it to the least busy endpoint (fewest calls in flight; ties go to the one that has
  served least), optionally capped at ``max_inflight_per_endpoint`` calls each;
- when the endpoint fails as a *server* (connection refused or dropped, timeout, HTTP 5xx),
  sends it again to another endpoint; after ``failures_to_cool_down`` such failures in a row
  the endpoint is taken out for ``cool_down_s`` seconds, then tried again with one request;
- passes every other outcome through untouched: an answer, a content-filter ``blocked``, a
  4xx error (the request itself is wrong, another replica would say the same).

**Cache key.** A pool is keyed and recorded under ``openai:MODEL@pool`` -- the spec with
``@pool`` in place of its URLs (:attr:`ModelSpec.cache_spec`), because replicas serve the same
weights: adding, removing or reordering replicas keeps every stored answer valid, and a pool
never shares answers with a hosted model of the same name. A single-URL spec
``openai:MODEL@URL`` keeps its URL in the key as before (write ``openai:MODEL@URL,`` -- a pool of
one -- to start a cache that later replicas share).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from vscbench.models.base import Generation, ModelSpec, ModelSpecError
from vscbench.models.openai import OpenAIModel
from vscbench.schema import Request

#: How :class:`OpenAIModel` words a failure of the server rather than of the request.
_SERVER_FAILURE = re.compile(r"^(connection failed|timed out after|HTTP 5\d\d)")


def is_server_failure(generation: Generation) -> bool:
    """True for an ``error`` another replica may not have: the server was unreachable, too
    slow, or answered 5xx. A 4xx or a content filter would be the same anywhere."""
    return generation.outcome == "error" and bool(_SERVER_FAILURE.match(generation.error or ""))


@dataclass
class Endpoint:
    """One replica: its client and the counts the pool chooses by."""

    url: str
    client: OpenAIModel
    in_flight: int = 0
    served: int = 0
    failures_in_a_row: int = 0
    server_failures: int = 0
    down_until: float = 0.0

    def available(self, now: float) -> bool:
        return self.down_until <= now

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "url": self.url, "in_flight": self.in_flight, "served": self.served,
            "server_failures": self.server_failures,
            "cooling_down_s": round(max(0.0, self.down_until - now), 1),
        }  # fmt: skip


@dataclass
class _Slots:
    """Wakes callers waiting for a free endpoint; rebuilt when the event loop changes."""

    condition: asyncio.Condition | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self.condition is None or self.loop is not loop:
            self.condition, self.loop = asyncio.Condition(), loop
        return self.condition


class EndpointPool:
    """Spreads single requests over replicas of one model and routes around failing ones.

    ``endpoint_retries`` is each client's own SDK retry count (kept low: moving to another
    replica beats backing off on a dead one); ``max_retries`` bounds the extra endpoint calls
    per request. The runner's ``concurrency`` is the total in flight: give it
    ``per_endpoint * pool.size`` to keep every replica as busy as one client would keep it.
    """

    max_batch_size = 1

    def __init__(
        self,
        spec: ModelSpec,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        endpoint_retries: int = 1,
        failures_to_cool_down: int = 3,
        cool_down_s: float = 30.0,
        max_inflight_per_endpoint: int | None = None,
        **client_options: Any,
    ) -> None:
        urls = spec.base_urls
        if not urls:
            raise ModelSpecError(f"a pool needs at least one URL: openai:{spec.name}@URL1,URL2 (got {spec})")
        if len(set(urls)) != len(urls):
            raise ModelSpecError(f"model spec {spec} names a URL twice")
        self.spec = ModelSpec(spec.provider, spec.name, "pool")  # str(spec) == spec.cache_spec, the cache identity
        self.urls = urls
        self.max_retries = max_retries
        self.failures_to_cool_down = max(1, failures_to_cool_down)
        self.cool_down_s = cool_down_s
        self.max_inflight_per_endpoint = max_inflight_per_endpoint
        options = {"api_key": api_key, "timeout": timeout, "max_retries": endpoint_retries, **client_options}
        # each client connects with its URL's credentials; the pool shows and records the URL without them
        self.endpoints = [Endpoint(url, OpenAIModel(spec.endpoint(i), **options)) for i, url in enumerate(urls)]
        self._slots = _Slots()

    @property
    def size(self) -> int:
        return len(self.endpoints)

    def health(self) -> list[dict[str, Any]]:
        """Per endpoint: calls in flight, served, server failures, seconds of cool-down left."""
        now = time.monotonic()
        return [endpoint.snapshot(now) for endpoint in self.endpoints]

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return [await self._generate_one(request) for request in requests]

    async def _generate_one(self, request: Request) -> Generation:
        tried: set[int] = set()
        attempts = 0
        generation = Generation("error", error="no endpoint was tried")
        for _ in range(self.max_retries + 1):
            endpoint = await self._acquire(tried)
            try:
                generation = (await endpoint.client.generate([request]))[0]
            finally:
                await self._release(endpoint)
            attempts += generation.attempts
            if not is_server_failure(generation):
                endpoint.failures_in_a_row = 0
                endpoint.served += 1
                break
            self._record_failure(endpoint)
            tried.add(id(endpoint))
            if len(tried) >= len(self.endpoints):  # every replica failed once: start a new round
                tried.clear()
        generation.attempts = max(attempts, 1)
        if generation.outcome == "error" and is_server_failure(generation):
            generation.error = f"every endpoint failed; last: {generation.error}"
        return generation

    def _record_failure(self, endpoint: Endpoint) -> None:
        endpoint.failures_in_a_row += 1
        endpoint.server_failures += 1
        if endpoint.failures_in_a_row >= self.failures_to_cool_down:
            endpoint.down_until = time.monotonic() + self.cool_down_s

    def _choose(self, tried: set[int]) -> Endpoint | None:
        """The least busy endpoint not in cool-down, preferring ones this request has not
        tried; when all are cooling down, the one whose cool-down ends first (a probe)."""
        now = time.monotonic()
        cap = self.max_inflight_per_endpoint
        up = [e for e in self.endpoints if e.available(now)]
        candidates = [e for e in up if id(e) not in tried] or up
        if not candidates:
            candidates = [min(self.endpoints, key=lambda e: e.down_until)]
        free = [e for e in candidates if cap is None or e.in_flight < cap]
        return min(free, key=lambda e: (e.in_flight, e.served)) if free else None

    async def _acquire(self, tried: set[int]) -> Endpoint:
        condition = self._slots.get()
        async with condition:
            endpoint = self._choose(tried)
            while endpoint is None:  # every usable endpoint is at its cap: wait for a release
                await condition.wait()
                endpoint = self._choose(tried)
            endpoint.in_flight += 1
            return endpoint

    async def _release(self, endpoint: Endpoint) -> None:
        endpoint.in_flight -= 1
        if self.max_inflight_per_endpoint is not None:
            condition = self._slots.get()
            async with condition:
                condition.notify_all()  # a waiter may be unable to use the freed endpoint; let all look

    async def aclose(self) -> None:
        await asyncio.gather(*(endpoint.client.aclose() for endpoint in self.endpoints))
