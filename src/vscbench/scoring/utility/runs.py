"""A stored run told apart as safety or utility (by the subsets of its samples, not its name),
and a POPE/ScienceQA run scored from the store alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vscbench.benchmarks.utility.loader import BENCHMARKS
from vscbench.judges.runs import require_run
from vscbench.schema import Response, Sample
from vscbench.scoring.utility.metrics import UtilityReport, score_utility
from vscbench.store import Store

SAFETY_SUBSETS = ("image_centric", "text_centric")
UTILITY_SUBSETS = BENCHMARKS


class RunKindError(ValueError):
    """A run that is neither a safety run nor a utility run (empty, or mixing both)."""


def run_kind(samples: Sequence[Sample], run: str) -> str:
    """``safety`` or ``utility``, from the subsets of a run's stored samples."""
    subsets = {sample.subset for sample in samples}
    if not subsets:
        raise RunKindError(f"run {run!r} holds no samples")
    if subsets <= set(SAFETY_SUBSETS):
        return "safety"
    if subsets <= set(UTILITY_SUBSETS):
        return "utility"
    raise RunKindError(
        f"run {run!r} holds samples of subsets {sorted(subsets)}; a run must be all safety "
        f"({', '.join(SAFETY_SUBSETS)}) or all utility ({', '.join(UTILITY_SUBSETS)})"
    )


def utility_items(store: Store, run: str) -> tuple[list[Sample], dict[str, Response | None]]:
    """The samples of a utility run and each one's stored response (None: not answered yet)."""
    require_run(store, run)
    samples: list[Sample] = []
    responses: dict[str, Response | None] = {}
    for sample, response in store.run_items(run):
        samples.append(sample)
        responses[sample.id] = response
    if run_kind(samples, run) != "utility":
        raise RunKindError(f"run {run!r} is a safety run, not a POPE/ScienceQA run; score it with `vscbench score`")
    return samples, responses


def score_utility_run(store: Store, run: str, **options: Any) -> UtilityReport:
    """Score a stored POPE/ScienceQA run from the store alone (no dataset needed).

    ``options`` go to :func:`~vscbench.scoring.utility.metrics.score_utility`. A sample without a
    final answer (not sent yet, blocked or failed) counts as ``no_response``.
    """
    samples, responses = utility_items(store, run)
    return score_utility(samples, responses, **options)
