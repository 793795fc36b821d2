"""The main job in one call: data -> model run -> judge -> SRA figures.

On a fresh machine with internet it downloads the benchmark metadata, renders the text-centric
attack images that can be rendered (typography, FigStep; concat needs the search photos of the
image archive), runs a small local VLM on a stratified sample of both subsets, judges the
answers (offline judge, or an LLM judge when an OpenAI key is set) and scores them. Offline,
with ``data`` and ``model`` pointing at local files, the same call works end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.benchmarks.findings import DatasetError
from vscbench.judges.registry import LLM_JUDGE_WHEN_KEYED, default_judge  # noqa: F401  (part of this API)
from vscbench.locations import DEFAULT_STORE
from vscbench.scoring.metrics import ScoreReport
from vscbench.store import Store

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


def check_model_reachable(model: str, timeout: float = 3.0) -> None:
    """Fail in seconds, not after minutes of hub retries, when an ``hf:`` hub model is neither
    cached nor downloadable (offline mode, or the hub does not answer)."""
    from vscbench.experiment import ExperimentError

    provider, _, name = model.partition(":")
    if provider not in ("hf", "vllm") or Path(name).expanduser().exists() or name.count("/") != 1:
        return
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return  # the backend's own import error is clearer
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    hint = "pass a local folder with --model hf:PATH, or see the whole pipeline offline with `vscbench demo`"
    if constants.HF_HUB_OFFLINE:
        raise ExperimentError(f"{name} is not in the local model cache and HF_HUB_OFFLINE is set; {hint}")
    import httpx

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ExperimentError(
            f"cannot download {name}: {constants.ENDPOINT} does not answer ({type(exc).__name__}); {hint}"
        ) from None


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
    preset: str | None = None,
) -> QuickstartResult:
    """Run the whole pipeline on a stratified sample and return the scores.

    The run itself is :func:`vscbench.experiment.run_experiment`: quickstart only prepares the
    data, names the run and writes the report. ``progress`` is a progress factory (run name ->
    callback), as :func:`run_experiment` takes.
    """
    from vscbench.benchmarks.samples import load_samples
    from vscbench.engine.runner import default_run_name
    from vscbench.experiment import Experiment, apply_preset, run_experiment
    from vscbench.experiment.inputs import check_access
    from vscbench.judges.registry import describe_default
    from vscbench.scoring.runs import run_labels

    notes: list[str] = []
    check_model_reachable(model)
    check_access([model], [judge] if judge else [])  # before anything is fetched, rendered or said to run
    root = prepare_data(data, say)
    loaded = load_samples(root, warn=False)
    if loaded.report.unusable:
        notes.append(
            f"{len(loaded.report.unusable)} samples of {root} cannot be asked (missing prompts or images); "
            f"`vscbench data check {root}` lists them"
        )
    subsets = sorted({s.subset for s in loaded.samples})
    if not loaded.samples:
        raise DatasetError(f"{root} holds no sample that can be asked; run `vscbench data check {root}`")
    if "image_centric" not in subsets:
        notes.append(
            "no image-centric images are present, so only the text-centric subset is scored; "
            f"`vscbench data fetch --dest {root}` downloads the image archive"
        )
    settings: dict[str, Any] = {
        "models": [model], "data": str(root), "limit": limit, "store": str(store_path),
        "run_name": run_name or f"quickstart-{default_run_name(model)}", "generation": {"max_tokens": max_tokens},
        "execution": {"concurrency": concurrency},
    }  # fmt: skip
    if preset is not None:
        settings["preset"] = preset
        settings.pop("generation")
    if judge is not None or preset is None:
        settings["judges"] = [judge or default_judge()]
        if judge is None:
            say(describe_default(settings["judges"][0]))
    experiment = apply_preset(Experiment.from_options(**settings))
    check_access(experiment.models, experiment.judging.judges)  # a preset's judge too
    say(f"running {model} on up to {limit} samples ({', '.join(subsets)}) ...")
    result = run_experiment(experiment, progress=progress, say=say)
    outcome = result.runs[0]
    judge_name = outcome.judged[0].judge if outcome.judged else ""
    written = None
    with Store(store_path) as store:
        if html is not None and judge_name:
            from vscbench.report.html import write_html

            scored, labels, responses = run_labels(store, outcome.run, judge_name)
            written = write_html(html, outcome.score, scored, labels=labels, responses=responses)
    return QuickstartResult(
        data=root, store=store_path, run=outcome.run, judge=judge_name, report=outcome.score, html=written,
        notes=notes + result.notes, run_summary=outcome.summary.to_dict(),
    )  # fmt: skip
