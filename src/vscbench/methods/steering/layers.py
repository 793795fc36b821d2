"""Where steering acts: the text decoder's blocks, found without confusing them with vision blocks.

A vision-language model holds two stacks of transformer blocks (vision tower and language
model). IAR steers the language model, so the layer index everywhere in vscbench is a
0-indexed block of the TEXT decoder; the output of block ``l`` equals ``hidden_states[l + 1]``
of the language model (except the last block, whose ``hidden_states`` entry transformers
replaces by the final-norm output, and Qwen3-VL's first blocks, whose outputs DeepStack adds
vision features to after the block).

Families keep those blocks at different attribute paths (``model.language_model.layers``,
``model.text_model.layers`` for Idefics3 / SmolVLM, ...): the paths are data in
:mod:`vscbench.models.hf_families`, and a model whose layout is not known is steered only when
exactly one candidate fits.
"""

from __future__ import annotations

import re
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


#: Where the text decoder's blocks of a model type that is not a known family may sit, most specific
#: first; the dotted paths start at the loaded model.
GENERIC_DECODER_PATHS = (
    "model.language_model.layers",
    "language_model.layers",
    "language_model.model.layers",
    "model.text_model.layers",
    "text_model.layers",
    "model.layers",
    "model.model.layers",
    "layers",
)

#: Attributes that hold a vision tower (their blocks are never the text decoder's).
_VISION_ATTRIBUTES = ("visual", "vision_tower", "vision_model", "high_res_vision_model")


def _vision_module_ids(model: Any) -> set[int]:
    import torch

    ids: set[int] = set()
    for attribute in _VISION_ATTRIBUTES:
        for owner in (model, getattr(model, "model", None)):
            tower = getattr(owner, attribute, None) if owner is not None else None
            if isinstance(tower, torch.nn.Module):
                ids.update(id(module) for module in tower.modules())
    return ids


def locate_text_layers(model: Any) -> tuple[str, Any]:
    """The dotted path and ``ModuleList`` of the text decoder blocks of a transformers (vision-)language model.

    A model of a known family (:mod:`vscbench.models.hf_families`) is looked up at that family's
    paths only. Any other model is looked up at :data:`GENERIC_DECODER_PATHS`, and accepted only
    if exactly one block list there fits. A list fits when its length equals the text config's
    ``num_hidden_layers`` and it is not inside the vision tower. Raises :class:`LayerError`
    naming the model type and every path tried otherwise: steering never guesses a module.
    """
    import torch

    from vscbench.models.hf_families import FAMILIES, VERIFIED_TRANSFORMERS, family_of, resolve_path

    expected = num_text_layers(model)
    family = family_of(model)
    paths = family.decoder_paths if family is not None else GENERIC_DECODER_PATHS
    vision_ids = _vision_module_ids(model)
    fitting: dict[int, tuple[str, Any]] = {}
    tried: list[str] = []
    for path in paths:
        layers = resolve_path(model, path)
        if not isinstance(layers, torch.nn.ModuleList):
            tried.append(f"{path} (absent)")
            continue
        inside_vision = id(layers) in vision_ids
        tried.append(f"{path} ({len(layers)} blocks{', vision tower' if inside_vision else ''})")
        if len(layers) == expected and not inside_vision:
            fitting.setdefault(id(layers), (path, layers))
            if family is not None:  # a family's paths are in order of preference: the first that fits
                break
    model_type = getattr(model.config, "model_type", None) or "unknown"
    if len(fitting) == 1:
        return next(iter(fitting.values()))
    where = f"{type(model).__name__} (model type {model_type!r}"
    looked = "; ".join(tried)
    if family is not None:
        raise LayerError(
            f"cannot find the {expected} text decoder blocks of {where}, family {family.title}); tried: {looked}. "
            f"The family was verified with transformers {VERIFIED_TRANSFORMERS}: a different release may have moved them"
        )
    known = ", ".join(t for f in FAMILIES for t in f.model_types)
    problem = (
        "several block lists fit"
        if fitting
        else "none of these is a block list of that length outside the vision tower"
    )
    raise LayerError(
        f"cannot find the {expected} text decoder blocks of {where}): {problem}; looked at: {looked}. "
        f"Its layout is not one vscbench knows (verified model types: {known}), so nothing is steered. "
        "Pass a transformers causal or image-text-to-text model of a verified family"
    )


def find_text_layers(model: Any) -> Any:
    """The ``ModuleList`` of text decoder blocks of a transformers (vision-)language model
    (see :func:`locate_text_layers`, which also says where they were found)."""
    return locate_text_layers(model)[1]


