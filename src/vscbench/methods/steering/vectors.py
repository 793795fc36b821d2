"""Steering vectors and their file: one safetensors file holding vectors, probes and provenance.

A vector is only meaningful for the model it came from, so the file records the model's
identity and the settings that produced it, and :func:`load_vectors` refuses a file made for a
different model. The file's SHA-256 names the vector in cache keys: change the data or the
settings and every cached steered answer is recomputed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.images import file_sha256
from vscbench.methods.steering.condition import ConditionVector
from vscbench.methods.steering.guard import Guard
from vscbench.methods.steering.layers import (
    num_text_layers,
    text_config,
    text_hidden_size,
)

FORMAT = "vscbench-steering/1"


class VectorFileError(ValueError):
    """A vector file that is unreadable or made for another model."""


@dataclass
class LinearProbe:
    """Logistic-regression probe on one layer's activation: P(unsafe query) = sigmoid(w.h + b)."""

    weight: Any  # torch.Tensor [hidden], float32
    bias: float
    threshold: float = 0.5
    train_accuracy: float | None = None

    def unsafe_probability(self, hidden: Any) -> Any:
        """Probabilities for a [batch, hidden] tensor, computed in float32."""
        import torch

        weight = self.weight.to(device=hidden.device, dtype=torch.float32)
        return torch.sigmoid(hidden.float() @ weight + self.bias)

    def score(self, hidden: Any) -> Any:
        """What the gate compares with :attr:`threshold` (the unsafe probability)."""
        return self.unsafe_probability(hidden)


def model_identity(model: Any, model_name: str | None = None) -> dict[str, Any]:
    """What a vector must match: the model's name and the shape facts of its text decoder."""
    name = model_name or getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
    config = text_config(model)
    return {
        "model": str(name),
        "model_name": Path(str(name).rstrip("/")).name if name else "",
        "model_type": str(getattr(model.config, "model_type", "")),
        "hidden_size": text_hidden_size(model),
        "num_layers": num_text_layers(model),
        "vocab_size": int(getattr(config, "vocab_size", 0) or 0),
    }


@dataclass
class SteeringVectors:
    """Per-layer mass-mean vectors (float32) with the norms that give a strength its scale.

    ``activation_norms[l]`` is the mean L2 norm of the activations the vector was computed
    from; ``alpha * vector_norms[l] / activation_norms[l]`` is the steering push as a fraction
    of the activation scale, which makes strengths comparable across layers and models.
    """

    vectors: dict[int, Any]
    vector_norms: dict[int, float]
    activation_norms: dict[int, float]
    meta: dict[str, Any]
    probes: dict[int, LinearProbe] = field(default_factory=dict)
    conditions: dict[int, ConditionVector] = field(default_factory=dict)
    """CAST-style condition vectors per block (``gate=condition``)."""
    guard: Guard = field(default_factory=Guard)
    """Questions and images of the data the vectors came from: runs must not evaluate them."""
    #: SHA-256 of the file this was saved to or loaded from (``None`` until then).
    sha256: str | None = None

    @property
    def layers(self) -> list[int]:
        return sorted(self.vectors)

    def vector(self, layer: int) -> Any:
        if layer not in self.vectors:
            raise KeyError(f"no steering vector for text block {layer}; this file has blocks {self.layers}")
        return self.vectors[layer]

    def relative_strength(self, layer: int, alpha: float) -> float:
        """``alpha`` expressed as the fraction of the mean activation norm it adds."""
        scale = self.activation_norms.get(layer) or 0.0
        return alpha * self.vector_norms[layer] / scale if scale else float("nan")

    def save(self, path: str | Path) -> str:
        """Write the safetensors file and return (and remember) its SHA-256."""
        import torch
        from safetensors.torch import save_file

        tensors: dict[str, Any] = {}
        for layer, vector in self.vectors.items():
            tensors[f"vector.{layer}"] = vector.detach().to("cpu", torch.float32).contiguous()
        for layer, probe in self.probes.items():
            tensors[f"probe.{layer}.weight"] = probe.weight.detach().to("cpu", torch.float32).contiguous()
            tensors[f"probe.{layer}.bias"] = torch.tensor([probe.bias], dtype=torch.float32)
        for layer, condition in self.conditions.items():
            tensors[f"condition.{layer}.direction"] = condition.direction.detach().to("cpu", torch.float32).contiguous()
            tensors[f"condition.{layer}.center"] = condition.center.detach().to("cpu", torch.float32).contiguous()
        metadata = {key: json.dumps(value) for key, value in self.meta.items()}
        metadata["conditions"] = json.dumps({str(k): c.to_meta() for k, c in self.conditions.items()})
        metadata["guard"] = json.dumps(self.guard.to_meta())
        metadata["format"] = json.dumps(FORMAT)
        metadata["vector_norms"] = json.dumps({str(k): v for k, v in self.vector_norms.items()})
        metadata["activation_norms"] = json.dumps({str(k): v for k, v in self.activation_norms.items()})
        metadata["probes"] = json.dumps(
            {str(k): {"threshold": p.threshold, "train_accuracy": p.train_accuracy} for k, p in self.probes.items()}
        )
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(target), metadata=metadata)
        self.sha256 = file_sha256(target)
        return self.sha256


