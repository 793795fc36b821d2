"""Waiting for provider batches and storing their answers, for :mod:`vscbench.engine.batch`;
and the ``vscbench runs batches`` views (list, cancel).

A :class:`Collector` tracks the batches one command waits for: those it submitted and the open
batches (from a killed earlier command) that hold keys it needs. It polls them, streams the
results of each batch that ended into the store (answers in chunks, with the ``batch`` billing
tier), closes the batch in the store with every item's state, and settles the budget. Items that
failed or never ran are handed back for a retry, except those of a batch someone cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from vscbench.engine.budget import BudgetGate
from vscbench.engine.calls import to_response
from vscbench.engine.guards import Leases
from vscbench.engine.runner import ProgressCallback, RunProgress
from vscbench.models.base import Generation, ModelSpec, load_model
from vscbench.models.batch_api import BatchAPI, BatchState, batch_api_for
from vscbench.schema import Request, Response
from vscbench.store import Store
from vscbench.store.batches import BatchRecord, ItemState

#: Answers stored per transaction while a results file is read.
STORE_CHUNK = 500
#: Polls of one batch that may fail in a row (network, 5xx) before the command gives up.
POLL_FAILURES = 20


class BatchError(RuntimeError):
    """Batches could not be polled or collected; their ids are stored, so running the same
    command again resumes them."""


class Collector:
    """The batches one command waits for, and what their results did to the run's counts."""

    def __init__(self, api: BatchAPI, store: Store, model: str, todo: dict[str, Request], state: RunProgress,
                 progress: ProgressCallback | None, started: float, owner: str, gate: BudgetGate | None,
                 defer_failures: bool) -> None:  # fmt: skip
        self.api, self.store, self.model, self.todo = api, store, model, todo
        self.state, self.progress, self.started, self.owner, self.gate = state, progress, started, owner, gate
        self.defer_failures = defer_failures
        """Failed items are stored at once but counted only once no retry answers them."""
        self.covered: set[str] = set()
        self.deferred: set[str] = set()
        """Keys another live process is asking: left to it."""
        self.tracked: dict[str, tuple[float, int]] = {}
        """Local id -> (reservation held for it, reservations in it); (0, 0) for a batch an
        earlier command submitted."""
        self.ended: set[str] = set()
        self.done_at_provider: dict[str, tuple[int, int]] = {}
        self.candidates: set[str] = set()
        self.unrecorded: dict[str, Response] = {}
        self.cancelled_unanswered = 0
        self._failures: dict[str, int] = {}

    # -- which batches -------------------------------------------------------------------------
    async def recover(self, leases: Leases) -> None:
        """Batches of this model left ``submitting`` by a process that died: adopted when the
        provider has them, else abandoned (their items are sent again)."""
        for record in self.store.batches.list(open_only=True, model=self.model):
            if record.status == "submitting":
                await self._recover_one(record)

    async def _recover_one(self, record: BatchRecord) -> str:
        """``alive`` (its process is still submitting it), ``adopted`` or ``abandoned``."""
        keys = [key for key, _, _ in self.store.batches.items(record.id)]
        if self.store.claimed_by_others(keys, self.owner):
            return "alive"
        since = datetime.fromisoformat(record.created).timestamp()
        batch_id = await self.api.find(record.id, since, record.requests)
        if batch_id is None:
            self.store.batches.set_status(record.id, "abandoned", "not found at the provider")
            self.candidates.update(key for key in keys if key in self.todo)  # asked again by the retry
            return "abandoned"
        self.store.batches.submitted(record.id, batch_id, None, "recovered")
        return "adopted"

    def track_open(self, keys: Sequence[str]) -> list[str]:
        """Wait also for the open batches that hold any of ``keys``; their local ids."""
        holding = self.store.batches.keys_in_open(keys)
        self.adopt(holding)
        return sorted(set(holding.values()))

    def adopt(self, holding: dict[str, str]) -> None:
        self.covered.update(holding)
        for local_id in holding.values():
            self.tracked.setdefault(local_id, (0.0, 0))

    def submitted(self, local_id: str, held: float, holds: int) -> None:
        self.tracked[local_id] = (held, holds)

    def waiting(self) -> int:
        return len(set(self.tracked) - self.ended)

    # -- answers without a batch ---------------------------------------------------------------
    def store_now(self, failed: Iterable[tuple[str, Request, Generation]]) -> None:
        """Answers decided before sending (an unreadable image): stored and counted at once."""
        responses = [to_response(key, request.sample_id, self.model, generation, 0.0)
                     for key, request, generation in failed]  # fmt: skip
        self.store.put_responses(responses, release=self.owner)
        self._count(responses)

    def refused(self, items: Sequence[tuple[str, str]], reason: str, held: float, holds: int) -> None:
        """A batch the provider did not take: its items are failures (asked again next run)."""
        responses = [to_response(key, sample_id, self.model, Generation("error", error=reason, attempts=0), 0.0)
                     for key, sample_id in items]  # fmt: skip
        self.store.put_responses(responses, release=self.owner)
        if self.gate is not None and holds:
            self.gate.budget.settle(held, 0.0, 0, holds)
        self._count(responses)

    # -- polling -------------------------------------------------------------------------------
    async def wait(self, poll_s: float) -> None:
        """Poll the tracked batches until every one has ended and been collected."""
        while await self.poll_once():
            await asyncio.sleep(poll_s)

    async def poll_once(self) -> int:
        """Poll each open tracked batch once, collecting those that ended; how many are open."""
        for local_id in sorted(set(self.tracked) - self.ended):
            record = self.store.batches.get(local_id)
            if record is None or not record.is_open:  # collected by another process meanwhile
                self.ended.add(local_id)
                continue
            if record.batch_id is None:  # another process was submitting it: wait, or take it over if it died
                if await self._recover_one(record) == "abandoned":
                    self.ended.add(local_id)
                continue
            try:
                state = await self.api.poll(record.batch_id)
                if state.ended:
                    await self._collect(record, state)
                    self.ended.add(local_id)
                else:
                    self.done_at_provider[local_id] = (state.done, state.total or record.requests)
                    if state.status != record.provider_status:
                        self.store.batches.set_status(local_id, provider_status=state.status)
                self._failures.pop(local_id, None)
            except Exception as exc:  # noqa: BLE001 -- a network or provider hiccup: polled again later
                self._failures[local_id] = self._failures.get(local_id, 0) + 1
                if self._failures[local_id] >= POLL_FAILURES:
                    raise BatchError(
                        f"batch {record.batch_id} of {self.model} could not be polled {POLL_FAILURES} times in a row "
                        f"({type(exc).__name__}: {str(exc)[:200]}); its id is stored: run the same command again "
                        "to resume it"
                    ) from None
        self.report()
        return self.waiting()

    async def _collect(self, record: BatchRecord, state: BatchState) -> None:
        rows = self.store.batches.items(record.id)
        sample_of = {key: sample_id for key, sample_id, _ in rows}
        states: dict[str, ItemState] = dict.fromkeys(sample_of, "not_run")
        latency = round(max(0.0, time.time() - datetime.fromisoformat(record.created).timestamp()), 3)
        spent, answered, buffer = 0.0, 0, []
        if state.failed:
            reason = f"the provider failed batch {record.batch_id}: {state.reason or state.status}"
            buffer = [to_response(key, sid, self.model, Generation("error", error=reason), latency)
                      for key, sid in sample_of.items()]  # fmt: skip
            states = dict.fromkeys(sample_of, "failed")
        else:
            async for item in self.api.results(state):
                if item.custom_id not in sample_of or item.generation is None:
                    continue
                response = to_response(item.custom_id, sample_of[item.custom_id], self.model, item.generation, latency)
                states[item.custom_id] = "failed" if response.outcome == "error" else "answered"
                buffer.append(response)
                if len(buffer) >= STORE_CHUNK:
                    spent += self._store(buffer)
                    answered += len(buffer)
                    buffer = []
        spent += self._store(buffer)
        answered += len(buffer)
        self.store.batches.close(record.id, states.items(), state.status)
        held, holds = self.tracked.get(record.id, (0.0, 0))
        if self.gate is not None and holds:
            self.gate.budget.settle(held, spent, answered, holds)
        unanswered = [key for key, item_state in states.items() if item_state != "answered" and key in self.todo]
        if state.cancelled:
            self.cancelled_unanswered += len(unanswered)
        else:
            self.candidates.update(unanswered)

    def _store(self, responses: list[Response]) -> float:
        """Commit answers of a batch; their cost by reported usage (for the budget)."""
        if not responses:
            return 0.0
        self.store.put_responses(responses, release=self.owner, tier="batch")
        counted = [r for r in responses if r.key in self.todo]
        if self.defer_failures:
            for response in counted:
                if response.outcome == "error":
                    self.unrecorded[response.key] = response
            counted = [r for r in counted if r.outcome != "error"]
        self._count(counted)
        if self.gate is None:
            return 0.0
        return sum(self.gate.pricer.actual(r.usage, True, self.todo.get(r.key), r.outcome != "error")
                   for r in responses)  # fmt: skip

    # -- what is left --------------------------------------------------------------------------
    def retryable(self) -> list[str]:
        """Keys of this run that failed or never ran in a collected batch and have no final
        answer yet (each is then counted by the retry that asks it)."""
        left = set(self.candidates) - self.store.answered_keys(list(self.candidates))
        for key in left:
            self.unrecorded.pop(key, None)
        return sorted(left)

    def record_deferred(self) -> None:
        """Count the failures no retry answered."""
        self._count(list(self.unrecorded.values()))
        self.unrecorded.clear()

    def stopped_reason(self) -> str | None:
        if self.cancelled_unanswered:
            return (
                f"{self.cancelled_unanswered} request(s) of cancelled batches were not answered; run the same "
                "command again to ask them"
            )
        return None

    def _count(self, responses: Sequence[Response]) -> None:
        if responses:
            self.state.record(responses, self.started)
        self.report()

    def report(self) -> None:
        """The progress note: batches ended and items done at the provider."""
        items = {local_id: self.done_at_provider.get(local_id, (0, 0)) for local_id in self.tracked}
        done = sum(pair[0] for local_id, pair in items.items() if local_id not in self.ended)
        self.state.note = (
            f"batches {len(self.ended)}/{len(self.tracked)} ended; {done} items done in running batches"
            if self.tracked
            else None
        )
        self.state.elapsed_s = time.perf_counter() - self.started
        if self.progress is not None:
            self.progress(self.state)


