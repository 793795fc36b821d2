"""Fan requests out to a model with bounded concurrency, and write every answer to the store.

The runner owns scheduling, not retries: API backends retry inside their SDK, and the runner
adds only an overall per-call deadline as a safety net. What it guarantees:

- a request whose key already has a final answer (``ok`` or ``blocked``) is never sent again,
  while an ``error`` is retried on the next run;
- samples that ask the same thing (same key) are sent once;
- each answer is committed as soon as it arrives, so a killed run loses only calls in flight;
- a failure is stored as an ``error`` with its reason, never as an answer;
- two processes on one store do not send the same call (keys are leased in the store first),
  a run stops after a few calls failing with a refused key or an unknown model, and SIGTERM
  ends a run like Ctrl-C (:mod:`vscbench.engine.guards`);
- a store that fails (a full disk, a lock held too long) stops the run with one
  :class:`~vscbench.store.StoreError`; the answers committed before are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from vscbench.engine.budget import BudgetGate
from vscbench.engine.calls import call_model, to_response
from vscbench.engine.guards import ClaimedBatches, FatalStop, Leases, sigterm_as_interrupt
from vscbench.engine.requests import ImageHashCache, RequestTransform, build_requests, unsent_key
from vscbench.models.base import Model
from vscbench.schema import GenerationConfig, Request, Response, RunSpec, Sample
from vscbench.store import Store, StoreError


@dataclass
class RunProgress:
    """Counts passed to the progress callback after every finished call."""

    to_send: int
    done: int = 0
    ok: int = 0
    blocked: int = 0
    error: int = 0
    empty: int = 0
    elapsed_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: Counter = field(default_factory=Counter)
    stopped: str | None = None
    """Why the run stopped sending before the end (a fatal provider error), or None."""
    note: str | None = None
    """What an executor is waiting for (provider batches: how many ended, items done)."""

    def record(self, responses: Sequence[Response], started: float) -> None:
        """Count stored responses by outcome, with their tokens and error reasons."""
        for response in responses:
            setattr(self, response.outcome, getattr(self, response.outcome) + 1)
            self.prompt_tokens += response.usage.prompt_tokens or 0
            self.completion_tokens += response.usage.completion_tokens or 0
            if response.outcome == "error":
                self.errors[response.error or "unknown error"] += 1
        self.done += len(responses)
        self.elapsed_s = time.perf_counter() - started

    @property
    def rate(self) -> float:
        """Finished calls per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[RunProgress], None]


@dataclass
class RunSummary:
    """What one invocation did: ``sent`` calls ended ``ok``/``blocked``/``error``; ``cached``
    keys were answered by an earlier run and not sent."""

    run: str
    model: str
    samples: int
    unique: int
    sent: int
    cached: int
    ok: int = 0
    blocked: int = 0
    error: int = 0
    empty: int = 0
    elapsed_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    top_errors: list[tuple[str, int]] = field(default_factory=list)
    stopped: str | None = None
    """Why the run stopped sending before the end (a refused key, an unknown model), or None."""
    executor: dict[str, Any] = field(default_factory=dict)
    """How the executor shared the work (Ray: replicas, batches per replica, requeued batches)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunPlan:
    """The requests of a run, their keys, and which of them still need a call."""

    model: str
    samples: list[Sample]
    requests: list[Request]
    keys: list[str]
    todo: dict[str, Request]
    """Unique keys without a final answer -> the request to send (first sample asking it)."""
    cached: int
    """Unique keys that already have a final answer."""

    @property
    def unique(self) -> int:
        return len(set(self.keys))


def default_run_name(model_spec: str) -> str:
    """A readable run name from a model spec: ``openai:gpt-4o-mini@http://h/v1`` -> ``gpt-4o-mini``."""
    name = model_spec.partition(":")[2].rpartition("@")[0] or model_spec.partition(":")[2]
    name = name.rstrip("/").rsplit("/", 1)[-1] if "/" in name and not model_spec.startswith("openai:") else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def free_run_name(
    store: Store,
    base: str,
    model_spec: str,
    config: GenerationConfig,
    method: str = "none",
    selection: dict[str, Any] | None = None,
) -> str:
    """``base`` if it is free or names a run of the same model, config, method and sample
    selection (:meth:`RunSpec.selection`); otherwise ``base`` with a short hash of those, so
    changed settings or another ``--limit`` start a separate run."""
    existing = store.get_run(base)
    same = existing is not None and (existing.model, existing.config, existing.method) == (model_spec, config, method)
    if existing is None or (same and (selection is None or existing.selection() == selection)):
        return base
    blob = json.dumps([model_spec, config.key_fields(), method] + ([selection] if selection else []), sort_keys=True)
    name = f"{base}-{hashlib.sha256(blob.encode()).hexdigest()[:6]}"
    other = store.get_run(name)
    if other is not None and selection is not None and other.selection() != selection:
        return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[6:12]}"
    return name


