"""Applying a steering vector: a forward hook on one text decoder block, always removed afterwards.

The hook adds ``alpha * v`` to the block's output hidden states at position -1 of the current
input. With a KV cache that is the last prompt token during prefill (left padding puts it at
-1 for every row) and then every generated token, which is how IAR revises the activations that
produce each answer token. The hook never looks at position ids or attention masks, so models
with 3-D (M-RoPE) positions such as Qwen2-VL need nothing special.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from vscbench.methods.steering.condition import ConditionVector
from vscbench.methods.steering.layers import (
    LayerError,
    find_text_layers,
    text_hidden_size,
)
from vscbench.methods.steering.vectors import LinearProbe, SteeringVectors

Positions = Literal["last", "all"]
#: How a gate is named: ``"probe"`` (or ``True``), ``"condition"``, or the gate object itself.
Gate = bool | str | LinearProbe | ConditionVector | None
GATES = ("none", "probe", "condition")


@dataclass
class SteeringState:
    """What the hook did, readable inside and after the ``with`` block (for logs and tests)."""

    layer: int
    alpha: float
    positions: str
    #: Forward passes that went through the hooked block.
    calls: int = 0
    #: Per-row probe probability that the query is unsafe, from the latest prefill (probe gate only).
    unsafe_probability: Any = None
    #: Per-row gate scores from the latest prefill (probability or condition cosine).
    gate_score: Any = None
    #: Per-row flags: True where the gate let steering through (gated only).
    gate: Any = None
    #: Rows seen at prefill and rows the gate let through, over the whole ``with`` block.
    rows_seen: int = 0
    rows_steered: int = 0


def _block_hidden(output: Any) -> Any:
    """The hidden-states tensor of a decoder block's output (a tensor or a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def _with_hidden(output: Any, hidden: Any) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def steer(
    model: Any,
    vectors: SteeringVectors | Any,
    layer: int,
    alpha: float = 1.0,
    positions: Positions = "last",
    alphas: Sequence[float] | Any | None = None,
    gate: Gate = False,
) -> Iterator[SteeringState]:
    """Add ``alpha * v`` to the output of 0-indexed text block ``layer`` inside the ``with`` block.

    ``vectors`` is a :class:`SteeringVectors` (its vector for ``layer`` is used) or a [hidden]
    tensor. ``positions="last"`` steers position -1 of every forward pass (inputs must be left
    padded); ``"all"`` steers every position. ``alphas`` (shape [batch]) gives each row its own
    strength and replaces ``alpha``, so one batch can carry several strengths. ``gate="probe"``
    (or ``True``, or a :class:`LinearProbe`) applies steering only to rows whose prefill
    activation at this layer the probe classifies as an unsafe query; ``gate="condition"`` (or a
    :class:`ConditionVector`) only to rows whose activation projects onto the harmful-request
    direction at or above the threshold learned on the contrastive split (CAST). The flags are
    kept for the decode steps.
    The hook is removed on exit, also when the body raises.
    """
    import torch

    if positions not in ("last", "all"):
        raise ValueError(f"positions must be 'last' or 'all', got {positions!r}")
    layers = find_text_layers(model)
    if not 0 <= layer < len(layers):
        raise LayerError(f"text block {layer} does not exist; the model has blocks 0..{len(layers) - 1}")
    vector = vectors.vector(layer) if isinstance(vectors, SteeringVectors) else vectors
    vector = torch.as_tensor(vector, dtype=torch.float32)
    hidden_size = text_hidden_size(model)
    if tuple(vector.shape) != (hidden_size,):
        raise ValueError(f"steering vector has shape {tuple(vector.shape)}; the model needs [{hidden_size}]")
    probe = _gate_object(vectors, layer, gate)
    row_alphas = None if alphas is None else torch.as_tensor(alphas, dtype=torch.float32).reshape(-1)
    state = SteeringState(layer=layer, alpha=float(alpha), positions=positions)
    cache: dict[tuple[Any, Any], tuple[Any, Any]] = {}
    gated_strengths: list[Any] = [None]  # [batch, 1] strengths after the gate, set at prefill

    def hook(module: Any, args: Any, output: Any) -> Any:
        hidden = _block_hidden(output)
        batch = hidden.shape[0]
        key = (hidden.device, hidden.dtype)
        if key not in cache:
            cache[key] = (
                vector.to(device=hidden.device, dtype=hidden.dtype),
                None if row_alphas is None else row_alphas.to(device=hidden.device, dtype=hidden.dtype),
            )
        steer_vector, per_row = cache[key]
        state.calls += 1
        if per_row is not None and per_row.shape[0] != batch:
            raise ValueError(
                f"alphas has {per_row.shape[0]} strengths but the batch has {batch} rows "
                "(beam search and num_return_sequences multiply rows; give one strength per row)"
            )
        if probe is not None:
            if hidden.shape[1] > 1 or state.gate is None or state.gate.shape[0] != batch:
                score = probe.score(hidden[:, -1, :])
                state.gate_score = score
                if isinstance(probe, LinearProbe):
                    state.unsafe_probability = score
                state.gate = score >= probe.threshold
                state.rows_seen += batch
                state.rows_steered += int(state.gate.sum())
                strengths = (
                    per_row
                    if per_row is not None
                    else torch.full((batch,), state.alpha, device=hidden.device, dtype=hidden.dtype)
                )
                gated_strengths[0] = (strengths * state.gate.to(hidden.dtype))[:, None]
            delta = gated_strengths[0] * steer_vector
        elif per_row is not None:
            delta = per_row[:, None] * steer_vector
        else:
            delta = (state.alpha * steer_vector).expand(batch, -1)
        if positions == "last":
            steered = hidden.clone()
            steered[:, -1, :] += delta
        else:
            steered = hidden + delta[:, None, :]
        return _with_hidden(output, steered)

    # prepend: run before transformers' own output-capturing hooks, so hidden_states show the steer
    handle = layers[layer].register_forward_hook(hook, prepend=True)
    try:
        yield state
    finally:
        handle.remove()


def _gate_object(vectors: Any, layer: int, gate: Gate) -> LinearProbe | ConditionVector | None:
    """The probe or condition vector a gate names, from the vector file for ``layer``."""
    if isinstance(gate, (LinearProbe, ConditionVector)):
        return gate
    if gate in (False, None, "none"):
        return None
    kind = "probe" if gate is True else gate
    if kind not in GATES:
        raise ValueError(f"gate must be one of {', '.join(GATES)}, got {gate!r}")
    held = (
        getattr(vectors, "probes" if kind == "probe" else "conditions", {})
        if isinstance(vectors, SteeringVectors)
        else {}
    )
    if layer not in held:
        raise ValueError(
            f"gated steering (gate={kind}) needs a {kind} for block {layer}; extract the vectors with query "
            "labels of both kinds (safe and unsafe) so a probe and a condition vector are fitted"
        )
    return held[layer]