def list_batches(store: Store, open_only: bool = True) -> list[BatchRecord]:
    """The batches a store holds (only those still to collect with ``open_only``)."""
    return store.batches.list(open_only=open_only)


def cancel_open_batches(store: Store, **model_options: Any) -> list[tuple[BatchRecord, str]]:
    """Ask the provider to cancel every open batch; (batch, what happened) for each. Cancelled
    batches stay open in the store: the next run collects the answers they had (never asking
    their other requests in that same command)."""

    async def cancel_all() -> list[tuple[BatchRecord, str]]:
        outcome: list[tuple[BatchRecord, str]] = []
        apis: dict[str, tuple[Any, BatchAPI]] = {}
        try:
            for record in store.batches.list(open_only=True):
                if record.batch_id is None:
                    outcome.append((record, "not cancelled: the provider has not confirmed it yet"))
                    continue
                if record.model not in apis:
                    model = load_model(ModelSpec.parse(record.model), **model_options)
                    apis[record.model] = (model, batch_api_for(model))
                try:
                    state = await apis[record.model][1].cancel(record.batch_id)
                except Exception as exc:  # noqa: BLE001 -- reported per batch, the others still cancelled
                    outcome.append((record, f"not cancelled: {type(exc).__name__}: {str(exc)[:200]}"))
                    continue
                store.batches.set_status(record.id, provider_status=state.status)
                outcome.append((record, f"cancelling ({state.status})"))
        finally:
            for model, _ in apis.values():
                await model.aclose()
        return outcome

    return asyncio.run(cancel_all())
