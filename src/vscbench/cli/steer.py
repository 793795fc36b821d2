"""`vscbench steer build-data|extract|show|sweep`: IAR steering for local models, from data to frontier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vscbench.cli.app import app
from vscbench.cli.common import MAX_TOKENS_HELP, console, err_console, fail, max_tokens_or_default, plain, print_json
from vscbench.locations import DEFAULT_STORE

steer_app = typer.Typer(
    help="Activation steering (IAR): build contrastive data from the benchmark, extract vectors, inspect them, sweep.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(steer_app, name="steer", rich_help_panel="Calibration")


def _summary(vectors: Any, path: Path) -> dict[str, Any]:
    return {
        "file": str(path), "sha256": vectors.sha256, "model": vectors.meta.get("model"), "layers": vectors.layers,
        "vector_norms": {str(k): round(v, 6) for k, v in vectors.vector_norms.items()},
        "activation_norms": {str(k): round(v, 6) for k, v in vectors.activation_norms.items()},
        "probes": {str(k): p.train_accuracy for k, p in vectors.probes.items()},
        "conditions": {str(k): c.to_meta() for k, c in vectors.conditions.items()},
        "guard": {"questions": len(vectors.guard.texts), "images": len(vectors.guard.images),
                  "rows": len(vectors.guard.rows), "split": vectors.guard.split},
        **{key: vectors.meta.get(key) for key in ("token_rule", "vector_from", "n_items", "n_safe", "n_unsafe", "seed",
                                                 "source", "data_sha256")},
    }  # fmt: skip


def _print_summary(summary: dict[str, Any]) -> None:
    console.print(f"[bold]{plain(summary['file'])}[/bold]  sha256 {summary['sha256'][:16]}…", highlight=False)
    console.print(f"  model {plain(summary['model'])}, token rule {summary['token_rule']}, {summary['n_items']} items",
                  highlight=False)  # fmt: skip
    for layer in summary["layers"]:
        norm, scale = summary["vector_norms"][str(layer)], summary["activation_norms"][str(layer)]
        probe, condition = summary["probes"].get(str(layer)), summary["conditions"].get(str(layer))
        extra = f", probe train accuracy {probe:.2f}" if probe is not None else ""
        if condition is not None:
            extra += f", condition threshold {condition['threshold']:.3f} (balanced accuracy {condition['balanced_accuracy']:.2f})"
        console.print(f"  block {layer:3d}: |v| {norm:.4g}, mean |h| {scale:.4g} (alpha 1 adds {norm / scale:.3f} of |h|){extra}",
                      highlight=False)  # fmt: skip
    guard = summary["guard"]
    console.print(f"  guard: {guard['questions']} questions, {guard['images']} images, {guard['rows']} benchmark rows kept out "
                  f"of evaluation (split {plain(guard['split'] or 'none: user data')})", highlight=False)  # fmt: skip


@steer_app.command("build-data")
def build_data(
    data: str = typer.Option(
        ..., "--data", "-d", help="VSCBench release folder, or a .jsonl/.parquet samples file of your own."
    ),
    model: str = typer.Option(
        ..., "--model", "-m", help="Whose answers to collect: hf:PATH_OR_ID (the model you will steer), or any spec."
    ),
    out: Path = typer.Option(
        Path("contrastive.jsonl"),
        "--out",
        "-o",
        help="Items to write; the split record goes next to it (NAME.split.json).",
    ),
    holdout_split: str = typer.Option(
        "fraction=0.2,seed=0",
        "--holdout-split",
        help="Share of prompt-row groups held out for steering data, and its seed.",
    ),
    exclude_run: list[str] | None = typer.Option(
        None, "--exclude-run", help="An evaluation run in --store whose rows the split must not take (repeatable)."
    ),
    subset: str = typer.Option("all", help="image_centric, text_centric or all."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", help="Ask at most N held-out samples (stratified, twins together)."
    ),
    samples: int = typer.Option(2, help="Sampled answers per request, besides the plain and the safety-prompt one."),
    temperature: float = typer.Option(0.8, help="Temperature of the sampled answers."),
    max_tokens: int | None = typer.Option(None, help=MAX_TOKENS_HELP),
    judge: str = typer.Option(
        "offline", "--judge", "-j", help="Judge of the answers: offline, keyword, an LLM judge spec."
    ),
    fill_refusals: bool = typer.Option(
        False,
        "--fill-refusals",
        help="Pair a compliance the model never refused with a written refusal (marked 'reference').",
    ),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store: the answers are cached there."),
    device: str | None = typer.Option(None, help="hf: device (cpu, cuda, ...)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="hf: requests per generate call."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Contrastive data from the benchmark: the model's own answers on held-out rows, judged and paired.

    Holds out a seeded share of prompt-row groups (rows, their twins, and rows sharing a
    question or an image), asks the model each held-out sample plainly, with the safety
    prompt and by sampling, judges the answers, and pairs refused with complied answers to the
    same request. The split is recorded; runs steering with vectors from this data leave its
    rows out, and refuse any other sample that shares a question or an image with it.

    Example: [bold]vscbench steer build-data --data ./vscbench-data --model hf:llava-hf/llava-1.5-7b-hf --limit 400 --out contrastive.jsonl[/bold]
    """
    from vscbench.store import Store
    from vscbench.workflows.steer_data import build_contrastive

    try:
        with Store(store_path) as store:
            pool, exclude, loaded = _build_inputs(data, model, subset, exclude_run or [], store, device, batch_size)
            result = build_contrastive(loaded, pool, store, out, split=holdout_split, exclude=exclude, limit=limit,
                                       samples=samples, temperature=temperature, max_tokens=max_tokens_or_default(max_tokens), judge=judge,
                                       fill_refusals=fill_refusals, data_label=data,
                                       say=None if json_output else lambda text: err_console.print(plain(text)))  # fmt: skip
    except (ValueError, LookupError, OSError) as exc:
        fail(str(exc))
    if json_output:
        print_json(result.to_dict())
        return
    console.print(f"{result.items} contrastive items ({result.by_label['unsafe']} unsafe requests, {result.by_label['safe']} safe) "
                  f"from {result.asked} held-out samples -> {plain(result.out)}; split record {plain(result.record)}", highlight=False)  # fmt: skip
    missing = sum(result.no_contrast.values())
    if missing:
        err_console.print(f"{missing} request(s) were only ever answered one way and give no item "
                          f"(safe {result.no_contrast['safe']}, unsafe {result.no_contrast['unsafe']})", highlight=False)  # fmt: skip
    if result.items == 0:
        fail(
            "no item was built: ask more samples (--limit, --samples) or use --fill-refusals for a model that never refuses"
        )


