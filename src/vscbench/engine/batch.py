"""Provider batch APIs as an executor: the same keyed requests, sent in batches at a discount.

:class:`BatchExecutor` is an :class:`~vscbench.engine.runner.Executor`, so a batch run is planned,
keyed, stored and counted exactly like a synchronous one, and LLM judges use it the same way.
What it guarantees:

- requests go in chunks under the provider's limits, by count *and* by bytes (an image request
  line is a few hundred kB, so bytes bind long before the count does), built in a temporary
  file so memory stays flat;
- a batch is written to the store (``batches``, ``batch_items``) *before* the provider is
  called, and its provider id as soon as the provider accepts it: a killed ``vscbench run``
  resumes by polling the same batches and never submits a request twice; a batch whose id
  never reached the store is found again by its tag (:meth:`BatchAPI.find`);
- each item's custom id is its cache key and its answer is read by the synchronous backend's
  own code, so a batch answer and a synchronous answer of one request are the same cache entry
  (stored with the ``batch`` billing tier);
- items that failed or expired are asked again in this command, synchronously or in a new
  batch (``retry``), once; items of a batch someone cancelled are not;
- a ``--max-cost`` budget reserves each chunk's upper-bound cost before it is submitted.

Polling, collecting and the ``runs batches`` views are in :mod:`vscbench.engine.batch_poll`.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vscbench.engine.batch_poll import BatchError, Collector
from vscbench.engine.budget import BudgetGate
from vscbench.engine.guards import Leases
from vscbench.engine.runner import ProgressCallback, RunProgress, execute_requests
from vscbench.images import ImageError
from vscbench.models.base import Generation, Model
from vscbench.models.batch_api import BatchAPI, BatchRefused, batch_api_for
from vscbench.schema import Request
from vscbench.store import Store

__all__ = ["BatchError", "BatchExecutor", "BatchRetry", "BatchSettings"]

BatchRetry = Literal["sync", "batch", "none"]
"""How items that failed or expired in a batch are asked again in the same command:
synchronously, in a new batch, or not at all (the next run asks them)."""

#: Share of the provider's byte limit a batch is filled to (JSON framing, multipart headers).
FILL = 0.95
#: Requests encoded at once while a batch file is built.
ENCODE_WINDOW = 32


@dataclass(frozen=True)
class BatchSettings:
    """How a run uses a provider's batch API."""

    max_requests: int | None = None
    """Requests per batch (None: the provider's limit)."""
    max_mb: float | None = None
    """Input megabytes per batch (None: 95 % of the provider's limit)."""
    poll_s: float = 30.0
    retry: BatchRetry = "sync"
    wait: bool = True
    """Wait for the batches to end; False submits them and returns (run again to collect)."""
    purpose: str | None = None
    """What the batches are for (a run name, a judge), stored with them."""


