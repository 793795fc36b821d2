"""Directional ablation (Arditi et al., 2024, arXiv 2406.11717): take a refusal direction out of
the residual stream, as a steering mode of a local model.

Arditi et al. find that refusal in chat models is mediated by one direction of the residual
stream: the difference between the mean activations on harmful and on harmless instructions at
the last prompt token. Projecting it out everywhere (``h <- h - (h . r) r`` for the unit
direction ``r``, at every layer and position) makes a model stop refusing; adding it makes one
refuse. This module projects it out of the input of the first text block and of the output of
every text block, so no block boundary carries the direction, during generation only.

The direction comes from a vector file made by ``vscbench steer extract`` (the existing
extraction code): ``direction=condition`` (default) is the file's condition direction at the
chosen block, which is exactly that harmful-minus-harmless difference of prompt activations;
``direction=vector`` is the IAR vector (safe answer minus unsafe answer), normalised.

Ablating everywhere is a jailbreak, not a calibration: it buys answers to safe queries with
answers to unsafe ones, and the benchmark shows that trade. With a gate (``gate=probe`` or
``gate=condition``) the ablation is applied only to the requests the gate judges *harmless*
(below its threshold, read on the prompt's activation at the chosen block before anything is
changed), so it can undo over-refusal while leaving the refusals of requests that look harmful.
``strength`` is the share of the projection removed (1: all of it).

Spec: ``iar:layer=L,vector=FILE,mode=ablate[,direction=condition|vector][,gate=probe|condition][,strength=S]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vscbench.methods.steering.layers import find_text_layers
from vscbench.methods.steering.vectors import SteeringVectors
from vscbench.models.base import Generation
from vscbench.schema import Request

DIRECTIONS = ("condition", "vector")


class _StopForward(Exception):
    """Raised once the gate's block has run: the rest of the forward pass is not needed."""


@dataclass
class AblationState:
    """What the hooks did inside one ``with`` block."""

    rows: int = 0
    ablated_rows: int = 0
    calls: int = 0


def unit_direction(vectors: SteeringVectors, layer: int, kind: str = "condition") -> Any:
    """The unit direction of ``kind`` at ``layer`` from a vector file (float32)."""
    import torch

    if kind not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {kind!r}")
    if kind == "condition":
        if layer not in vectors.conditions:
            raise ValueError(
                f"direction=condition needs a condition vector for block {layer}; extract the vectors from safe and "
                "unsafe queries (a condition is fitted then), or use direction=vector"
            )
        raw = vectors.conditions[layer].direction
    else:
        raw = vectors.vector(layer)
    direction = torch.as_tensor(raw, dtype=torch.float32)
    norm = float(direction.norm())
    if norm == 0.0:
        raise ValueError(f"the {kind} direction of block {layer} is zero; it cannot be ablated")
    return direction / norm


@contextmanager
def ablate(model: Any, direction: Any, strength: float = 1.0, rows: Any = None) -> Iterator[AblationState]:
    """Project ``direction`` out of the text residual stream inside the ``with`` block.

    ``rows`` (a [batch] bool tensor) limits the ablation to those rows; ``None`` ablates every
    row. The hooks are removed on exit, also when the body raises.
    """
    blocks = find_text_layers(model)
    state = AblationState()
    cache: dict[tuple[Any, Any], Any] = {}

    def remove(hidden: Any) -> Any:
        key = (hidden.device, hidden.dtype)
        if key not in cache:
            cache[key] = direction.to(device=hidden.device, dtype=hidden.dtype)
        unit = cache[key]
        projection = (hidden @ unit)[..., None] * unit
        if rows is not None:
            projection = projection * rows.to(device=hidden.device, dtype=hidden.dtype)[:, None, None]
        state.calls += 1
        return hidden - strength * projection

    def before_first(module: Any, args: Any, kwargs: Any) -> Any:
        if args:
            return (remove(args[0]), *args[1:]), kwargs
        if "hidden_states" in kwargs:
            return args, {**kwargs, "hidden_states": remove(kwargs["hidden_states"])}
        return None

    def after(module: Any, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (remove(output[0]), *output[1:])
        return remove(output)

    handles = [blocks[0].register_forward_pre_hook(before_first, with_kwargs=True, prepend=True)]
    handles += [block.register_forward_hook(after, prepend=True) for block in blocks]
    try:
        yield state
    finally:
        for handle in handles:
            handle.remove()


def gate_rows(model: Any, inputs: Any, layer: int, gate: Any) -> Any:
    """Per row: True where ``gate`` (a probe or condition vector) scores the prompt *below* its
    threshold, i.e. judges the request harmless. One forward pass up to block ``layer``."""
    import torch

    blocks = find_text_layers(model)
    read: list[Any] = []

    def hook(module: Any, args: Any, output: Any) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        read.append(hidden[:, -1, :])
        raise _StopForward

    handle = blocks[layer].register_forward_hook(hook, prepend=True)
    try:
        with torch.inference_mode():
            try:
                model(**inputs, use_cache=False)
            except _StopForward:
                pass
    finally:
        handle.remove()
    return gate.score(read[0]) < gate.threshold


def ablated_model(
    model: Any,
    vectors: SteeringVectors,
    layer: int,
    strength: float = 1.0,
    direction: str = "condition",
    gate: str | None = None,
) -> AblatedModel:
    """An :class:`AblatedModel` around ``model`` from a vector file already checked against it."""
    held = vectors.probes if gate == "probe" else vectors.conditions
    return AblatedModel(model, unit_direction(vectors, layer, direction), layer, strength,
                        gate=held[layer] if gate else None)  # fmt: skip


class AblatedModel:
    """``inner`` (an ``HFModel``) generating with ``direction`` ablated, for every request or,
    with a ``gate``, for the requests it judges harmless. A model itself, like ``SteeredModel``."""

    def __init__(self, inner: Any, direction: Any, layer: int, strength: float = 1.0, gate: Any = None) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.max_batch_size = inner.max_batch_size
        self.direction, self.layer, self.strength, self.gate = direction, layer, strength, gate
        self.rows_seen = 0
        self.rows_ablated = 0

    @contextmanager
    def _context(self, batch: Any) -> Iterator[AblationState]:
        rows = None
        if self.gate is not None:
            rows = gate_rows(self.inner.model, batch.inputs, self.layer, self.gate)
        with ablate(self.inner.model, self.direction, self.strength, rows) as state:
            yield state
        count = len(batch.indices)
        self.rows_seen += count
        self.rows_ablated += count if rows is None else int(rows.sum())

    def generate_batch(self, requests: list[Request]) -> list[Generation]:
        return self.inner.generate_batch(requests, context=self._context)

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return await asyncio.to_thread(self.generate_batch, requests)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return (
            f"AblatedModel({self.spec}, layer={self.layer}, strength={self.strength:g}, gated={self.gate is not None})"
        )
