"""IAR as a model decorator: a local model whose every generation is steered.

:class:`SteeredModel` wraps an ``hf:`` model and is a model itself (``spec``,
``max_batch_size``, ``generate``, ``aclose``): the runner calls it like any other backend. Each
``generate`` call hooks the chosen decoder block for its own duration only (also when it
fails), and the wrapped model is never modified, so one loaded model can serve a steered and
an unsteered run side by side.
"""

from __future__ import annotations

import asyncio
from typing import Any

from vscbench.models.base import Generation
from vscbench.schema import Request


class SteeredModel:
    """``inner`` (an ``HFModel``) with a steering vector added at one text block while it
    generates; ``positions``/``gate`` as in :func:`vscbench.methods.steering.hooks.steer`."""

    def __init__(
        self, inner: Any, vectors: Any, layer: int, strength: float, positions: str = "last", gate: bool = False
    ) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.max_batch_size = inner.max_batch_size
        self.vectors, self.layer, self.strength = vectors, layer, strength
        self.positions, self.gate = positions, gate

    def _context(self, batch: Any) -> Any:
        from vscbench.methods.steering.hooks import steer

        return steer(self.inner.model, self.vectors, self.layer, self.strength, positions=self.positions, gate=self.gate)

    def generate_batch(self, requests: list[Request]) -> list[Generation]:
        return self.inner.generate_batch(requests, context=self._context)

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return await asyncio.to_thread(self.generate_batch, requests)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"SteeredModel({self.spec}, layer={self.layer}, strength={self.strength:g}, gate={self.gate})"
