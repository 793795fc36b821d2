"""Extracting IAR steering vectors: teacher-forced activations, mass-mean shift, optional probe.

Each contrastive item is run twice through the model, as a chat whose assistant turn is the
safe answer and as one whose assistant turn is the unsafe answer. At every requested text
block the activation at one token (``token_rule``) is read, and the vector is
``mean(safe) - mean(unsafe)`` in float32. The activation at the last prompt token is read in
the same pass; it is what the model holds at generation prefill, so a probe fitted on it can
gate steering at generation time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from vscbench.images import load_rgb
from vscbench.methods.steering.condition import fit_condition
from vscbench.methods.steering.data import (
    ContrastiveDataError,
    ContrastiveItem,
    check_no_overlap,
    contrastive_sha256,
    items_guard,
)
from vscbench.methods.steering.guard import Guard
from vscbench.methods.steering.layers import LayerError, find_text_layers, locate_text_layers
from vscbench.methods.steering.vectors import (
    LinearProbe,
    SteeringVectors,
    model_identity,
)

TokenRule = Literal["last", "response_mean", "prompt_last"]
TOKEN_RULES = ("last", "response_mean", "prompt_last")


class _StopForward(Exception):
    """Raised by the deepest reading hook: the blocks after it are not needed."""


def _conversation(item: ContrastiveItem, response: str | None, image: Any) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if image is not None:
        content.append({"type": "image", "image": image})
    content.append({"type": "text", "text": item.query})
    conversation = [{"role": "user", "content": content}]
    if response is not None:
        conversation.append({"role": "assistant", "content": [{"type": "text", "text": response}]})
    return conversation


def _encode(processor: Any, conversations: list[list[dict[str, Any]]], prompt_only: bool, model: Any = None) -> Any:
    """The chats tokenised as generation tokenises them (the family's template conventions included)."""
    from vscbench.models.hf_families import chat_inputs, family_of

    return chat_inputs(processor, conversations, family_of(model) if model is not None else None, prompt_only)


def _selection_weights(full: Any, prompt: Any, rows_items: Sequence[ContrastiveItem]) -> tuple[Any, Any, Any]:
    """Per-row token weights [rows, seq] for the last token, the response mean and the last prompt token.

    The response starts where the prompt-only encoding stops matching the full encoding, so the
    split is found in token ids and works for left or right padding alike.
    """
    import torch

    rows, length = full["input_ids"].shape
    last = torch.zeros(rows, length)
    response_mean = torch.zeros(rows, length)
    prompt_last = torch.zeros(rows, length)
    for row in range(rows):
        positions = full["attention_mask"][row].nonzero().flatten()
        full_ids = full["input_ids"][row][positions]
        prompt_ids = prompt["input_ids"][row][prompt["attention_mask"][row].bool()]
        shared = min(len(full_ids), len(prompt_ids))
        mismatch = (full_ids[:shared] != prompt_ids[:shared]).nonzero()
        prompt_length = int(mismatch[0]) if len(mismatch) else shared
        if prompt_length == 0 or prompt_length >= len(full_ids):
            raise ContrastiveDataError(
                f"contrastive item {rows_items[row].id!r}: the chat template put no response tokens "
                "after the prompt; check that the processor's chat template renders assistant turns"
            )
        last[row, positions[-1]] = 1.0
        prompt_last[row, positions[prompt_length - 1]] = 1.0
        response = positions[prompt_length:]
        response_mean[row, response] = 1.0 / len(response)
    return last, response_mean, prompt_last


def collect_activations(
    model: Any,
    processor: Any,
    items: Sequence[ContrastiveItem],
    layers: Sequence[int],
    token_rule: TokenRule = "last",
    batch_size: int = 4,
    max_image_side: int | None = 1024,
) -> dict[str, dict[int, Any]]:
    """Float32 activations [items, hidden] per block: ``safe``, ``unsafe`` (at ``token_rule``) and
    ``prompt`` (last prompt token, from the safe pass). Rows follow the order of ``items``."""
    import torch

    if token_rule not in TOKEN_RULES:
        raise ValueError(f"token_rule must be one of {', '.join(TOKEN_RULES)}, got {token_rule!r}")
    blocks = find_text_layers(model)
    for layer in layers:
        if not 0 <= layer < len(blocks):
            raise LayerError(f"text block {layer} does not exist; the model has blocks 0..{len(blocks) - 1}")
    tokenizer = getattr(processor, "tokenizer", processor)
    restore_pad = tokenizer.pad_token is None
    if restore_pad:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    out: dict[str, dict[int, list[Any]]] = {
        kind: {layer: [None] * len(items) for layer in layers} for kind in ("safe", "unsafe", "prompt")
    }
    # Items with and without an image go in separate batches: processors differ on mixed batches.
    groups = [
        [i for i, item in enumerate(items) if item.image_path is not None],
        [i for i, item in enumerate(items) if item.image_path is None],
    ]
    try:
        for group in groups:
            for start in range(0, len(group), batch_size):
                indices = group[start : start + batch_size]
                _run_batch(
                    model, processor, items, indices, layers, blocks, token_rule, max_image_side, device, dtype, out
                )
    finally:
        if restore_pad:
            tokenizer.pad_token = None
    return {kind: {layer: torch.stack(rows) for layer, rows in by_layer.items()} for kind, by_layer in out.items()}


def _run_batch(
    model: Any,
    processor: Any,
    items: Sequence[ContrastiveItem],
    indices: list[int],
    layers: Sequence[int],
    blocks: Any,
    token_rule: str,
    max_image_side: int | None,
    device: Any,
    dtype: Any,
    out: dict[str, dict[int, list[Any]]],
) -> None:
    """One forward pass over the safe and unsafe chats of ``indices``; fills ``out`` in place."""
    import torch

    batch_items = [items[i] for i in indices]
    images = [load_rgb(item.image_path, max_image_side) if item.image_path else None for item in batch_items]
    full_chats = [_conversation(item, item.safe_response, image) for item, image in zip(batch_items, images)]
    full_chats += [_conversation(item, item.unsafe_response, image) for item, image in zip(batch_items, images)]
    prompt_chats = [_conversation(item, None, image) for item, image in zip(batch_items, images)] * 2
    full = _encode(processor, full_chats, prompt_only=False, model=model)
    prompt = _encode(processor, prompt_chats, prompt_only=True, model=model)
    last, response_mean, prompt_last = _selection_weights(full, prompt, batch_items * 2)
    rule_weights = {"last": last, "response_mean": response_mean, "prompt_last": prompt_last}[token_rule]
    rule_weights, prompt_last = rule_weights.to(device), prompt_last.to(device)
    read: dict[int, tuple[Any, Any]] = {}
    deepest = max(layers)

    def reader(layer: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            hidden = (output[0] if isinstance(output, tuple) else output).float()
            read[layer] = (
                torch.einsum("bt,bth->bh", rule_weights, hidden).cpu(),
                torch.einsum("bt,bth->bh", prompt_last, hidden).cpu(),
            )
            if layer == deepest:
                raise _StopForward

        return hook

    handles = [blocks[layer].register_forward_hook(reader(layer), prepend=True) for layer in layers]
    try:
        inputs = full.to(device=device, dtype=dtype)
        with torch.inference_mode():
            try:
                model(**inputs, use_cache=False)
            except _StopForward:
                pass
    finally:
        for handle in handles:
            handle.remove()
    count = len(indices)
    for layer in layers:
        at_rule, at_prompt = read[layer]
        for offset, index in enumerate(indices):
            out["safe"][layer][index] = at_rule[offset]
            out["unsafe"][layer][index] = at_rule[count + offset]
            out["prompt"][layer][index] = at_prompt[offset]


def fit_probe(features: Any, unsafe: Any, seed: int = 0, c: float = 1.0) -> LinearProbe:
    """Logistic regression (sklearn, standardised features) folded back to one weight vector.

    ``features`` [n, hidden] float32, ``unsafe`` [n] bools. Standardising first makes the L2
    penalty treat all hidden units alike; the scaler is folded into ``weight`` and ``bias``.
    """
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = features.double().numpy()
    y = np.asarray(unsafe, dtype=int)
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(scaler.transform(x), y)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    weight = classifier.coef_[0] / scale
    bias = float(classifier.intercept_[0] - np.sum(weight * scaler.mean_))
    accuracy = float(classifier.score(scaler.transform(x), y))
    return LinearProbe(weight=torch.tensor(weight, dtype=torch.float32), bias=bias, train_accuracy=accuracy)


def extract_vectors(
    model: Any,
    processor: Any,
    items: Iterable[ContrastiveItem],
    layers: Sequence[int],
    *,
    exclude_ids: Iterable[str] | None = None,
    token_rule: TokenRule = "last",
    vector_from: Literal["unsafe_queries", "all"] = "unsafe_queries",
    probe: bool | Literal["auto"] = "auto",
    probe_c: float = 1.0,
    batch_size: int = 4,
    max_image_side: int | None = 1024,
    seed: int = 0,
    source: str = "user",
    model_name: str | None = None,
    guard: Guard | None = None,
) -> SteeringVectors:
    """IAR vectors ``mean(safe) - mean(unsafe)`` per 0-indexed text block, with provenance.

    ``exclude_ids`` are the ids of evaluated samples; any overlap is refused. ``vector_from``
    picks the items the vector is averaged over: by default only unsafe queries (refusal vs
    compliance, the IAR setting); ``all`` uses every item. A probe (P(query is unsafe) from the
    last prompt token) is fitted per block when ``probe`` is True, or with ``"auto"`` when both
    query labels occur at least twice; ``probe_c`` is its inverse L2 penalty (sklearn's ``C``).
    With a probe a CAST-style condition vector is fitted too (``gate=condition``), its threshold
    learned on the same items. The file's guard holds every item's question and image, plus
    ``guard`` (the held-out split the items were drawn from), so no run evaluates them.
    """
    import torch

    items = list(items)
    if not items:
        raise ContrastiveDataError("no contrastive items given")
    check_no_overlap(items, exclude_ids)
    layers = list(dict.fromkeys(int(layer) for layer in layers))
    used = [i for i, item in enumerate(items) if vector_from == "all" or item.query_label == "unsafe"]
    if not used:
        raise ContrastiveDataError("no item has query_label 'unsafe'; use vector_from='all' or add unsafe queries")
    labels = [item.query_label == "unsafe" for item in items]
    can_probe = min(labels.count(True), labels.count(False)) >= 2
    if probe is True and not can_probe:
        raise ContrastiveDataError("a probe needs at least two items of each query_label (safe and unsafe)")
    activations = collect_activations(model, processor, items, layers, token_rule, batch_size, max_image_side)
    vectors, vector_norms, activation_norms, probes, conditions = {}, {}, {}, {}, {}
    for layer in layers:
        safe = activations["safe"][layer][used]
        unsafe = activations["unsafe"][layer][used]
        vector = safe.mean(0) - unsafe.mean(0)
        vectors[layer] = vector
        vector_norms[layer] = float(vector.norm())
        activation_norms[layer] = float(torch.cat([safe, unsafe]).norm(dim=1).mean())
        if can_probe and probe:
            probes[layer] = fit_probe(activations["prompt"][layer], labels, seed=seed, c=probe_c)
            conditions[layer] = fit_condition(activations["prompt"][layer], labels)
    from vscbench import __version__

    meta = {
        **model_identity(model, model_name),
        "layers": layers,
        "layer_indexing": "0-indexed text decoder block; output equals hidden_states[layer + 1]",
        "decoder_layers": locate_text_layers(model)[0],
        "token_rule": token_rule,
        "vector_from": vector_from,
        "method": "mass-mean: mean(safe) - mean(unsafe), float32",
        "n_items": len(items),
        "n_safe": len(used),
        "n_unsafe": len(used),
        "n_unsafe_queries": labels.count(True),
        "n_safe_queries": labels.count(False),
        "probe": {"fitted": bool(probes), "features": "last prompt token", "c": probe_c},
        "condition": {
            "fitted": bool(conditions),
            "features": "last prompt token",
            "rule": "cos(h - center, direction) >= threshold, threshold by balanced accuracy on the items",
        },
        "seed": seed,
        "source": source,
        "data_sha256": contrastive_sha256(items),
        "max_image_side": max_image_side,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "vscbench_version": __version__,
    }
    file_guard = items_guard(items).merge(guard or Guard())
    if guard is not None and guard.split:
        meta["split"] = guard.split
    return SteeringVectors(
        vectors=vectors,
        vector_norms=vector_norms,
        activation_norms=activation_norms,
        meta=meta,
        probes=probes,
        conditions=conditions,
        guard=file_guard,
    )


def load_local_model(
    model: str | Path, device: str | None = None, dtype: str | None = None, trust_remote_code: bool = False
) -> Any:
    """A local transformers VLM (hub id in the local cache, or a checkpoint folder) as an
    ``hf:`` backend model: ``.model`` and ``.processor`` for extraction, ``generate`` for answers.

    ``model`` may carry the ``hf:`` prefix of a model spec.
    """
    from vscbench.models.base import ModelSpec, load_model

    return load_model(ModelSpec.parse(hf_spec(model)), device=device, dtype=dtype, trust_remote_code=trust_remote_code)


def hf_spec(model: str | Path) -> str:
    """``hf:NAME`` for a hub id, a folder or a spec that already says ``hf:``."""
    text = str(model)
    return text if text.startswith("hf:") else f"hf:{text}"


def read_id_list(path: str | Path) -> set[str]:
    """Ids of evaluated samples: one a line, or JSON objects with an ``id`` (a samples export)."""
    ids: set[str] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("{"):
            try:
                ids.add(str(json.loads(text)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ContrastiveDataError(f'{path}, line {number}: a JSON line needs an "id" field') from None
        else:
            ids.add(text)
    return ids


def extract_to_file(
    model_path: str | Path,
    data_path: str | Path,
    layers: str,
    out: str | Path,
    *,
    exclude_ids_path: str | Path | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    **options: Any,
) -> SteeringVectors:
    """Check everything, then load the model, extract vectors from a contrastive JSONL and save them.

    ``model_path`` is a hub id (cached locally when offline), a checkpoint folder, or an
    ``hf:`` spec. ``layers`` is a :func:`resolve_layers` spec (``"14"``, ``"8-20"``,
    ``"9,14,0.5"``), checked against the checkpoint's config before any weight is read, as
    are the data, the exclusion list and the output folder. A split record written next to the
    data by ``steer build-data`` (``NAME.split.json``) goes into the file's guard.
    ``options`` go to :func:`extract_vectors`. This is the library side of ``vscbench steer extract``.
    """
    from vscbench.methods.steering.data import load_contrastive_jsonl
    from vscbench.methods.steering.guard import read_split_record
    from vscbench.methods.steering.layers import config_text_layers, parse_layer_spec, resolve_layers

    parse_layer_spec(layers)
    items = load_contrastive_jsonl(data_path)
    exclude = read_id_list(exclude_ids_path) if exclude_ids_path is not None else None
    check_no_overlap(items, exclude)
    target = Path(out)
    if target.exists() and target.is_dir():
        raise ContrastiveDataError(
            f"--out {target} is a folder; name the vector file, e.g. {target / 'iar.safetensors'}"
        )
    blocks = resolve_layers(layers, config_text_layers(str(model_path), trust_remote_code))
    split = read_split_record(data_path)
    loaded = load_local_model(model_path, device, dtype, trust_remote_code)
    vectors = extract_vectors(loaded.model, loaded.processor, items, blocks, exclude_ids=exclude,
                              source=str(Path(data_path).name), guard=split, **options)  # fmt: skip
    vectors.save(target)
    return vectors
