"""Where steering acts: the text decoder's blocks, found without confusing them with vision blocks.

A vision-language model holds two stacks of transformer blocks (vision tower and language
model). IAR steers the language model, so the layer index everywhere in vscbench is a
0-indexed block of the TEXT decoder; the output of block ``l`` equals ``hidden_states[l + 1]``
of the language model (except the last block, whose ``hidden_states`` entry transformers
replaces by the final-norm output).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class LayerError(ValueError):
    """The text decoder's blocks cannot be found, or a layer index is outside them."""


def text_config(model: Any) -> Any:
    """The language model's config (``config.text_config`` for composite models)."""
    config = model.config
    getter = getattr(config, "get_text_config", None)
    if callable(getter):
        return getter()
    return getattr(config, "text_config", config)


def num_text_layers(model: Any) -> int:
    """Number of text decoder blocks according to the config."""
    value = getattr(text_config(model), "num_hidden_layers", None)
    if not isinstance(value, int):
        raise LayerError(f"{type(model).__name__}'s text config has no integer num_hidden_layers")
    return value


def text_hidden_size(model: Any) -> int:
    value = getattr(text_config(model), "hidden_size", None)
    if not isinstance(value, int):
        raise LayerError(f"{type(model).__name__}'s text config has no integer hidden_size")
    return value


def _candidate_language_models(model: Any) -> Iterable[tuple[str, Any]]:
    """Modules that may hold the text decoder's ``layers``, most specific first."""
    get_decoder = getattr(model, "get_decoder", None)
    if callable(get_decoder):
        try:
            yield "get_decoder()", get_decoder()
        except (AttributeError, NotImplementedError, ValueError):
            pass
    inner = getattr(model, "model", None)
    for name, module in (
        ("model.language_model", getattr(model, "language_model", None)),
        ("model.model.language_model", getattr(inner, "language_model", None)),
        ("model.model", inner),
        ("model", model),
    ):
        if module is not None:
            yield name, module


def find_text_layers(model: Any) -> Any:
    """The ``ModuleList`` of text decoder blocks of a transformers (vision-)language model.

    Tries ``get_decoder()`` and the known layouts (``model.language_model``,
    ``model.model.language_model``, ``model.model``; each with ``.layers`` or ``.model.layers``)
    and accepts a list only if its length equals the text config's ``num_hidden_layers`` and it
    is not inside the vision tower. Raises :class:`LayerError` otherwise, never guesses.
    """
    import torch

    expected = num_text_layers(model)
    vision_ids = set()
    for attribute in ("visual", "vision_tower", "vision_model"):
        for owner in (model, getattr(model, "model", None)):
            tower = getattr(owner, attribute, None) if owner is not None else None
            if isinstance(tower, torch.nn.Module):
                vision_ids.update(id(module) for module in tower.modules())
    seen: list[str] = []
    for name, module in _candidate_language_models(model):
        for suffix, holder in (("", module), (".model", getattr(module, "model", None))):
            layers = getattr(holder, "layers", None) if holder is not None else None
            if not isinstance(layers, torch.nn.ModuleList):
                continue
            seen.append(f"{name}{suffix}.layers ({len(layers)} blocks)")
            if len(layers) == expected and id(layers) not in vision_ids:
                return layers
    found = "; ".join(seen) if seen else "no .layers module list at all"
    raise LayerError(
        f"cannot find the {expected} text decoder blocks of {type(model).__name__} "
        f"(text config num_hidden_layers={expected}); looked at: {found}. "
        "Pass a transformers causal or image-text-to-text model."
    )


def resolve_layers(spec: str | Iterable[float | int | str], num_layers: int) -> list[int]:
    """Turn ``"9,14,0.5,0.75"`` into 0-indexed text blocks for a model with ``num_layers`` blocks.

    Integers are block indices (negative counts from the end: ``-1`` is the last block); values
    strictly between 0 and 1 are fractions of depth (``round(f * num_layers)``), so one sweep
    grid transfers between a 28-layer and a 32-layer model. Duplicates are dropped, order kept.
    """
    if num_layers < 1:
        raise LayerError(f"num_layers must be positive, got {num_layers}")
    tokens = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else list(spec)
    resolved: list[int] = []
    for token in tokens:
        if token == "":
            continue
        try:
            value = float(token)
        except (TypeError, ValueError):
            raise LayerError(
                f"layer {token!r} is not a number; use block indices like 14 or fractions like 0.5"
            ) from None
        if 0 < value < 1:
            index = min(num_layers - 1, round(value * num_layers))
        elif value.is_integer():
            index = int(value)
            if index < 0:
                index += num_layers
        else:
            raise LayerError(f"layer {token!r} is neither a block index nor a fraction in (0, 1)")
        if not 0 <= index < num_layers:
            raise LayerError(
                f"layer {token!r} is outside the text decoder's blocks 0..{num_layers - 1}"
            )
        if index not in resolved:
            resolved.append(index)
    if not resolved:
        raise LayerError(f"no layers in {spec!r}; example: '9,14,0.5'")
    return resolved
