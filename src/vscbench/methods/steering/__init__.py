"""Activation steering for local models: Internal Activation Revision (IAR, AAAI 2025).

IAR shifts the activations of one text decoder block towards those the model has when it
answers safely. VSCBench's best setting on 7B LLaVA-style models is block 14 at strength 1.5.
This module is the public surface; the pieces live in modules by idea:

- data: :func:`load_contrastive_jsonl`, :class:`ContrastiveItem`; ``build_data``: contrastive
  items from the model's own judged answers on a held-out split (``split``: prompt-row groups)
- guard: :class:`Guard` (normalised questions and image hashes an evaluation must not contain)
- where: :func:`find_text_layers` (at each family's path, see :mod:`vscbench.models.hf_families`),
  :func:`resolve_layers` (0-indexed text decoder blocks, ranges)
- extract: :func:`extract_vectors` -> :class:`SteeringVectors` (``save``), :func:`load_vectors`
- apply: :func:`steer` (context manager; per-row strengths; a probe or a CAST-style
  :class:`ConditionVector` as the gate); ``wrapper.SteeredModel`` (the model decorator)
- sweep: :func:`sweep_grid`, :func:`pareto_frontier`; ``sweep_run``: layer x strength x gate
  as experiments with one baseline

Example::

    items = load_contrastive_jsonl("contrastive.jsonl")
    vectors = extract_vectors(model, processor, items, layers=[14], exclude_ids=evaluated_ids)
    vectors.save("iar.safetensors")
    with steer(model, load_vectors("iar.safetensors", model), layer=14, alpha=1.5):
        output = model.generate(**inputs)
"""

from __future__ import annotations

from vscbench.methods.steering.condition import ConditionVector, fit_condition
from vscbench.methods.steering.data import (
    ContrastiveDataError,
    ContrastiveItem,
    check_no_overlap,
    contrastive_sha256,
    load_contrastive_jsonl,
)
from vscbench.methods.steering.extract import (
    TOKEN_RULES,
    collect_activations,
    extract_to_file,
    extract_vectors,
    fit_probe,
    load_local_model,
    read_id_list,
)
from vscbench.methods.steering.guard import Guard
from vscbench.methods.steering.hooks import SteeringState, steer
from vscbench.methods.steering.layers import (
    LayerError,
    find_text_layers,
    locate_text_layers,
    num_text_layers,
    resolve_layers,
    text_hidden_size,
)
from vscbench.methods.steering.sweep import (
    pareto_frontier,
    resolve_strengths,
    sweep_grid,
)
from vscbench.methods.steering.vectors import (
    LinearProbe,
    SteeringVectors,
    VectorFileError,
    load_vectors,
    model_identity,
    read_vectors,
    vectors_sha256,
)

__all__ = [
    "TOKEN_RULES",
    "ConditionVector",
    "ContrastiveDataError",
    "ContrastiveItem",
    "Guard",
    "LayerError",
    "LinearProbe",
    "SteeringState",
    "SteeringVectors",
    "VectorFileError",
    "check_no_overlap",
    "collect_activations",
    "contrastive_sha256",
    "extract_to_file",
    "extract_vectors",
    "find_text_layers",
    "fit_condition",
    "fit_probe",
    "load_contrastive_jsonl",
    "load_local_model",
    "load_vectors",
    "locate_text_layers",
    "model_identity",
    "num_text_layers",
    "pareto_frontier",
    "read_id_list",
    "read_vectors",
    "resolve_layers",
    "resolve_strengths",
    "steer",
    "sweep_grid",
    "text_hidden_size",
    "vectors_sha256",
]
