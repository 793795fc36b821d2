"""IAR as a model decorator: a local model whose every generation is steered.

:class:`SteeredModel` wraps an ``hf:`` model and is a model itself (``spec``,
``max_batch_size``, ``generate``, ``aclose``): the runner calls it like any other backend. Each
``generate`` call hooks the chosen decoder block for its own duration only (also when it
fails), and the wrapped model is never modified, so one loaded model can serve a steered and
an unsteered run side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vscbench.methods.steering.hooks import Positions
from vscbench.models.base import Generation
from vscbench.schema import Request


class SteeredModel:
    """``inner`` (an ``HFModel``) with a steering vector added at one text block while it
    generates; ``positions``/``gate`` as in :func:`vscbench.methods.steering.hooks.steer`.

    With a gate, :attr:`rows_seen` and :attr:`rows_steered` count the prompts the gate looked
    at and let through, so a sweep can report how often a gated setting steered at all.
    """

    def __init__(
        self,
        inner: Any,
        vectors: Any,
        layer: int,
        strength: float,
        positions: Positions = "last",
        gate: bool | str = False,
    ) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.max_batch_size = inner.max_batch_size
        self.vectors, self.layer, self.strength = vectors, layer, strength
        self.positions, self.gate = positions, gate
        self.rows_seen = 0
        self.rows_steered = 0

    @contextmanager
    def _context(self, batch: Any) -> Iterator[Any]:
        from vscbench.methods.steering.hooks import steer

        with steer(self.inner.model, self.vectors, self.layer, self.strength, positions=self.positions,
                   gate=self.gate) as state:  # fmt: skip
            yield state
        self.rows_seen += state.rows_seen
        self.rows_steered += state.rows_steered

    def generate_batch(self, requests: list[Request]) -> list[Generation]:
        return self.inner.generate_batch(requests, context=self._context)

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return await asyncio.to_thread(self.generate_batch, requests)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"SteeredModel({self.spec}, layer={self.layer}, strength={self.strength:g}, gate={self.gate})"
