"""Data-parallel generation on a Ray cluster: an executor with N replicas of a model.

:class:`RayExecutor` is an :class:`vscbench.engine.runner.Executor`: :func:`vscbench.engine.runner.run_samples`
plans the run (same cache keys, so a Ray run and a local run share answers), stores and counts
exactly as it does locally; this module only sends the keys still to do to Ray actors in
batches and commits each batch's answers to the store as it comes back (``ray.wait``). Each
replica is an actor that loads the model once (any backend spec; typically ``hf:`` with one GPU
each via ``resources={"num_gpus": 1}``). A killed driver loses only the batches in flight, and
running again sends only what is missing. A replica that dies has its batch sent to the others.

Ray is not a dependency of the core package (``pip install 'vscbench[ray]'``); the workers must
be able to import ``vscbench`` and read the image paths the samples name (on a multi-node
cluster: the same install and a shared file system).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.engine.runner import (  # the runner's own failure handling, so both paths store the same outcomes
    ProgressCallback,
    RunProgress,
    RunSummary,
    call_model,
    run_samples,
    to_response,
)
from vscbench.models.base import Generation, ModelSpec, ModelSpecError, load_model
from vscbench.schema import Request, Response, Sample
from vscbench.store import Store

Batch = list[tuple[str, Request]]
REPLICA_PREFIX = "vscbench-replica-"
"""Ray actor names of the replicas start with this."""


class ReplicaWorker:
    """One model replica. Made a Ray actor at run time (``ray.remote``), so importing this
    module needs no Ray. ``concurrency`` bounds the backend calls the replica runs at once
    (1 for a local model on one GPU; more for an API backend)."""

    def __init__(self, load_spec: str, cache_spec: str, model_options: dict[str, Any], concurrency: int,
                 request_timeout: float | None) -> None:  # fmt: skip
        self.model = load_model(load_spec, **model_options)
        self.cache_spec = cache_spec
        self.concurrency = max(1, concurrency)
        self.request_timeout = request_timeout
        self._gate: asyncio.Semaphore | None = None

    async def max_batch_size(self) -> int:
        """Also tells the driver that the model has loaded."""
        return max(1, int(getattr(self.model, "max_batch_size", 1) or 1))

    async def generate(self, batch: Batch) -> list[Response]:
        """Answer a batch: backend calls of up to ``max_batch_size`` requests, ``concurrency`` at once."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        gate = self._gate
        size = await self.max_batch_size()
        chunks = [batch[start : start + size] for start in range(0, len(batch), size)]

        async def answer(chunk: Batch) -> list[Response]:
            async with gate:
                started = time.perf_counter()
                generations = await call_model(self.model, [request for _, request in chunk], self.request_timeout)
                latency = round(time.perf_counter() - started, 4)
            return [to_response(key, request.sample_id, self.cache_spec, generation, latency)
                    for (key, request), generation in zip(chunk, generations)]  # fmt: skip

        answered = await asyncio.gather(*(answer(chunk) for chunk in chunks))
        return [response for chunk in answered for response in chunk]


def _load_spec(parsed: ModelSpec) -> str:
    """The spec the workers load: a local ``hf:`` folder made absolute, since a worker's
    working directory is not the driver's. The cache key keeps the spec as written."""
    if parsed.provider == "hf" and Path(parsed.name).expanduser().exists():
        return f"hf:{Path(parsed.name).expanduser().resolve()}"
    return str(parsed)


