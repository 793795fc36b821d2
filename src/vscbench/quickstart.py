"""The main job in one call: data -> model run -> judge -> SRA figures.

On a fresh machine with internet it downloads the benchmark metadata, renders the text-centric
attack images that can be rendered (typography, FigStep; concat needs the search photos of the
image archive), runs a small local VLM on a stratified sample of both subsets, judges the
answers (offline judge, or an LLM judge when an OpenAI key is set) and scores them. Offline,
with ``data`` and ``model`` pointing at local files, the same call works end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vscbench.benchmarks.findings import DatasetError
from vscbench.judges.base import judge_key
from vscbench.judges.registry import LLM_JUDGE_WHEN_KEYED, default_judge  # noqa: F401  (part of this API)
from vscbench.locations import DEFAULT_STORE
from vscbench.metrics import ScoreReport

#: Small enough for a CPU (0.9 B parameters), and its processor needs no torchvision, unlike
#: SmolVLM's, whose video processor does.
DEFAULT_MODEL = "hf:llava-hf/llava-interleave-qwen-0.5b-hf"
DEFAULT_DATA = Path("vscbench-data")

Say = Callable[[str], None]


@dataclass
class QuickstartResult:
    data: Path
    store: Path
    run: str
    judge: str
    report: ScoreReport
    html: Path | None
    notes: list[str] = field(default_factory=list)
    run_summary: dict[str, Any] = field(default_factory=dict)


def prepare_data(data: Path | None, say: Say) -> Path:
    """A release folder to run on: the given one, or the metadata fetched into ./vscbench-data
    with the renderable images built."""
    from vscbench.benchmarks.vscbench import is_release

    if data is not None:
        if not data.exists():
            raise DatasetError(f"--data {data} does not exist; leave it out to download the benchmark metadata")
        return data
    root = DEFAULT_DATA
    if not is_release(root):
        from vscbench.fetch.release import default_sources, fetch_release

        say(f"downloading the VSCBench metadata into {root} ...")
        fetch_release(root, default_sources(images=False))
    from vscbench.render.build import build_release_images

    say("rendering the typography and FigStep images that are missing ...")
    built = build_release_images(root, variants=("typography", "figstep"))
    say(built.summary())
    return root


def quickstart(
    model: str = DEFAULT_MODEL,
    data: Path | None = None,
    limit: int = 40,
    store_path: Path = DEFAULT_STORE,
    judge: str | None = None,
    run_name: str | None = None,
    html: Path | None = Path("vscbench-report.html"),
    max_tokens: int = 128,
    concurrency: int = 8,
    say: Say = print,
    progress=None,
) -> QuickstartResult:
    """Run the whole pipeline on a stratified sample and return the scores."""
    from vscbench.benchmarks.samples import load_samples
    from vscbench.evaluate import judge_run, run_labels
    from vscbench.judges.registry import get_judge
    from vscbench.metrics import score
    from vscbench.models.base import load_model
    from vscbench.requests import select_samples
    from vscbench.runner import default_run_name, run_samples_sync
    from vscbench.schema import GenerationConfig, RunSpec
    from vscbench.store import Store

    notes: list[str] = []
    root = prepare_data(data, say)
    loaded = load_samples(root, warn=False)
    if loaded.report.unusable:
        notes.append(
            f"{len(loaded.report.unusable)} samples of {root} cannot be asked (missing prompts or images); "
            f"`vscbench data check {root}` lists them"
        )
    subsets = sorted({s.subset for s in loaded.samples})
    if "image_centric" not in subsets:
        notes.append(
            "no image-centric images are present, so only the text-centric subset is scored; "
            f"`vscbench data fetch --dest {root}` downloads the image archive"
        )
    samples = select_samples(loaded.samples, limit=limit)
    if not samples:
        raise DatasetError(f"{root} holds no sample that can be asked; run `vscbench data check {root}`")
    config = GenerationConfig(max_tokens=max_tokens)
    name = run_name or f"quickstart-{default_run_name(model)}"
    judge_spec = judge or default_judge()
    say(f"running {model} on {len(samples)} samples ({', '.join(subsets)}) ...")
    with Store(store_path) as store:
        backend = load_model(model)
        spec = RunSpec(name=name, model=str(backend.spec), data=str(root), limit=limit, config=config)
        summary = run_samples_sync(
            backend, samples, store, run_name=name, config=config, concurrency=concurrency, spec=spec,
            progress=progress,
        )  # fmt: skip
        say(f"judging the answers with the {judge_spec} judge ...")
        judge_options = {"store": store} if ":" in judge_spec else {}
        judge_obj = get_judge(judge_spec, **judge_options)
        judge_run(store, name, judge_obj)
        judge_name = judge_key(judge_obj)
        scored, labels, responses = run_labels(store, name, judge_name)
        report = score(scored, labels)
        written = None
        if html is not None:
            from vscbench.report.html import write_html

            written = write_html(html, report, scored, labels=labels, responses=responses)
    return QuickstartResult(
        data=root, store=store_path, run=name, judge=judge_name, report=report, html=written, notes=notes,
        run_summary=summary.to_dict(),
    )  # fmt: skip
