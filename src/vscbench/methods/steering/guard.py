"""The contamination guard: steering data must never share a query or an image with an evaluation.

Ids say nothing about content: the same question exported under another id, or a contrastive
item written by hand whose query is a test prompt, is the same item to the model. So the guard
compares what the model sees:

- the *question*, normalised (Unicode NFKC, case folded, punctuation and spacing collapsed), so
  "How do I kill a Python process?" and "how do i kill a python process" are one question;
- the *image*, by the SHA-256 of its bytes, so a renamed or copied file is still the same image.

A sample's question is :attr:`~vscbench.schema.Sample.original_question` (the benchmark's
question in plain words: for FigStep and typography samples the question the image spells out,
not the generic instruction sent with it). A :class:`Guard` is a set of such keys; it is stored
in a vector file (``guard`` in its metadata) and checked against the samples of every run that
steers with that file.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from vscbench.images import file_sha256
from vscbench.schema import Sample

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """Case-folded NFKC text with every run of punctuation and space turned into one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def text_key(text: str) -> str:
    """A short hash of the normalised text (what a guard stores: no benchmark text is copied)."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:20]


@lru_cache(maxsize=65536)
def _hash_file(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


def image_key(path: str | Path) -> str:
    """SHA-256 of an image file's bytes (cached per path, mtime and size)."""
    stat = Path(path).stat()
    return _hash_file(str(path), stat.st_mtime_ns, stat.st_size)


def sample_keys(sample: Sample) -> tuple[str, str | None]:
    """(question key, image key or None) of a benchmark sample."""
    image = (
        image_key(sample.image_path) if sample.image_path is not None and Path(sample.image_path).is_file() else None
    )
    return text_key(sample.original_question), image


@dataclass
class Guard:
    """Question and image keys that an evaluation must not contain.

    ``rows`` are the benchmark rows (source file name, row) the keys came from, when known: a
    run drops those rows from its evaluation, as few-shot drops its demonstrations' rows;
    any sample still sharing a key is refused (see :meth:`overlapping`).
    """

    texts: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    rows: set[tuple[str, int]] = field(default_factory=set)
    split: str | None = None
    """How the keys were chosen (``vscbench-holdout:fraction=0.2,seed=0``), or None for user data."""

    def __bool__(self) -> bool:
        return bool(self.texts or self.images)

    def add_sample(self, sample: Sample) -> None:
        question, image = sample_keys(sample)
        self.texts.add(question)
        if image is not None:
            self.images.add(image)
        if sample.source_file is not None and sample.source_row is not None:
            self.rows.add((Path(sample.source_file).name, int(sample.source_row)))

    def add_item(self, question: str, image: str | Path | None) -> None:
        self.texts.add(text_key(question))
        if image is not None:
            self.images.add(image_key(image))

    def in_rows(self, sample: Sample) -> bool:
        """True for a sample of one of the guard's benchmark rows."""
        if sample.source_file is None or sample.source_row is None:
            return False
        return (Path(sample.source_file).name, int(sample.source_row)) in self.rows

    def overlapping(self, samples: Iterable[Sample]) -> list[tuple[Sample, str]]:
        """Samples sharing a question or an image with the guard, each with what it shares."""
        found: list[tuple[Sample, str]] = []
        for sample in samples:
            question, image = sample_keys(sample)
            if question in self.texts:
                found.append((sample, "question"))
            elif image is not None and image in self.images:
                found.append((sample, "image"))
        return found

    def to_meta(self) -> dict[str, Any]:
        return {"texts": sorted(self.texts), "images": sorted(self.images),
                "rows": sorted([file, row] for file, row in self.rows), "split": self.split}  # fmt: skip

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> Guard:
        if not meta:
            return cls()
        return cls(
            texts=set(meta.get("texts", [])), images=set(meta.get("images", [])),
            rows={(str(file), int(row)) for file, row in meta.get("rows", [])}, split=meta.get("split"),
        )  # fmt: skip

    def merge(self, other: Guard) -> Guard:
        return Guard(self.texts | other.texts, self.images | other.images, self.rows | other.rows,
                     self.split or other.split)  # fmt: skip


def describe_overlap(found: Sequence[tuple[Sample, str]], what: str) -> str:
    """``3 evaluated samples share a question or image with ...: a (question), b (image) ...``."""
    shown = ", ".join(f"{sample.id} ({kind})" for sample, kind in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{len(found)} evaluated sample(s) share a question or an image with {what}: {shown}{more}"


SPLIT_FORMAT = "vscbench-contrastive-split/1"
"""Format of the split record ``steer build-data`` writes next to its items."""


def split_record_path(data_path: str | Path) -> Path:
    """``contrastive.jsonl`` -> ``contrastive.split.json`` (the split record next to the items)."""
    path = Path(data_path)
    return path.with_name(f"{path.stem}.split.json")


def read_split_record(data_path: str | Path) -> Guard | None:
    """The guard of the split a contrastive file was built from, or None (user data)."""
    record_path = split_record_path(data_path)
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{record_path} is not valid JSON ({exc}); rebuild it with `vscbench steer build-data`"
        ) from None
    if not isinstance(record, dict) or record.get("format") != SPLIT_FORMAT:
        raise ValueError(f"{record_path} is not a split record of `vscbench steer build-data` (format {SPLIT_FORMAT})")
    guard = Guard.from_meta(record.get("guard"))
    guard.split = record.get("split")
    return guard
