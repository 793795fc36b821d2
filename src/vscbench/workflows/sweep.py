"""A steering sweep, layer x strength x gate, as experiments: one baseline, every point, the frontier.

Every setting is an ordinary method (``iar:layer=L,strength=A,vector=FILE[,gate=G]``) of one
:class:`~vscbench.experiment.Experiment`, whose first method is ``none``: the unsteered model.
Strength 0 *is* that model at every block and with every gate, so the baseline is generated
once and shared by the whole grid instead of once per layer. All methods are asked the same
samples (``same_samples``): those the steering data's split does not hold out. With a utility
benchmark the same methods run a second experiment on POPE or ScienceQA, on the same loaded
model. Answers are cached in the store under keys naming the vector's hash, block, strength
and gate, so re-running a sweep, or widening its grid, only generates the new points.

The result keeps the points no other point beats on all of SRA_s (safe queries answered),
SRA_u (unsafe queries refused) and utility (when measured): the Pareto frontier.

Example::

    result = run_sweep(SweepSettings(model="hf:./llava-1.5-7b-hf", data="./vscbench-data",
                                     vector="iar.safetensors", layers="8-20", strengths="1,1.5",
                                     gates=("none", "condition"), limit=200))
    for point in result.frontier: print(point.layer, point.strength, point.gate, point.sra_s, point.sra_u)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vscbench.locations import DEFAULT_STORE
from vscbench.methods.plan import MethodSpecError, parse_method
from vscbench.methods.steering.sweep import resolve_strengths

#: Which utility figure a sweep reports for each benchmark.
UTILITY_METRIC = {"pope": "f1", "scienceqa": "accuracy"}
GATE_NAMES = ("none", "probe", "condition")


@dataclass
class SweepSettings:
    """What a sweep steers, where, how hard, and what it measures."""

    model: str
    data: str
    vector: str
    layers: str = "14"
    strengths: str = "1.0,1.5"
    gates: Sequence[str] = ("none",)
    subset: str = "all"
    limit: int | None = 200
    seed: int = 0
    judge: str = "offline"
    store: str = str(DEFAULT_STORE)
    max_tokens: int = 128
    utility: str | None = None
    utility_data: str | None = None
    utility_limit: int | None = 100
    model_options: dict[str, Any] = field(default_factory=dict)
    run_prefix: str | None = None


@dataclass
class SweepPoint:
    """One steering setting (or the baseline) and what it did to safety and utility."""

    layer: int | None
    strength: float
    gate: str
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

    @property
    def is_baseline(self) -> bool:
        return self.layer is None

    @property
    def key(self) -> tuple[int | None, float, str]:
        return (self.layer, self.strength, self.gate)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "baseline": self.is_baseline}


@dataclass
class SweepResult:
    """The baseline, every steered point, and the points on the SRA_s/SRA_u/utility frontier."""

    model: str
    vector: str
    vector_sha256: str
    judge: str
    samples: int
    utility_benchmark: str | None
    utility_samples: int
    baseline: SweepPoint
    points: list[SweepPoint]
    frontier: list[SweepPoint]
    objectives: list[str]
    held_out: int = 0

    @property
    def utility_axis(self) -> str:
        benchmark = self.utility_benchmark
        return f"{benchmark}_{UTILITY_METRIC[benchmark]}" if benchmark else "sra_s"

    def to_dict(self) -> dict[str, Any]:
        record = {key: value for key, value in self.__dict__.items() if key not in ("baseline", "points", "frontier")}
        record["utility_axis"] = self.utility_axis
        record["baseline"] = self.baseline.to_dict()
        record["points"] = [point.to_dict() for point in self.points]
        record["frontier"] = [{"layer": p.layer, "strength": p.strength, "gate": p.gate} for p in self.frontier]
        return record


def pareto_points(points: Sequence[SweepPoint], objectives: Sequence[str]) -> list[SweepPoint]:
    """Points no other point beats on every objective (ties: the first is kept), in input order."""
    scored = [p for p in points if all(getattr(p, name) is not None for name in objectives)]
    frontier = []
    for index, point in enumerate(scored):
        mine = [getattr(point, name) for name in objectives]
        beaten = False
        for other_index, other in enumerate(scored):
            theirs = [getattr(other, name) for name in objectives]
            if other_index == index or any(t < m for t, m in zip(theirs, mine)):
                continue
            if theirs != mine or other_index < index:
                beaten = True
                break
        if not beaten:
            frontier.append(point)
    return frontier


def sweep_methods(vector: str, grid: Sequence[tuple[int, float, str]]) -> list[str]:
    """``none`` first, then one iar method per (block, non-zero strength, gate)."""
    methods = ["none"]
    for layer, strength, gate in grid:
        if strength != 0:
            methods.append(
                f"iar:layer={layer},strength={strength!r},vector={vector}" + (f",gate={gate}" if gate != "none" else "")
            )
    return list(dict.fromkeys(methods))


def run_sweep(
    settings: SweepSettings,
    progress: Callable[[str], Callable[[Any], None] | None] | None = None,
    say: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run the sweep; see the module docstring. Raises :class:`MethodSpecError` or
    :class:`~vscbench.experiment.ExperimentError` for a bad vector file, layer, gate or data,
    before any point is generated."""
    from vscbench.experiment import Experiment, Judging, Selection, run_experiment
    from vscbench.methods.steering.layers import LayerError, config_text_layers, resolve_layers
    from vscbench.models.base import ModelSpec, load_model
    from vscbench.schema import GenerationConfig

    spec = ModelSpec.parse(settings.model if settings.model.startswith("hf:") else f"hf:{settings.model}")
    bad_gates = [gate for gate in settings.gates if gate not in GATE_NAMES]
    if bad_gates or not settings.gates:
        raise MethodSpecError(f"gate(s) {', '.join(bad_gates) or '(none given)'}: use {', '.join(GATE_NAMES)}")
    if settings.utility is not None and settings.utility not in UTILITY_METRIC:
        raise MethodSpecError(f"--utility must be pope or scienceqa, not {settings.utility!r}")
    try:
        layers = resolve_layers(
            settings.layers, config_text_layers(spec.name, settings.model_options.get("trust_remote_code", False))
        )
        strengths = resolve_strengths(settings.strengths)
    except (LayerError, ValueError) as exc:
        raise MethodSpecError(str(exc)) from None
    from vscbench.judges.registry import get_judge

    get_judge(settings.judge)  # an unknown judge fails before the model loads
    grid = [(layer, strength, gate) for layer in layers for strength in strengths for gate in settings.gates]
    methods = sweep_methods(settings.vector, grid)
    plans = {text: parse_method(text) for text in methods[1:]}  # a missing vector file fails here
    model = load_model(spec, **settings.model_options)
    for plan in plans.values():  # a vector without this block, probe or condition fails here
        plan.wrap(model)
    prefix = settings.run_prefix
    generation = GenerationConfig(max_tokens=settings.max_tokens, seed=settings.seed)
    base: dict[str, Any] = {
        "models": [str(spec)], "methods": methods, "store": settings.store, "generation": generation, "run_name": prefix,
    }  # fmt: skip
    selection = Selection(data=settings.data, subset=settings.subset, limit=settings.limit, seed=settings.seed,
                          same_samples=True)  # fmt: skip
    safety = Experiment(selection=selection, judging=Judging(judges=[settings.judge]), **base)
    loaded = {str(spec): model}
    safety_result = run_experiment(safety, progress=progress, say=say, loaded=loaded)
    utility_runs: dict[str, Any] = {}
    if settings.utility:
        options = {"limit": settings.utility_limit} if settings.utility_limit else {}
        utility_selection = Selection(data=settings.utility_data or "", benchmark=settings.utility,
                                      benchmark_options=options, seed=settings.seed, same_samples=True)  # fmt: skip
        utility = Experiment(selection=utility_selection,
                             **{**base, "run_name": f"{prefix}-{settings.utility}" if prefix else None})  # fmt: skip
        utility_runs = {
            run.method: run for run in run_experiment(utility, progress=progress, say=say, loaded=loaded).runs
        }
    return _result(settings, safety_result, utility_runs, plans, grid, _held_out(settings.store, safety_result))