def plan_run(
    model_spec: str,
    samples: Sequence[Sample],
    store: Store,
    config: GenerationConfig | None = None,
    transform: RequestTransform | None = None,
    hashes: ImageHashCache | None = None,
) -> RunPlan:
    """Build the requests and split their keys into answered (cached) and still to send.

    Needs no model, so ``--dry-run`` works without an API key.
    """
    hashes = hashes if hashes is not None else hash_cache_from(store)
    requests = build_requests(samples, config, transform=transform, hashes=hashes)
    keys = [request.cache_key(model_spec) for request in requests]
    answered = store.answered_keys(keys)
    todo: dict[str, Request] = {}
    for key, request in zip(keys, requests):
        if key not in answered and key not in todo:
            todo[key] = request
    return RunPlan(model_spec, list(samples), requests, keys, todo, cached=len(answered))


def hash_cache_from(store: Store) -> ImageHashCache:
    """An image-hash cache seeded with the hashes the store remembers (a resumed run reads no image)."""
    cache = ImageHashCache()
    cache.update(store.image_hashes())
    return cache


@runtime_checkable
class Executor(Protocol):
    """Where the calls of a run are made: in this process (:class:`LocalExecutor`, which also
    drives a pool of servers, itself a model), or on a Ray cluster
    (:class:`vscbench.engine.ray.RayExecutor`). :func:`run_samples` plans, keys, stores
    and counts the same way whichever executor sends the calls."""

    @property
    def cache_spec(self) -> str:
        """The model spec answers are keyed and recorded under."""
        ...

    async def execute(
        self, todo: dict[str, Request], store: Store, progress: ProgressCallback | None, started: float
    ) -> RunProgress:
        """Send every keyed request, commit each answer to the store as it arrives."""
        ...


@dataclass
class LocalExecutor:
    """Bounded-concurrency calls to one model in this process (see :func:`execute_requests`)."""

    model: Model
    concurrency: int = 8
    request_timeout: float | None = None
    lease_s: float = 60.0
    """How long a claim on a key outlives this process if it dies (renewed while it lives)."""
    poll_s: float = 1.0
    """How often keys another process is asking are looked at again."""
    gate: BudgetGate | None = None
    """A ``--max-cost`` budget the calls are reserved against (None: no budget)."""

    @property
    def cache_spec(self) -> str:
        return str(self.model.spec)

    async def execute(
        self, todo: dict[str, Request], store: Store, progress: ProgressCallback | None, started: float
    ) -> RunProgress:
        return await execute_requests(self.model, todo, store, self.concurrency, self.request_timeout, progress,
                                      started, lease_s=self.lease_s, poll_s=self.poll_s, gate=self.gate)  # fmt: skip


async def run_samples(
    model: Model | Executor,
    samples: Sequence[Sample],
    store: Store,
    run_name: str | None = None,
    config: GenerationConfig | None = None,
    concurrency: int = 8,
    transform: RequestTransform | None = None,
    request_timeout: float | None = None,
    progress: ProgressCallback | None = None,
    spec: RunSpec | None = None,
    unsent: Sequence[Sample] = (),
) -> RunSummary:
    """Ask ``model`` every sample not answered yet, storing each answer as it arrives.

    ``model`` is a model (called here, ``concurrency`` calls in flight; a backend with
    ``max_batch_size`` > 1 gets batches of up to that many requests per call) or an
    :class:`Executor` that sends the calls elsewhere. ``request_timeout`` is an overall
    deadline for one call (retries included); a call past it is stored as an ``error``.
    ``spec`` (optional) records how the samples were chosen; its name, model, config and
    method are filled here. ``unsent`` samples belong to the run but are never sent (:func:`unsent_key`).
    """
    started = time.perf_counter()
    config = config or GenerationConfig()
    executor = model if isinstance(model, Executor) else LocalExecutor(model, concurrency, request_timeout)
    model_spec = executor.cache_spec
    hashes = hash_cache_from(store)
    plan = plan_run(model_spec, samples, store, config, transform, hashes)
    if hashes.hashed:  # remember new hashes so the next run reads no image to compute its keys
        store.put_image_hashes(hashes.entries())
    method = plan.requests[0].method if plan.requests else "none"
    name = run_name or (spec.name if spec else None) or default_run_name(model_spec)
    base = spec or RunSpec(name=name, model=model_spec)
    run_spec = base.model_copy(update={"name": name, "model": model_spec, "config": config, "method": method})
    store.start_run(run_spec, [*zip(plan.samples, plan.keys), *((sample, unsent_key(sample)) for sample in unsent)])

    summary = RunSummary(name, model_spec, len(plan.samples), plan.unique, sent=len(plan.todo), cached=plan.cached)
    try:
        with sigterm_as_interrupt():
            state = await executor.execute(plan.todo, store, progress, started)
        final = store.answered_keys(plan.keys)
        status = "complete" if len(final) == plan.unique else "incomplete"
    except BaseException:  # Ctrl-C, SIGTERM, a failing store: what was committed stays
        with contextlib.suppress(StoreError):  # the store may be what failed; that error is the one to tell
            store.finish_run(name, "interrupted")
        raise
    store.finish_run(name, status)
    summary.stopped = state.stopped
    summary.sent = state.done
    summary.ok, summary.blocked, summary.error, summary.empty = state.ok, state.blocked, state.error, state.empty
    summary.prompt_tokens, summary.completion_tokens = state.prompt_tokens, state.completion_tokens
    summary.elapsed_s = round(time.perf_counter() - started, 3)
    summary.top_errors = state.errors.most_common(5)
    summary.executor = dict(getattr(executor, "stats", None) or {})
    return summary