def read_vectors(path: str | Path) -> SteeringVectors:
    """Read a vector file without checking it against a model (for inspection)."""
    from safetensors import safe_open

    source = Path(path)
    if not source.is_file():
        raise VectorFileError(f"vector file {source} does not exist")
    try:
        with safe_open(str(source), framework="pt") as handle:
            raw_meta = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise VectorFileError(f"{source} is not a readable safetensors file: {exc}") from exc
    try:
        meta = {key: json.loads(value) for key, value in raw_meta.items()}
    except json.JSONDecodeError as exc:
        raise VectorFileError(f"{source} has unreadable metadata: {exc}") from None
    if meta.pop("format", None) != FORMAT:
        raise VectorFileError(f"{source} is not a vscbench steering file (expected format {FORMAT})")
    probe_meta = meta.pop("probes", {})
    condition_meta = meta.pop("conditions", {})
    guard = Guard.from_meta(meta.pop("guard", None))
    vector_norms = {int(k): float(v) for k, v in meta.pop("vector_norms", {}).items()}
    activation_norms = {int(k): float(v) for k, v in meta.pop("activation_norms", {}).items()}
    vectors = {int(key.split(".")[1]): value for key, value in tensors.items() if key.startswith("vector.")}
    probes = {
        int(layer): LinearProbe(
            weight=tensors[f"probe.{layer}.weight"],
            bias=float(tensors[f"probe.{layer}.bias"][0]),
            threshold=float(info.get("threshold", 0.5)),
            train_accuracy=info.get("train_accuracy"),
        )
        for layer, info in probe_meta.items()
    }
    conditions = {
        int(layer): ConditionVector(
            direction=tensors[f"condition.{layer}.direction"], center=tensors[f"condition.{layer}.center"],
            threshold=float(info["threshold"]), balanced_accuracy=info.get("balanced_accuracy"),
            n_unsafe=int(info.get("n_unsafe", 0)), n_safe=int(info.get("n_safe", 0)),
        )
        for layer, info in condition_meta.items()
    }  # fmt: skip
    return SteeringVectors(
        vectors=vectors,
        vector_norms=vector_norms,
        activation_norms=activation_norms,
        meta=meta,
        probes=probes,
        conditions=conditions,
        guard=guard,
        sha256=file_sha256(source),
    )


def read_guard(path: str | Path) -> Guard:
    """The contamination guard recorded in a vector file (metadata only; no tensor is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get("guard")
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise VectorFileError(f"{path} is not a readable safetensors file: {exc}") from exc
    try:
        return Guard.from_meta(json.loads(raw) if raw else None)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise VectorFileError(f"{path} has an unreadable guard record: {exc}") from None


def load_vectors(path: str | Path, model: Any, model_name: str | None = None) -> SteeringVectors:
    """Read a vector file and refuse it unless it was made for ``model``.

    The model's name (last path component, so a hub id and a local copy of it agree), type,
    hidden size, number of text blocks and vocabulary size must all match. ``model_name``
    overrides the name read from the model, for a checkpoint copied under another folder name.
    """
    loaded = read_vectors(path)
    expected = model_identity(model, model_name)
    problems = []
    for key in ("model_name", "model_type", "hidden_size", "num_layers", "vocab_size"):
        recorded = loaded.meta.get(key)
        if recorded != expected[key]:
            problems.append(f"{key} is {recorded!r} in the file but {expected[key]!r} for the model")
    if problems:
        raise VectorFileError(
            f"steering vectors in {path} were made for another model ({loaded.meta.get('model')!r}): "
            + "; ".join(problems)
            + ". Extract vectors for this model, or pass model_name= if only the folder name differs."
        )
    for layer, vector in loaded.vectors.items():
        if tuple(vector.shape) != (expected["hidden_size"],):
            raise VectorFileError(f"{path}: vector for block {layer} has shape {tuple(vector.shape)}")
    return loaded


def vectors_sha256(path: str | Path) -> str:
    """The vector file's content hash, for cache keys of steered answers."""
    return file_sha256(path)