_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_layer_spec(spec: str | Iterable[float | int | str]) -> list[float | tuple[int, int]]:
    """The tokens of a layer spec, checked without a model: numbers, and ``A-B`` ranges as tuples.

    ``"8-20"`` is blocks 8 to 20 inclusive; ``"-1"`` is the last block (a negative index, not a
    range); ``"0.5"`` is half the depth. Raises :class:`LayerError` naming the bad token, so a
    command can refuse a typo before it spends minutes loading weights.
    """
    tokens = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else list(spec)
    parsed: list[float | tuple[int, int]] = []
    for token in tokens:
        if token == "":
            continue
        if isinstance(token, str) and (match := _RANGE.match(token)):
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise LayerError(f"layer range {token!r} runs backwards; write it low-high, e.g. {high}-{low}")
            parsed.append((low, high))
            continue
        try:
            value = float(token)
        except (TypeError, ValueError):
            raise LayerError(
                f"layer {token!r} is not a block index (14), a range (8-20) or a depth fraction (0.5)"
            ) from None
        if not (value.is_integer() or 0 < value < 1):
            raise LayerError(f"layer {token!r} is neither a block index nor a fraction in (0, 1)")
        parsed.append(value)
    if not parsed:
        raise LayerError(f"no layers in {spec!r}; example: '14', '8-20' or '9,14,0.5'")
    return parsed


def resolve_layers(spec: str | Iterable[float | int | str], num_layers: int) -> list[int]:
    """Turn ``"9,14,0.5,0.75"`` or ``"8-20"`` into 0-indexed text blocks of a ``num_layers`` model.

    Integers are block indices (negative counts from the end: ``-1`` is the last block); ``A-B``
    is every block from A to B inclusive; values strictly between 0 and 1 are fractions of depth
    (``round(f * num_layers)``), so one sweep grid transfers between a 28-layer and a 32-layer
    model. Duplicates are dropped, order kept.
    """
    if num_layers < 1:
        raise LayerError(f"num_layers must be positive, got {num_layers}")
    resolved: list[int] = []
    for token in parse_layer_spec(spec):
        if isinstance(token, tuple):
            low, high = token
            if high >= num_layers:
                raise LayerError(f"layer range {low}-{high} is outside the text decoder's blocks 0..{num_layers - 1}")
            indices = list(range(low, high + 1))
        elif 0 < token < 1:
            indices = [min(num_layers - 1, round(token * num_layers))]
        else:
            index = int(token) + (num_layers if token < 0 else 0)
            if not 0 <= index < num_layers:
                raise LayerError(f"layer {int(token)} is outside the text decoder's blocks 0..{num_layers - 1}")
            indices = [index]
        resolved += [index for index in indices if index not in resolved]
    return resolved


def config_text_layers(name_or_path: str, trust_remote_code: bool = False) -> int:
    """A checkpoint's number of text blocks from its config alone (no weights are read).

    ``name_or_path`` is a local folder or a hub id (which needs its config in the local cache
    when offline); an ``hf:`` prefix is accepted.
    """
    from transformers import AutoConfig

    name = str(name_or_path).removeprefix("hf:")
    _fail_fast_if_unreachable(name)
    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LayerError(
            f"cannot read the config of {name!r} to check the layers: {reason}. Pass a local checkpoint "
            "folder, or a hub id whose files are in the local cache"
        ) from None
    text = config.get_text_config() if callable(getattr(config, "get_text_config", None)) else config
    value = getattr(text, "num_hidden_layers", None)
    if not isinstance(value, int):
        raise LayerError(f"the config of {name!r} has no integer num_hidden_layers for its text decoder")
    return value


def _fail_fast_if_unreachable(name: str, timeout: float = 3.0) -> None:
    """A hub id that is neither cached nor downloadable fails in seconds, not after the hub
    client's minutes of retries (offline mode, or the hub does not answer)."""
    from pathlib import Path

    if Path(name).expanduser().exists() or name.count("/") != 1:
        return
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise LayerError(
            f"{name} is not in the local model cache and HF_HUB_OFFLINE is set; pass a local folder (hf:PATH)"
        )
    import httpx

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError as exc:
        raise LayerError(
            f"cannot download {name}: {constants.ENDPOINT} does not answer ({type(exc).__name__}); "
            "pass a local folder (hf:PATH) or a hub id in the local cache"
        ) from None
