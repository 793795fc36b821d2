"""Layer x strength sweeps: grids that transfer between models, and the safety/utility frontier.

A steering setting trades safety (refusing unsafe queries) against utility (answering safe
ones and the utility benchmarks). The sweep keeps the settings no other setting beats on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from vscbench.methods.steering.layers import resolve_layers


def resolve_strengths(spec: str | Iterable[float | str]) -> list[float]:
    """``"0,0.5,1.5"`` -> ``[0.0, 0.5, 1.5]``; duplicates dropped, order kept."""
    tokens = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else list(spec)
    strengths: list[float] = []
    for token in tokens:
        if token == "":
            continue
        try:
            value = float(token)
        except (TypeError, ValueError):
            raise ValueError(f"strength {token!r} is not a number; example: '0,0.5,1.5'") from None
        if value not in strengths:
            strengths.append(value)
    if not strengths:
        raise ValueError(f"no strengths in {spec!r}; example: '0,0.5,1.5'")
    return strengths


def sweep_grid(layers: str | Iterable[Any], strengths: str | Iterable[Any], num_layers: int) -> list[tuple[int, float]]:
    """Every (0-indexed text block, strength) pair of a sweep, layers resolved for this model."""
    return [(layer, alpha) for layer in resolve_layers(layers, num_layers) for alpha in resolve_strengths(strengths)]


def pareto_frontier(points: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """The points no other point beats on both of their first two values (safety, utility).

    Points may carry more values after the two scores (a layer, a strength, a label); they are
    returned as given, ordered by safety ascending (so utility descends along the frontier).
    A point equal to another on both scores is kept once (the first).
    """
    frontier: list[Sequence[Any]] = []
    for index, point in enumerate(points):
        safety, utility = float(point[0]), float(point[1])
        dominated = False
        for other_index, other in enumerate(points):
            if other_index == index:
                continue
            other_safety, other_utility = float(other[0]), float(other[1])
            better_or_equal = other_safety >= safety and other_utility >= utility
            strictly_better = other_safety > safety or other_utility > utility
            if better_or_equal and (strictly_better or other_index < index):
                dominated = True
                break
        if not dominated:
            frontier.append(point)
    return sorted(frontier, key=lambda point: (float(point[0]), -float(point[1])))
