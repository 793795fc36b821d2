"""Contrastive items for steering-vector extraction, from a user JSONL or built by the caller.

An item is one query (with an optional image) and two answers to it: the calibrated ("safe")
answer and the miscalibrated ("unsafe") one. The steering vector is the mean activation shift
from unsafe to safe answers. ``query_label`` says whether the query itself is unsafe (the IAR
setting: refuse vs comply) or safe; a probe for gated steering is fitted on those labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vscbench.images import file_sha256
from vscbench.jsonl import jsonl_objects
from vscbench.methods.steering.guard import Guard

QueryLabel = Literal["safe", "unsafe"]

_REQUIRED = ("query", "safe_response", "unsafe_response")
#: Provenance fields ``steer build-data`` writes; kept with the item, not used to extract.
_PROVENANCE = ("sample_id", "pair_key", "split", "judge", "safe_label", "unsafe_label", "safe_source", "unsafe_source",
               "source_file", "source_row", "subset", "category")  # fmt: skip
_KNOWN = {"id", "image", "image_path", "query_label", "question", *_REQUIRED, *_PROVENANCE}


class ContrastiveDataError(ValueError):
    """A contrastive file or item that cannot be used; the message names the line and the fix."""


@dataclass(frozen=True)
class ContrastiveItem:
    """One query with a safe and an unsafe answer. ``id`` is checked against evaluated samples."""

    id: str
    query: str
    safe_response: str
    unsafe_response: str
    image_path: Path | None = None
    query_label: QueryLabel = "unsafe"
    question: str | None = None
    """The question in plain words, when the query sent is an instruction about the image
    (FigStep, typography); the contamination guard compares it (default: the query)."""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Provenance from ``steer build-data``: sample id, split, judge and verdicts."""

    @property
    def guard_question(self) -> str:
        return self.question or self.query


def load_contrastive_jsonl(path: str | Path) -> list[ContrastiveItem]:
    """Read contrastive items, one JSON object a line.

    Fields: ``query``, ``safe_response``, ``unsafe_response`` (required), ``image`` (path,
    relative to the file's folder), ``id`` (default ``line-N``) and ``query_label``
    (``unsafe``, the default, or ``safe``). Blank lines are skipped. Any problem raises
    :class:`ContrastiveDataError` naming the file and line.
    """
    source = Path(path)
    if not source.is_file():
        raise ContrastiveDataError(f"contrastive file {source} does not exist")
    items: list[ContrastiveItem] = []
    seen_ids: dict[str, int] = {}
    for number, where, row in jsonl_objects(source, ContrastiveDataError):
        missing = [key for key in _REQUIRED if not isinstance(row.get(key), str) or not row[key].strip()]
        if missing:
            raise ContrastiveDataError(
                f"{where}: missing or empty {', '.join(missing)}; every line needs "
                '{"query": ..., "safe_response": ..., "unsafe_response": ..., "image": optional path}'
            )
        unknown = sorted(set(row) - _KNOWN)
        if unknown:
            raise ContrastiveDataError(
                f"{where}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(_KNOWN))}"
            )
        label = row.get("query_label", "unsafe")
        if label not in ("safe", "unsafe"):
            raise ContrastiveDataError(f"{where}: query_label must be 'safe' or 'unsafe', got {label!r}")
        image_value = row.get("image", row.get("image_path"))
        image_path: Path | None = None
        if image_value is not None:
            if not isinstance(image_value, str) or not image_value:
                raise ContrastiveDataError(f"{where}: image must be a path string")
            image_path = Path(image_value).expanduser()
            if not image_path.is_absolute():
                image_path = source.parent / image_path
            if not image_path.is_file():
                raise ContrastiveDataError(f"{where}: image {image_path} does not exist")
        question = row.get("question")
        if question is not None and (not isinstance(question, str) or not question.strip()):
            raise ContrastiveDataError(f"{where}: question must be a non-empty string when given")
        item_id = str(row.get("id", f"line-{number}"))
        if item_id in seen_ids:
            raise ContrastiveDataError(f"{where}: id {item_id!r} repeats line {seen_ids[item_id]}")
        seen_ids[item_id] = number
        items.append(
            ContrastiveItem(
                id=item_id,
                query=row["query"],
                safe_response=row["safe_response"],
                unsafe_response=row["unsafe_response"],
                image_path=image_path,
                query_label=label,
                question=question,
                meta={key: row[key] for key in _PROVENANCE if key in row},
            )
        )
    if not items:
        raise ContrastiveDataError(f"contrastive file {source} holds no items")
    return items


def check_no_overlap(items: Iterable[ContrastiveItem], exclude_ids: Iterable[str] | None) -> None:
    """Refuse items whose id is an evaluated sample's id (a cheap first check; the guard that
    matters compares content: :func:`items_guard` and :class:`~vscbench.methods.steering.guard.Guard`)."""
    if not exclude_ids:
        return
    excluded = set(exclude_ids)
    overlap = sorted(item.id for item in items if item.id in excluded or item.meta.get("sample_id") in excluded)
    if overlap:
        shown = ", ".join(overlap[:5]) + (f" and {len(overlap) - 5} more" if len(overlap) > 5 else "")
        raise ContrastiveDataError(
            f"{len(overlap)} contrastive item(s) are also evaluated items: {shown}. "
            "Build the steering data from held-out samples (or a different split)."
        )


def items_guard(items: Iterable[ContrastiveItem]) -> Guard:
    """The questions and images of contrastive items, as a guard against evaluating them."""
    guard = Guard()
    for item in items:
        guard.add_item(item.guard_question, item.image_path)
    return guard


def write_contrastive_jsonl(items: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write item records (the fields :func:`load_contrastive_jsonl` reads) atomically."""
    import os

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in items)
    os.replace(temporary, target)
    return target


def contrastive_sha256(items: Iterable[ContrastiveItem]) -> str:
    """Content hash of the data (texts, labels and image bytes, not paths): recorded with a vector."""
    digest = hashlib.sha256()
    for item in items:
        record = {
            "id": item.id,
            "query": item.query,
            "safe": item.safe_response,
            "unsafe": item.unsafe_response,
            "label": item.query_label,
            "image": file_sha256(item.image_path) if item.image_path is not None else None,
        }
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
