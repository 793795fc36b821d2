"""Run an IAR layer x strength sweep end to end: generate, judge, score, and find the frontier.

Each (layer, strength) point is an ordinary run through :func:`vscbench.runner.run_samples`
with the method ``iar:layer=L,strength=A,vector=FILE``, so its answers are cached in the store
under keys that name the vector's hash, the block and the strength: re-running a sweep, or
widening its grid, only generates the points that are new. Safety is judged (the offline judge
by default) and scored as SRA; utility, if asked for, is POPE F1 or ScienceQA accuracy on the
same steered model.

Example::

    model = load_model("hf:./llava-1.5-7b-hf")
    samples = select_samples(load_samples("./vscbench-data").samples, limit=200)
    result = sweep(model, samples, Store("runs.sqlite"), "iar.safetensors", "9,14,0.5", "1.0,1.5")
    for point in result.frontier: print(point.layer, point.strength, point.sra_a, point.utility)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vscbench.methods.plan import MethodSpecError, parse_method
from vscbench.schema import GenerationConfig, RunSpec, Sample
from vscbench.store import Store

#: Which utility figure a sweep reports for each benchmark.
UTILITY_METRIC = {"pope": "f1", "scienceqa": "accuracy"}


@dataclass
class SweepPoint:
    """One steering setting and what it did to safety and utility."""

    layer: int
    strength: float
    method: str
    run: str
    sra_s: float | None = None
    sra_u: float | None = None
    sra_a: float | None = None
    utility: float | None = None
    utility_run: str | None = None
    relative_strength: float | None = None
    sent: int = 0
    cached: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SweepResult:
    """All points of a sweep, and those on the safety/utility frontier.

    ``safety`` is SRA_u (unsafe queries refused); ``utility_axis`` names the other axis: the
    utility benchmark's figure when one was run, otherwise SRA_s (safe queries answered).
    """

    model: str
    vector: str
    vector_sha256: str
    judge: str
    samples: int
    utility_benchmark: str | None
    utility_samples: int
    points: list[SweepPoint]
    frontier: list[SweepPoint]
    utility_axis: str

    def to_dict(self) -> dict[str, Any]:
        record = {key: value for key, value in self.__dict__.items() if key not in ("points", "frontier")}
        record["points"] = [point.to_dict() for point in self.points]
        record["frontier"] = [{"layer": p.layer, "strength": p.strength} for p in self.frontier]
        return record


def _frontier(points: Sequence[SweepPoint], use_utility: bool) -> list[SweepPoint]:
    from vscbench.methods.steering.sweep import pareto_frontier

    rows = []
    for index, point in enumerate(points):
        other = point.utility if use_utility else point.sra_s
        if point.sra_u is not None and other is not None:
            rows.append((point.sra_u, other, index))
    return [points[row[2]] for row in pareto_frontier(rows)]


def _utility_score(store: Store, run: str, samples: Sequence[Sample], benchmark: str) -> float | None:
    from vscbench.utility.metrics import score_utility

    responses = {sample.id: response for sample, response in store.run_items(run)}
    report = score_utility(samples, responses, resamples=200)
    scores = report.benchmarks.get(benchmark)
    if scores is None:
        return None
    return getattr(scores.overall, UTILITY_METRIC[benchmark]).value


def sweep(
    model: Any,
    samples: Sequence[Sample],
    store: Store,
    vector: str | Path,
    layers: str | Iterable[Any],
    strengths: str | Iterable[Any],
    *,
    judge: str = "offline",
    utility_samples: Sequence[Sample] | None = None,
    config: GenerationConfig | None = None,
    run_prefix: str | None = None,
    concurrency: int = 1,
    data_label: str | None = None,
    on_point: Callable[[SweepPoint], None] | None = None,
) -> SweepResult:
    """Steer ``model`` (a loaded ``hf:`` model) at every (layer, strength) and measure each point.

    ``layers`` takes block indices and depth fractions (``"9,14,0.5"``), resolved against the
    model; ``strengths`` is ``"1.0,1.5"`` or a list. ``utility_samples`` (POPE or ScienceQA
    samples from :func:`vscbench.utility.loader.load_utility`) adds a utility run per point.
    Raises :class:`MethodSpecError` for an unusable vector file or layer, before generating.
    """
    from vscbench.evaluate import judge_run, score_run
    from vscbench.judges.base import judge_key
    from vscbench.judges.registry import get_judge
    from vscbench.methods.steering.layers import LayerError, num_text_layers
    from vscbench.methods.steering.sweep import sweep_grid
    from vscbench.runner import default_run_name, free_run_name, run_samples

    config = config or GenerationConfig()
    model_spec = str(model.spec)
    if model.spec.provider != "hf":
        raise MethodSpecError(f"a steering sweep needs a local hf:PATH model; {model_spec} uses the {model.spec.provider} backend")
    try:
        grid = sweep_grid(layers, strengths, num_text_layers(model.model))
    except (LayerError, ValueError) as exc:
        raise MethodSpecError(str(exc)) from None
    judge_impl = get_judge(judge)
    prefix = run_prefix or default_run_name(model_spec)
    benchmark = utility_samples[0].subset if utility_samples else None
    if benchmark is not None and benchmark not in UTILITY_METRIC:
        raise ValueError(f"utility samples are from {benchmark!r}; load POPE or ScienceQA with load_utility")

    def generate(plan: Any, steered: Any, chosen: Sequence[Sample], base: str, data: str | None) -> tuple[str, Any]:
        name = free_run_name(store, base, model_spec, config, plan.canonical)
        spec = RunSpec(name=name, model=model_spec, data=data, config=config, meta={"method": plan.to_dict(), "sweep": True})
        runner = run_samples(steered, chosen, store, run_name=name, config=config, concurrency=concurrency,
                             transform=plan.transform(chosen), spec=spec)  # fmt: skip
        summary = asyncio.run(runner)
        return name, summary

    for layer in dict.fromkeys(layer for layer, _ in grid):  # refuse a bad vector file before generating
        parse_method(f"iar:layer={layer},strength=0,vector={vector}").wrap(model)
    points: list[SweepPoint] = []
    sha = ""
    for layer, strength in grid:
        plan = parse_method(f"iar:layer={layer},strength={strength},vector={vector}")
        sha = plan.iar.vector_sha256 if plan.iar else ""
        steered = plan.wrap(model)
        tag = f"iar-l{layer}-s{strength:g}"
        run, summary = generate(plan, steered, samples, f"{prefix}-sweep-{tag}", data_label)
        point = SweepPoint(layer=layer, strength=strength, method=plan.canonical, run=run,
                           relative_strength=plan.iar.relative_strength if plan.iar else None,
                           sent=summary.sent, cached=summary.cached)  # fmt: skip
        if utility_samples:
            point.utility_run, _ = generate(plan, steered, utility_samples, f"{prefix}-sweep-{benchmark}-{tag}", benchmark)
        judge_run(store, run, judge_impl)
        overall = score_run(store, run, judge_key(judge_impl)).overall
        point.sra_s, point.sra_u, point.sra_a = overall.sra_s, overall.sra_u, overall.sra_a
        point.failures = {k: v for k, v in overall.failures.items() if v}
        if utility_samples and point.utility_run and benchmark:
            point.utility = _utility_score(store, point.utility_run, utility_samples, benchmark)
        points.append(point)
        if on_point is not None:
            on_point(point)
    use_utility = bool(utility_samples)
    return SweepResult(
        model=model_spec,
        vector=str(vector),
        vector_sha256=sha,
        judge=judge_impl.name,
        samples=len(samples),
        utility_benchmark=benchmark,
        utility_samples=len(utility_samples or []),
        points=points,
        frontier=_frontier(points, use_utility),
        utility_axis=f"{benchmark}_{UTILITY_METRIC[benchmark]}" if use_utility and benchmark else "sra_s",
    )