def _build_inputs(data: str, model: str, subset: str, runs: list[str], store: Any, device: str | None,
                  batch_size: int | None) -> tuple[list[Any], list[Any], Any]:  # fmt: skip
    """The benchmark's samples, the samples of the runs to keep out, and the loaded model."""
    from vscbench.experiment.inputs import load_pool
    from vscbench.judges.runs import require_run
    from vscbench.models.base import ModelSpec, load_model

    if subset not in ("all", "image_centric", "text_centric"):
        fail(f"--subset {subset!r} is not one of image_centric, text_centric, all")
    pool = [s for s in load_pool("vscbench", data, subset).samples if subset == "all" or s.subset == subset]
    exclude = []
    for run in runs:
        require_run(store, run)
        exclude += [sample for sample, _ in store.run_items(run)]
    spec = ModelSpec.parse(model)
    options = {
        k: v for k, v in {"device": device, "batch_size": batch_size}.items() if v is not None and spec.provider == "hf"
    }
    return pool, exclude, load_model(spec, **options)


@steer_app.command("extract")
def extract(
    model: str = typer.Option(..., "--model", "-m", help="hf:HUB_ID or hf:PATH (a bare id or folder also works)."),
    data: Path = typer.Option(
        ...,
        "--data",
        "-d",
        help="Contrastive JSONL (from `steer build-data`, or your own: query, safe_response, unsafe_response, image?, query_label?).",
    ),
    layers: str = typer.Option(
        "14", help="0-indexed text decoder blocks: a list, ranges and depth fractions: '14', '8-20', '9,14,0.5'."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Vector file to write (.safetensors)."),
    exclude_ids: Path | None = typer.Option(
        None, "--exclude-ids", help="Ids of evaluated samples (one a line, or a samples JSONL); overlap is refused."
    ),
    token_rule: str = typer.Option("last", help="Which token: last (of prompt+response), response_mean, prompt_last."),
    vector_from: str = typer.Option("unsafe_queries", help="Items averaged: unsafe_queries (IAR) or all."),
    probe: str = typer.Option(
        "auto", help="Fit the gates (probe and condition vector): auto (if both query labels occur twice), on, off."
    ),
    batch_size: int = typer.Option(4, help="Items per forward pass (each item makes two rows)."),
    max_image_side: int = typer.Option(1024, help="Images are downscaled so their longer side is at most this."),
    seed: int = typer.Option(0, help="Seed recorded with the vector (probe fitting)."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda if available)."),
    dtype: str | None = typer.Option(None, help="float32, float16, bfloat16 (default: bf16 on CUDA, fp32 on CPU)."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Extract IAR steering vectors (mean safe minus mean unsafe activation), gates and guard, and save them.

    The layer is a 0-indexed block of the TEXT decoder (its output is hidden_states[layer + 1]).
    Layers, data and options are checked against the checkpoint's config before any weight loads.

    Example: [bold]vscbench steer extract --model hf:llava-hf/llava-1.5-7b-hf --data contrastive.jsonl --layers 8-20 --out iar.safetensors[/bold]
    """
    from vscbench.methods.steering import TOKEN_RULES, extract_to_file, read_vectors

    probe_modes = {"auto": "auto", "on": True, "off": False}
    for value, allowed, name in ((token_rule, TOKEN_RULES, "--token-rule"), (vector_from, ("unsafe_queries", "all"), "--vector-from"),
                                 (probe, tuple(probe_modes), "--probe")):  # fmt: skip
        if value not in allowed:
            fail(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if exclude_ids is not None and not exclude_ids.is_file():
        fail(f"--exclude-ids file {exclude_ids} does not exist")
    try:
        extract_to_file(model, data, layers, out, exclude_ids_path=exclude_ids, device=device, dtype=dtype,
                        token_rule=token_rule, vector_from=vector_from, probe=probe_modes[probe], batch_size=batch_size,
                        max_image_side=max_image_side, seed=seed)  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:  # ContrastiveDataError, LayerError, ModelSpecError
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot load {model!r} as an image-text-to-text model with its processor: {exc}")
    summary = _summary(read_vectors(out), out)
    print_json(summary) if json_output else _print_summary(summary)


@steer_app.command("show")
def show(
    path: Path = typer.Argument(..., help="Vector file written by `vscbench steer extract`."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Show what a vector file holds: model, layers, norms, gates, guard, data hash.

    Example: [bold]vscbench steer show iar.safetensors --json[/bold]
    """
    from vscbench.methods.steering import VectorFileError, read_vectors

    try:
        vectors = read_vectors(path)
    except VectorFileError as exc:
        fail(str(exc))
    summary = _summary(vectors, path)
    print_json(summary) if json_output else _print_summary(summary)


@steer_app.command("sweep")
def sweep_command(
    model: str = typer.Option(..., "--model", "-m", help="Local checkpoint: hf:PATH_OR_ID (or a bare folder)."),
    data: str = typer.Option(
        ..., "--data", "-d", help="VSCBench release folder, or a .jsonl/.parquet export of samples."
    ),
    vector: Path = typer.Option(..., "--vector", help="Vector file from `vscbench steer extract`."),
    layers: str = typer.Option("14", help="0-indexed text blocks: '14', '8-20', '9,14,0.5'."),
    strengths: str = typer.Option(
        "1.0,1.5", help="Steering strengths: '0,1.0,1.5' (0 is the unsteered baseline, generated once)."
    ),
    gates: str = typer.Option("none", help="Gates to try: none, probe, condition (comma-separated)."),
    limit: int | None = typer.Option(
        200,
        "--limit",
        "-n",
        help="Stratified safety subset of N samples (each subset and label in proportion to its size).",
    ),
    subset: str = typer.Option("all", help="image_centric, text_centric or all."),
    utility: str | None = typer.Option(None, "--utility", help="Also measure utility: pope or scienceqa."),
    utility_data: str | None = typer.Option(
        None, "--utility-data", help="Local parquet/jsonl/saved dataset of the utility benchmark."
    ),
    utility_limit: int | None = typer.Option(100, help="Stratified utility subset of N samples."),
    judge: str = typer.Option("offline", "--judge", "-j", help="Safety judge: offline, keyword, vote:offline,keyword."),
    store_path: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite store; every point is cached there."),
    max_tokens: int | None = typer.Option(None, help=MAX_TOKENS_HELP),
    batch_size: int = typer.Option(8, help="Prompts per generate call."),
    seed: int = typer.Option(0, help="Seed of the stratified subsets."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda if available)."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Draw SRA_s against SRA_u (colour: utility), frontier ringed, to this PNG."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Sweep IAR layer x strength x gate: one baseline, every point judged and scored, and the frontier.

    The unsteered baseline is generated once for the whole grid; every point is a cached run,
    so re-running skips finished points. The frontier keeps the settings no other beats on
    SRA_s, SRA_u and utility (the --utility figure) together.

    Example: [bold]vscbench steer sweep --model hf:./llava-1.5-7b-hf --data ./vscbench-data --vector iar.safetensors --layers 8-20 --strengths 1.0,1.5 --gates none,condition --utility pope --utility-data pope.parquet[/bold]
    """
    from vscbench.cli.progress import experiment_progress
    from vscbench.workflows.sweep import SweepSettings, draw_sweep, run_sweep

    if not vector.is_file():
        fail(f"vector file {vector} does not exist; make one with `vscbench steer extract`")
    options = {"batch_size": batch_size, **({"device": device} if device else {})}
    settings = SweepSettings(model=model, data=data, vector=str(vector), layers=layers, strengths=strengths,
                             gates=tuple(g.strip() for g in gates.split(",") if g.strip()), subset=subset, limit=limit,
                             seed=seed, judge=judge, store=str(store_path), max_tokens=max_tokens_or_default(max_tokens), utility=utility,
                             utility_data=utility_data, utility_limit=utility_limit, model_options=options)  # fmt: skip
    say = None if json_output else lambda text: err_console.print(plain(text))
    try:
        result = run_sweep(settings, progress=experiment_progress(quiet=json_output), say=say)
    except (
        ValueError,
        LookupError,
        OSError,
    ) as exc:  # MethodSpecError, ExperimentError, JudgeSpecError, ModelSpecError
        fail(str(exc))
    if plot is not None:
        draw_sweep(result, plot)
    print_json(result.to_dict()) if json_output else _print_sweep(result, plot)


def _print_sweep(result: Any, plot: Path | None) -> None:
    from rich import box
    from rich.table import Table

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    on_frontier = {p.key for p in result.frontier}
    title = f"IAR sweep of {plain(result.model)} ({result.samples} safety samples, judge {plain(result.judge)})"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    utility = result.utility_axis if result.utility_benchmark else "utility"
    for column in ("block", "alpha", "gate", "sent", "SRA_s", "SRA_u", "SRA_a", utility, "pareto"):
        table.add_column(column, justify="left" if column == "gate" else "right", no_wrap=True)
    for point in [result.baseline, *(p for p in result.points if p.strength != 0)]:  # strength 0 is the baseline
        table.add_row("base" if point.is_baseline else str(point.layer), f"{point.strength:g}", point.gate,
                      str(point.sent), cell(point.sra_s), cell(point.sra_u), cell(point.sra_a), cell(point.utility),
                      "*" if point.key in on_frontier else "")  # fmt: skip
    console.print(table)
    frontier = ", ".join("baseline" if p.is_baseline else f"block {p.layer} x {p.strength:g}" + ("" if p.gate == "none" else f" ({p.gate})")
                         for p in result.frontier) or "none (no scored point)"  # fmt: skip
    console.print(f"Frontier on {' / '.join(result.objectives)}: {frontier}", highlight=False)
    if result.held_out:
        console.print(
            f"{result.held_out} sample(s) left out of every run: the steering data's split holds their rows.",
            highlight=False,
        )
    if plot is not None:
        console.print(f"plot written: {plain(plot)}", highlight=False)