def _held_out(store_path: str, result: Any) -> int:
    """Samples the steered runs left out because the steering data was built from their rows."""
    from vscbench.store import Store

    with Store(store_path) as store:
        for run in result.runs:
            spec = store.get_run(run.run)
            iar = (spec.meta.get("method") or {}).get("iar") if spec is not None else None
            if iar:
                return int(iar.get("held_out") or 0)
    return 0


def _result(settings: SweepSettings, safety: Any, utility_runs: dict[str, Any], plans: dict[str, Any],
            grid: Sequence[tuple[int, float, str]], held_out: int) -> SweepResult:  # fmt: skip
    by_method = {run.method: run for run in safety.runs}
    canonical = {text: plan.canonical for text, plan in plans.items()}

    def point(run: Any, layer: int | None, strength: float, gate: str, plan: Any = None) -> SweepPoint:
        overall = run.score.overall
        measured = SweepPoint(layer, strength, gate, run.method, run.run, overall.sra_s, overall.sra_u, overall.sra_a,
                              sent=run.summary.sent, cached=run.summary.cached,
                              failures={k: v for k, v in overall.failures.items() if v})  # fmt: skip
        if plan is not None and plan.iar is not None:
            measured.relative_strength = plan.iar.relative_strength
        other = utility_runs.get(run.method)
        if other is not None and settings.utility:
            scores = getattr(other.score, settings.utility)
            measured.utility = getattr(scores.overall, UTILITY_METRIC[settings.utility]).value if scores else None
            measured.utility_run = other.run
        return measured

    baseline = point(by_method["none"], None, 0.0, "none")
    points: list[SweepPoint] = []
    for layer, strength, gate in grid:
        if strength == 0:
            points.append(SweepPoint(**{**asdict(baseline), "layer": layer, "gate": gate}))
            continue
        text = next(t for t in plans if plans[t].iar.layer == layer and plans[t].iar.strength == strength
                    and (plans[t].iar.gate or "none") == gate)  # fmt: skip
        points.append(point(by_method[canonical[text]], layer, strength, gate, plans[text]))
    objectives = ["sra_s", "sra_u"] + (["utility"] if settings.utility else [])
    first = next(iter(plans.values()), None)
    return SweepResult(
        model=str(safety.experiment.models[0]), vector=settings.vector,
        vector_sha256=first.iar.vector_sha256 if first is not None else "", judge=settings.judge,
        samples=by_method["none"].samples,
        utility_benchmark=settings.utility, utility_samples=utility_runs["none"].samples if "none" in utility_runs else 0,
        baseline=baseline, points=points, frontier=pareto_points([baseline, *[p for p in points if p.strength != 0]], objectives),
        objectives=objectives, held_out=held_out,
    )  # fmt: skip


