"""What keeps a run honest when the world misbehaves, for :mod:`vscbench.engine.runner`.

- :class:`Leases` -- two ``vscbench run`` processes on one store and model must not both pay
  for the same call: every key is claimed in the store before it is sent, the claim renewed
  while the call is in flight, and released with its answer. Keys another live process holds
  are left to it and picked up only if it dies (its lease runs out).
- :class:`FatalStop` -- a refused API key (401), a forbidden account (403) or an unknown model
  or URL (404) fails every call the same way: after a few such failures in a row the run stops
  sending, instead of turning 100 samples into 100 failed paid calls.
- :func:`sigterm_as_interrupt` -- ``kill``, ``docker stop`` and schedulers send SIGTERM: it
  ends a run exactly like Ctrl-C does (status ``interrupted``, answers kept), not with the
  run left ``running`` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Self

from vscbench.schema import Request, Response
from vscbench.store import Store, StoreError

#: How an API backend words a failure that every further call would repeat.
_FATAL = re.compile(r"^HTTP (401|403|404)\b")
_ADVICE = {
    "401": "the API key was refused: check the key (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY)",
    "403": "access was denied: check the key's permissions, project or region",
    "404": "the model or the URL does not exist: check the model name and --base-url",
}


class FatalStop:
    """Counts fatal provider errors in a row; :attr:`reason` says why the run stopped, if it did."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.reason: str | None = None

    def see(self, responses: Sequence[Response]) -> None:
        for response in responses:
            match = _FATAL.match(response.error or "") if response.outcome == "error" else None
            if match is None:
                if response.outcome != "error":
                    self.in_a_row = 0  # a call went through: the key and model work
                continue
            self.in_a_row += 1
            if self.in_a_row >= self.limit and self.reason is None:
                code = match.group(1)
                self.reason = (
                    f"stopped after {self.in_a_row} calls in a row failed with HTTP {code}, which every further "
                    f"call would repeat ({_ADVICE[code]}); last: {(response.error or '')[:200]}"
                )

    @property
    def stopped(self) -> bool:
        return self.reason is not None


class Leases:
    """Claims on keys in the store, renewed while held, for the calls of one process."""

    def __init__(self, store: Store, lease_s: float = 60.0) -> None:
        self.store = store
        self.owner = Store.new_owner()
        self.lease_s = lease_s
        self._renewer: asyncio.Task | None = None

    def take(self, keys: Sequence[str]) -> set[str]:
        """The keys now leased to this process (the others are answered or leased elsewhere)."""
        return set(self.store.claim(list(keys), self.owner, self.lease_s))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(StoreError):  # a failing store stops the run through its writes
                self.store.renew_claims(self.owner, self.lease_s)

    async def __aenter__(self) -> Self:
        self._renewer = asyncio.create_task(self._renew())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
        with contextlib.suppress(Exception):  # a read-only or full disk must not mask the real error
            self.store.release_claims(self.owner)


class ClaimedBatches:
    """Batches of keyed requests, each key leased before it is handed out. Keys are claimed
    ``ahead`` at a time (one store transaction for many calls); keys another live process
    holds go to ``deferred``, to be looked at again once this pass is over."""

    def __init__(
        self,
        items: Iterable[tuple[str, Request]],
        batch_size: int,
        leases: Leases,
        deferred: dict[str, Request],
        ahead: int = 64,
    ) -> None:
        self._items = iter(items)
        self._ready: deque[tuple[str, Request]] = deque()
        self.batch_size = batch_size
        self.leases = leases
        self.deferred = deferred
        self.ahead = max(ahead, batch_size)

    def next_batch(self) -> list[tuple[str, Request]] | None:
        """The next batch this process may send, or None when nothing is left."""
        while len(self._ready) < self.batch_size:
            chunk = list(islice(self._items, self.ahead))
            if not chunk:
                break
            mine = self.leases.take([key for key, _ in chunk])
            for key, request in chunk:
                if key in mine:
                    self._ready.append((key, request))
                else:
                    self.deferred[key] = request
        if not self._ready:
            return None
        return [self._ready.popleft() for _ in range(min(self.batch_size, len(self._ready)))]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs in the main thread's event loop, SIGTERM ends it as Ctrl-C does: the
    task running the block is cancelled, and the block raises :class:`KeyboardInterrupt`.

    SIGTERM is handled here, not by re-raising SIGINT: a run started as ``vscbench run ... &``
    in a script has SIGINT ignored, and it must still stop on ``kill``. Only when nobody else
    handles SIGTERM; the default is restored afterwards.
    """
    terminated = False
    try:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            raise ValueError("SIGTERM is handled elsewhere")

        def on_sigterm() -> None:
            nonlocal terminated
            terminated = True
            task.cancel("SIGTERM")

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (RuntimeError, ValueError, NotImplementedError, AttributeError):  # not the main thread, Windows...
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        if not terminated:
            raise
        task.uncancel()
        raise KeyboardInterrupt("terminated by SIGTERM") from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