@dataclass
class BatchExecutor:
    """Send a run's calls through ``model``'s batch API (see the module docstring)."""

    model: Model
    settings: BatchSettings = field(default_factory=BatchSettings)
    gate: BudgetGate | None = None
    concurrency: int = 8
    """Calls in flight for a synchronous retry."""
    request_timeout: float | None = None
    lease_s: float = 60.0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_spec(self) -> str:
        return str(self.model.spec)

    async def execute(
        self, todo: dict[str, Request], store: Store, progress: ProgressCallback | None, started: float
    ) -> RunProgress:
        api = batch_api_for(self.model)
        state = RunProgress(to_send=len(todo))
        self.stats = {"batches_submitted": 0, "batches_resumed": 0, "items_submitted": 0, "items_retried": 0,
                      "retry": self.settings.retry}  # fmt: skip
        if not todo:
            return state
        async with Leases(store, self.lease_s) as leases:
            collector = Collector(api, store, self.cache_spec, todo, state, progress, started, leases.owner,
                                  self.gate, defer_failures=self.settings.retry != "none")  # fmt: skip
            await collector.recover(leases)
            resumed = collector.track_open(list(todo))
            self.stats["batches_resumed"] = len(resumed)
            fresh = [(key, request) for key, request in todo.items() if key not in collector.covered]
            left = await self._submit(api, fresh, store, leases, collector, state)
            if not self.settings.wait:
                await collector.poll_once()
                waiting = collector.waiting()
                if waiting:
                    state.stopped = (
                        f"{waiting} batch(es) submitted and not waited for (--no-batch-wait): run the same command "
                        "again to collect their answers"
                    )
                return state
            await collector.wait(self.settings.poll_s)
            while left and self.gate is not None and not self.gate.stopped:  # answered below their reservation
                left = await self._submit(api, left, store, leases, collector, state)
                await collector.wait(self.settings.poll_s)
            again = collector.retryable()
            if again and self.settings.retry != "none":
                self.stats["items_retried"] = len(again)
                collector.defer_failures = False
                if self.settings.retry == "batch":
                    await self._submit(api, [(k, todo[k]) for k in again], store, leases, collector, state)
                    await collector.wait(self.settings.poll_s)
                else:  # the synchronous runner leases the keys itself
                    store.release_claims(leases.owner, again)
                    await self._retry_sync({key: todo[key] for key in again}, store, state, progress, started)
            collector.record_deferred()
        if state.stopped is None:
            over = self.gate.budget.reason if self.gate is not None and self.gate.stopped else None
            state.stopped = collector.stopped_reason() or over
        return state

    async def _retry_sync(self, todo: dict[str, Request], store: Store, state: RunProgress,
                          progress: ProgressCallback | None, started: float) -> None:  # fmt: skip
        gate = BudgetGate(self.gate.budget, self.gate.pricer, batch=False) if self.gate is not None else None
        again = await execute_requests(self.model, todo, store, self.concurrency, self.request_timeout, None,
                                       started, lease_s=self.lease_s, gate=gate)  # fmt: skip
        for name in ("done", "ok", "blocked", "error", "empty", "prompt_tokens", "completion_tokens"):
            setattr(state, name, getattr(state, name) + getattr(again, name))
        state.errors.update(again.errors)
        state.stopped = state.stopped or again.stopped
        state.elapsed_s = time.perf_counter() - started
        if progress is not None:
            progress(state)

    async def _submit(self, api: BatchAPI, items: Sequence[tuple[str, Request]], store: Store, leases: Leases,
                      collector: Collector, state: RunProgress) -> list[tuple[str, Request]]:  # fmt: skip
        """Encode, chunk and submit ``items`` (those this process may send), each batch stored
        first; the items left unsent because the budget had no room for them now."""
        limit_requests = min(self.settings.max_requests or api.max_requests, api.max_requests)
        limit_bytes = int(min(self.settings.max_mb * 1024 * 1024 if self.settings.max_mb else api.max_bytes,
                              api.max_bytes) * FILL)  # fmt: skip
        left: list[tuple[str, Request]] = []
        with tempfile.TemporaryDirectory(prefix="vscbench-batch-") as folder:
            chunk = _Chunk(Path(folder) / "batch.jsonl")
            try:
                for start in range(0, len(items), ENCODE_WINDOW):
                    window = list(items[start : start + ENCODE_WINDOW])
                    mine = leases.take([key for key, _ in window])
                    busy = store.batches.keys_in_open([key for key in mine])  # asked by a batch since planning
                    collector.adopt(busy)
                    window = [(key, request) for key, request in window if key in mine and key not in busy]
                    collector.deferred.update(key for key, _ in items[start : start + ENCODE_WINDOW] if key not in mine)
                    held = self._hold(window)
                    if len(held) < len(window):  # no room in the budget now: the rest waits
                        left = window[len(held) :] + list(items[start + ENCODE_WINDOW :])
                    window = window[: len(held)]
                    lines = await asyncio.gather(*(self._encode(api, key, request) for key, request in window))
                    for (key, request), reservation, line in zip(window, held, lines):
                        if isinstance(line, Generation):  # unreadable image: failed alone, never sent
                            collector.store_now([(key, request, line)])
                            if self.gate is not None:
                                self.gate.budget.settle(reservation, 0.0, 0, holds=1)
                            continue
                        full = chunk.count >= limit_requests or chunk.size + len(line) + 1 > limit_bytes
                        if chunk.count and full and not await self._flush(api, chunk, store, collector, state):
                            return []
                        chunk.add(key, request.sample_id, line, reservation)
                    if left:
                        break
                await self._flush(api, chunk, store, collector, state)
            finally:
                chunk.close()
        return left

    def _hold(self, window: list[tuple[str, Request]]) -> list[float]:
        """The reservations of the longest start of ``window`` that fits the budget."""
        if self.gate is None:
            return [0.0] * len(window)
        held: list[float] = []
        for _, request in window:
            amount = self.gate.pricer.reservation(request, batch=True)
            if not self.gate.budget.try_reserve(amount):
                if not held and not self.gate.budget.holds:  # nothing in flight could free room
                    self.gate.budget.stop(amount)
                break
            held.append(amount)
        return held

    async def _encode(self, api: BatchAPI, key: str, request: Request) -> bytes | Generation:
        try:
            return await api.encode(key, request)
        except (ImageError, OSError, ValueError) as exc:
            return Generation("error", error=f"cannot read image: {exc}", attempts=0)

    async def _flush(self, api: BatchAPI, chunk: _Chunk, store: Store, collector: Collector,
                     state: RunProgress) -> bool:  # fmt: skip
        """Submit the chunk as one batch (stored first); False when no further batch should go."""
        if not chunk.count:
            return True
        local_id = uuid.uuid4().hex
        store.batches.create(local_id, api.provider, self.cache_spec, chunk.items, chunk.size, self.settings.purpose)
        chunk.handle.flush()
        try:
            submitted = await api.submit(chunk.path, chunk.count, local_id)
        except BatchRefused as exc:
            store.batches.close(local_id, [(key, "failed") for key, _ in chunk.items], "not accepted", "failed")
            collector.refused(chunk.items, str(exc), chunk.held, chunk.holds)
            chunk.reset()
            if exc.fatal:
                state.stopped = str(exc)
            return not exc.fatal
        store.batches.submitted(local_id, submitted.batch_id, submitted.input_file_id, submitted.status)
        collector.submitted(local_id, chunk.held, chunk.holds)
        self.stats["batches_submitted"] += 1
        self.stats["items_submitted"] += chunk.count
        chunk.reset()
        collector.report()
        return True


class _Chunk:
    """The batch being built: its JSONL file on disk, its items and its reservation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("wb")
        self.items: list[tuple[str, str]] = []
        self.size = 0
        self.held = 0.0
        self.holds = 0
        """Budget reservations in ``held`` (one per request, with a budget)."""

    @property
    def count(self) -> int:
        return len(self.items)

    def add(self, key: str, sample_id: str, line: bytes, reservation: float) -> None:
        self.handle.write(line + b"\n")
        self.items.append((key, sample_id))
        self.size += len(line) + 1
        self.held += reservation
        self.holds += 1

    def reset(self) -> None:
        self.handle.close()
        self.handle = self.path.open("wb")
        self.items, self.size, self.held, self.holds = [], 0, 0.0, 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