def draw_sweep(result: SweepResult, path: str | Path) -> Path:
    """SRA_s against SRA_u for every point (colour: utility, when measured), frontier ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 5.0), dpi=120)
    steered = [p for p in result.points if p.strength != 0]  # strength 0 is the baseline itself
    shown = [p for p in [result.baseline, *steered] if p.sra_s is not None and p.sra_u is not None]
    colours = (
        [p.utility if p.utility is not None else float("nan") for p in shown] if result.utility_benchmark else None
    )
    colouring: dict[str, Any] = (
        {"c": colours, "cmap": "viridis", "vmin": 0.0, "vmax": 1.0} if colours is not None else {}
    )
    scatter = axes.scatter(
        _floats(p.sra_u for p in shown), _floats(p.sra_s for p in shown), s=36, zorder=2, **colouring
    )
    if colours is not None:
        figure.colorbar(scatter, ax=axes, label=result.utility_axis)
    on = {p.key for p in result.frontier}
    ringed = [p for p in shown if p.key in on]
    axes.scatter(_floats(p.sra_u for p in ringed), _floats(p.sra_s for p in ringed), s=140, facecolors="none", edgecolors="crimson",
                 linewidths=1.5, zorder=3, label="frontier")  # fmt: skip
    for p in shown:
        text = (
            "baseline" if p.is_baseline else f"L{p.layer} x{p.strength:g}" + ("" if p.gate == "none" else f" {p.gate}")
        )
        axes.annotate(text, (p.sra_u or 0, p.sra_s or 0), fontsize=7, xytext=(4, 3), textcoords="offset points")
    axes.set_xlabel("SRA_u (unsafe queries refused)")
    axes.set_ylabel("SRA_s (safe queries answered)")
    axes.set_xlim(-0.05, 1.05)
    axes.set_ylim(-0.05, 1.05)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    axes.set_title(f"IAR sweep of {result.model}", fontsize=10)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)
    return target


def _floats(values: Iterable[float | None]) -> list[float]:
    """Figures for a plot axis; an undefined one is drawn nowhere (NaN)."""
    return [float("nan") if value is None else value for value in values]