def connect_ray(address: str | None = None, **init_options: Any) -> bool:
    """Join the Ray cluster at ``address`` (``"auto"``, ``"ray://head:10001"``), or start a
    local one when ``address`` is None and none is running. True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    init_options.setdefault("include_dashboard", False)
    init_options.setdefault("log_to_driver", False)
    ray.init(address=address, **init_options)
    return True


@dataclass
class RayExecutor:
    """Send a run's calls to ``replicas`` Ray actors running ``model`` (see the module docstring).

    ``resources`` is each actor's Ray resources (default ``{"num_cpus": 1}``; add
    ``"num_gpus": 1`` for one GPU per replica). ``batch_size`` is the requests per actor call
    (default: the model's ``max_batch_size`` x ``concurrency_per_replica``); each actor holds
    ``batches_in_flight_per_replica`` calls so it never waits for the driver. ``batch_timeout``
    is the longest wait for *any* batch to finish and ``startup_timeout`` for the replicas to
    load; past either, the run stops with an error (answers so far are kept). Ray is joined at
    ``address`` or started locally (and then shut down at the end). After a run, :attr:`stats`
    says how the work was shared.
    """

    model: str | ModelSpec
    replicas: int = 2
    resources: dict[str, float] | None = None
    address: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    concurrency_per_replica: int = 1
    batches_in_flight_per_replica: int = 2
    request_timeout: float | None = None
    batch_timeout: float | None = None
    startup_timeout: float | None = 600.0
    init_options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec = self.model if isinstance(self.model, ModelSpec) else ModelSpec.parse(self.model)
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")

    @property
    def cache_spec(self) -> str:
        return self.spec.cache_spec

    async def execute(
        self, todo: dict[str, Request], store: Store, progress: ProgressCallback | None, started: float
    ) -> RunProgress:
        state = RunProgress(to_send=len(todo))
        self.stats = {}
        if todo:  # nothing to send starts no actor; Ray's calls block, so they run off the event loop
            self.stats = {"replicas": self.replicas, "batches_per_replica": [0] * self.replicas, "requeued_batches": 0}
            await asyncio.to_thread(self._generate, list(todo.items()), store, state, progress, started)
        return state

    def _generate(self, todo: Batch, store: Store, state: RunProgress, progress: ProgressCallback | None,
                  started: float) -> None:  # fmt: skip
        _generate_on_ray(
            _load_spec(self.spec), self.cache_spec, todo, store, state, self.stats, progress, started,
            num_replicas=self.replicas, resources=self.resources, address=self.address,
            model_options=self.model_options, batch_size=self.batch_size, concurrency=self.concurrency_per_replica,
            in_flight=self.batches_in_flight_per_replica, request_timeout=self.request_timeout,
            batch_timeout=self.batch_timeout, startup_timeout=self.startup_timeout, init_options=self.init_options,
        )  # fmt: skip


def run_samples_ray(
    model_spec: str | ModelSpec, samples: Sequence[Sample], store: Store, num_replicas: int = 2,
    resources_per_replica: dict[str, float] | None = None, **options: Any,
) -> RunSummary:  # fmt: skip
    """:func:`vscbench.engine.runner.run_samples` on a :class:`RayExecutor`, for scripts: executor
    settings (``address``, ``model_options``, ``batch_size``, ``concurrency_per_replica``, ...)
    and run settings (``run_name``, ``config``, ``transform``, ``progress``, ``spec``) by name."""
    executor_fields = set(RayExecutor.__dataclass_fields__) - {"model", "replicas", "resources", "stats"}
    executor = RayExecutor(model_spec, num_replicas, resources_per_replica,
                           **{k: options.pop(k) for k in list(options) if k in executor_fields})  # fmt: skip
    return asyncio.run(run_samples(executor, samples, store, **options))


def _generate_on_ray(load_spec: str, cache_spec: str, todo: Batch, store: Store, state: RunProgress,
                     stats: dict[str, Any], progress: ProgressCallback | None, started: float, *, num_replicas: int,
                     resources: dict[str, float] | None, address: str | None, model_options: dict[str, Any],
                     batch_size: int | None, concurrency: int, in_flight: int, request_timeout: float | None,
                     batch_timeout: float | None, startup_timeout: float | None,
                     init_options: dict[str, Any]) -> None:  # fmt: skip
    import ray

    own_ray = connect_ray(address, **init_options)
    actor_options = {"num_cpus": 1, **(resources or {})}
    worker_class = ray.remote(ReplicaWorker)
    tag = uuid.uuid4().hex[:8]  # named, so `ray list actors` shows whose replicas they are
    actors: list[Any] = [
        worker_class.options(name=f"{REPLICA_PREFIX}{tag}-{index}", **actor_options).remote(
            load_spec, cache_spec, model_options, concurrency, request_timeout
        )
        for index in range(num_replicas)
    ]
    try:
        sizes = _wait_until_loaded(actors, startup_timeout, actor_options)
        size = batch_size or sizes[0] * max(1, concurrency)
        queue = deque(todo[start : start + size] for start in range(0, len(todo), size))
        pending: dict[Any, tuple[int, Batch]] = {}
        alive = set(range(num_replicas))

        def feed(index: int, limit: int = max(1, in_flight)) -> None:
            while queue and sum(1 for i, _ in pending.values() if i == index) < limit:
                batch = queue.popleft()
                pending[actors[index].generate.remote(batch)] = (index, batch)

        for depth in range(1, max(1, in_flight) + 1):  # round-robin, so a short run still uses every replica
            for index in range(num_replicas):
                feed(index, depth)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=batch_timeout)
            if not ready:
                raise TimeoutError(f"no batch finished within {batch_timeout:g} s on {len(alive)} replicas of "
                                   f"{cache_spec}; answers so far are stored, run again to resume")  # fmt: skip
            index, batch = pending.pop(ready[0])
            try:
                responses = ray.get(ready[0])
            except ray.exceptions.RayActorError:  # the replica died (OOM, lost node): others take its work
                alive.discard(index)
                queue.appendleft(batch)
                stats["requeued_batches"] += 1
                for ref, (owner, lost) in list(pending.items()):
                    if owner == index:
                        del pending[ref]
                        queue.appendleft(lost)
                        stats["requeued_batches"] += 1
                if not alive:
                    raise RuntimeError(f"every replica of {cache_spec} died; answers so far are stored") from None
                for survivor in alive:
                    feed(survivor)
                continue
            except ray.exceptions.RayTaskError as exc:  # a bug in a worker: stored as failures, retried next run
                reason = f"replica raised {type(exc.cause).__name__}: {str(exc.cause)[:200]}"
                responses = [to_response(key, request.sample_id, cache_spec, Generation("error", error=reason), 0.0)
                             for key, request in batch]  # fmt: skip
            store.put_responses(responses)
            stats["batches_per_replica"][index] += 1
            state.record(responses, started)
            if progress is not None:
                progress(state)
            feed(index)
    finally:
        for actor in actors:
            ray.kill(actor)
        if own_ray:
            ray.shutdown()


def _wait_until_loaded(actors: list, timeout: float | None, actor_options: dict[str, Any]) -> list[int]:
    """Every replica's ``max_batch_size``, once its model has loaded; a clear error otherwise."""
    import ray

    refs = [actor.max_batch_size.remote() for actor in actors]
    try:
        return ray.get(refs, timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        raise TimeoutError(
            f"{len(actors)} replicas with {actor_options} did not start within {timeout:g} s; the cluster has "
            f"{ray.cluster_resources()}. Ask for fewer replicas or resources, or add nodes."
        ) from None
    except ray.exceptions.RayActorError as exc:
        cause = getattr(exc, "cause", None) or exc
        raise ModelSpecError(f"a replica could not load the model: {str(cause)[:500]}") from None
