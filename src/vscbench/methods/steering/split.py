"""Held-out splits by prompt row: which rows of a benchmark steering data may be built from.

A *prompt-row group* is everything that must stay on one side of a split: the samples of one
spreadsheet row, their safe/unsafe twins (``pair_key``), and every sample that shares a
question or an image with any of them (rows asking the same question, an image used twice).
Groups are found with a union-find over those links, so a split drawn by groups is disjoint
from the rest of the benchmark by row, by question and by image at once.

A split is named by a spec: ``fraction=0.2,seed=0`` (the default) holds out a seeded 20 % of
the groups. Groups touching an evaluation the user names (``exclude``) are never drawn.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vscbench.methods.steering.guard import Guard, sample_keys
from vscbench.schema import Sample

DEFAULT_SPLIT = "fraction=0.2,seed=0"


class SplitError(ValueError):
    """A split spec that cannot be read, or a split that would hold out nothing."""


@dataclass(frozen=True)
class SplitSpec:
    fraction: float = 0.2
    seed: int = 0

    @classmethod
    def parse(cls, text: str | None) -> SplitSpec:
        """``fraction=0.2,seed=0``, or a bare fraction ``0.2``."""
        spec = (text or DEFAULT_SPLIT).strip()
        options: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, value = item.partition("=")
            key, value = (key.strip(), value.strip()) if sep else ("fraction", key.strip())
            if key not in ("fraction", "seed") or key in options:
                raise SplitError(
                    f"holdout split {spec!r}: unknown or repeated option {key!r}; form: fraction=0.2,seed=0"
                )
            options[key] = value
        try:
            fraction = float(options.get("fraction", "0.2"))
            seed = int(options.get("seed", "0"))
        except ValueError:
            raise SplitError(f"holdout split {spec!r}: fraction must be a number and seed an integer") from None
        if not 0 < fraction < 1:
            raise SplitError(f"holdout split {spec!r}: fraction must lie strictly between 0 and 1, got {fraction}")
        return cls(fraction, seed)

    def __str__(self) -> str:
        return f"fraction={self.fraction:g},seed={self.seed}"


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def prompt_row_groups(samples: Sequence[Sample]) -> list[list[Sample]]:
    """Samples joined by row, twin pair, question and image; groups ordered by their first sample."""
    finder = _UnionFind(len(samples))
    first_by_link: dict[str, int] = {}
    for index, sample in enumerate(samples):
        question, image = sample_keys(sample)
        links = [f"q:{question}", f"id:{sample.id}"]
        if image is not None:
            links.append(f"i:{image}")
        if sample.pair_key:
            links.append(f"p:{sample.pair_key}")
        if sample.source_file is not None and sample.source_row is not None:
            links.append(f"r:{Path(sample.source_file).name}:{sample.source_row}")
        for link in links:
            if link in first_by_link:
                finder.union(first_by_link[link], index)
            else:
                first_by_link[link] = index
    groups: dict[int, list[Sample]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(finder.find(index), []).append(sample)
    return [groups[root] for root in sorted(groups)]


@dataclass
class HeldOut:
    """The held-out side of a split: its samples, and the guard that keeps them out of runs."""

    spec: SplitSpec
    samples: list[Sample]
    groups: int
    total_groups: int
    excluded_groups: int = 0
    guard: Guard = field(default_factory=Guard)

    def to_dict(self) -> dict[str, object]:
        return {"split": self.name, "held_out_samples": len(self.samples), "held_out_groups": self.groups,
                "groups": self.total_groups, "groups_kept_for_evaluation": self.excluded_groups}  # fmt: skip

    @property
    def name(self) -> str:
        return f"vscbench-holdout:{self.spec}"


def draw_holdout(samples: Sequence[Sample], spec: SplitSpec, exclude: Iterable[Sample] = ()) -> HeldOut:
    """Hold out a seeded ``spec.fraction`` of the prompt-row groups of ``samples``.

    Groups that share a row, question or image with a sample of ``exclude`` (an evaluation run
    already made) are never held out. Raises :class:`SplitError` if nothing can be held out.
    """
    groups = prompt_row_groups(list(samples))
    keep_out = Guard()
    for sample in exclude:
        keep_out.add_sample(sample)
    drawable = [group for group in groups
                if not keep_out.overlapping(group) and not any(keep_out.in_rows(s) for s in group)]  # fmt: skip
    wanted = round(spec.fraction * len(groups))
    if not drawable or wanted == 0:
        raise SplitError(
            f"holdout split {spec} leaves nothing to build from: {len(groups)} prompt-row group(s), "
            f"{len(groups) - len(drawable)} of them touch the evaluation to keep out; raise the fraction or use more data"
        )
    chosen = random.Random(spec.seed).sample(range(len(drawable)), min(wanted, len(drawable)))
    held = [sample for index in sorted(chosen) for sample in drawable[index]]
    guard = Guard(split=f"vscbench-holdout:{spec}")
    for sample in held:
        guard.add_sample(sample)
    return HeldOut(spec, held, len(chosen), len(groups), len(groups) - len(drawable), guard)