async def execute_requests(
    model: Model,
    todo: dict[str, Request],
    store: Store,
    concurrency: int = 8,
    request_timeout: float | None = None,
    progress: ProgressCallback | None = None,
    started: float | None = None,
    lease_s: float = 60.0,
    poll_s: float = 1.0,
    gate: BudgetGate | None = None,
) -> RunProgress:
    """Send keyed requests with bounded concurrency and commit each answer as it arrives.

    The caller decides what to send (``todo``: cache key -> request, already without answered
    keys); samples runs and LLM-judge calls share this one scheduler. Each key is leased in the
    store before it is sent: keys another live process is asking are left to it, and asked
    here only if that process dies without answering (``lease_s`` after its last renewal).
    Sending stops after a few fatal provider errors in a row (:class:`FatalStop`), and before
    a call whose reserved cost would pass the ``gate``'s budget (:mod:`vscbench.engine.budget`).
    """
    started = started if started is not None else time.perf_counter()
    model_spec = str(model.spec)
    state = RunProgress(to_send=len(todo))
    batch_size = max(1, int(getattr(model, "max_batch_size", 1) or 1))
    fatal = FatalStop()
    deferred: dict[str, Request] = {}

    def halted() -> bool:
        return fatal.stopped or (gate is not None and gate.stopped)

    async def send(batch: list[tuple[str, Request]], held: float) -> None:
        call_started = time.perf_counter()
        generations = await call_model(model, [request for _, request in batch], request_timeout)
        latency = round(time.perf_counter() - call_started, 4)
        responses = [
            to_response(key, request.sample_id, model_spec, generation, latency)
            for (key, request), generation in zip(batch, generations)
        ]
        store.put_responses(responses, release=leases.owner)
        if gate is not None:
            gate.settle(held, [(request, response) for (_, request), response in zip(batch, responses)])
        state.record(responses, started)
        fatal.see(responses)
        if progress is not None:
            progress(state)

    async def worker(batches: ClaimedBatches) -> None:
        while not halted():  # one shared source: each batch goes to exactly one worker
            batch = batches.next_batch()
            if batch is None:
                return
            held = await gate.hold([request for _, request in batch]) if gate is not None else 0.0
            if held is None:  # past the budget: left unsent (its lease ends with this run)
                return
            await send(batch, held)

    async def pass_over(items: list[tuple[str, Request]]) -> None:
        batches = ClaimedBatches(items, batch_size, leases, deferred, ahead=2 * max(concurrency, batch_size))
        workers = [asyncio.create_task(worker(batches)) for _ in range(max(1, min(concurrency, len(items))))]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async with Leases(store, lease_s) as leases:
        await pass_over(list(todo.items()))
        while deferred and not halted():  # keys another process was asking: wait for it
            for key in store.answered_keys(list(deferred)):
                deferred.pop(key)
            waiting = list(deferred.items())
            deferred.clear()
            if not waiting:
                break
            await asyncio.sleep(poll_s)
            await pass_over(waiting)  # sends what is free now (its owner died, or gave up)
    state.stopped = fatal.reason or (gate.budget.reason if gate is not None and gate.stopped else None)
    return state


def run_samples_sync(model: Model, samples: Sequence[Sample], store: Store, **options: Any) -> RunSummary:
    """:func:`run_samples` for scripts and notebooks without an event loop of their own."""

    async def run_and_close() -> RunSummary:
        try:
            return await run_samples(model, samples, store, **options)
        finally:
            await model.aclose()

    return asyncio.run(run_and_close())
