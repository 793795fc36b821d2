"""`vscbench steer extract|show`: IAR steering vectors for local models."""

from __future__ import annotations

from pathlib import Path

import typer

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, print_json

steer_app = typer.Typer(
    help="Activation steering (IAR): extract steering vectors from contrastive answers, inspect them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(steer_app, name="steer", rich_help_panel="Calibration")


def _summary(vectors, path: Path) -> dict:
    return {
        "file": str(path),
        "sha256": vectors.sha256,
        "model": vectors.meta.get("model"),
        "layers": vectors.layers,
        "vector_norms": {str(k): round(v, 6) for k, v in vectors.vector_norms.items()},
        "activation_norms": {str(k): round(v, 6) for k, v in vectors.activation_norms.items()},
        "probes": {str(k): p.train_accuracy for k, p in vectors.probes.items()},
        **{key: vectors.meta.get(key) for key in ("token_rule", "vector_from", "n_items", "n_safe", "n_unsafe", "seed", "source", "data_sha256")},
    }


def _print_summary(summary: dict) -> None:
    console.print(f"[bold]{summary['file']}[/bold]  sha256 {summary['sha256'][:16]}…", highlight=False)
    console.print(f"  model {summary['model']}, token rule {summary['token_rule']}, {summary['n_items']} items", highlight=False)
    for layer in summary["layers"]:
        norm, scale = summary["vector_norms"][str(layer)], summary["activation_norms"][str(layer)]
        probe = summary["probes"].get(str(layer))
        probe_text = f", probe train accuracy {probe:.2f}" if probe is not None else ""
        console.print(
            f"  block {layer:3d}: |v| {norm:.4g}, mean |h| {scale:.4g} (alpha 1 adds {norm / scale:.3f} of |h|){probe_text}",
            highlight=False,
        )


@steer_app.command("extract")
def extract(
    model: str = typer.Option(..., "--model", help="Local checkpoint folder (hf:PATH also accepted)."),
    data: Path = typer.Option(..., "--data", help="Contrastive JSONL: query, safe_response, unsafe_response, image?, id?, query_label?"),
    layers: str = typer.Option("14", help="0-indexed text decoder blocks; fractions of depth allowed: '9,14,0.5'."),
    out: Path = typer.Option(..., "--out", help="Vector file to write (.safetensors)."),
    exclude_ids: Path | None = typer.Option(None, "--exclude-ids", help="Ids of evaluated samples (one a line, or a samples JSONL); overlap is refused."),
    token_rule: str = typer.Option("last", help="Which token: last (of prompt+response), response_mean, prompt_last."),
    vector_from: str = typer.Option("unsafe_queries", help="Items averaged: unsafe_queries (IAR) or all."),
    probe: str = typer.Option("auto", help="Fit a gating probe: auto (if both query labels occur twice), on, off."),
    batch_size: int = typer.Option(4, help="Items per forward pass (each item makes two rows)."),
    max_image_side: int = typer.Option(1024, help="Images are downscaled so their longer side is at most this."),
    seed: int = typer.Option(0, help="Seed recorded with the vector (probe fitting)."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda if available)."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Extract IAR steering vectors (mean safe minus mean unsafe activation) and save them.

    The layer is a 0-indexed block of the TEXT decoder (its output is hidden_states[layer + 1]).

    Example: [bold]vscbench steer extract --model ./llava-1.5-7b-hf --data contrastive.jsonl --layers 14 --out iar.safetensors[/bold]
    """
    from vscbench.methods.steering import (
        TOKEN_RULES,
        ContrastiveDataError,
        LayerError,
        extract_to_file,
        read_vectors,
    )

    if token_rule not in TOKEN_RULES:
        fail(f"--token-rule must be one of {', '.join(TOKEN_RULES)}, got {token_rule!r}")
    if vector_from not in ("unsafe_queries", "all"):
        fail(f"--vector-from must be unsafe_queries or all, got {vector_from!r}")
    probe_modes = {"auto": "auto", "on": True, "off": False}
    if probe not in probe_modes:
        fail(f"--probe must be auto, on or off, got {probe!r}")
    if exclude_ids is not None and not exclude_ids.is_file():
        fail(f"--exclude-ids file {exclude_ids} does not exist")
    try:
        extract_to_file(
            model, data, layers, out, exclude_ids_path=exclude_ids, device=device, token_rule=token_rule,
            vector_from=vector_from, probe=probe_modes[probe], batch_size=batch_size,
            max_image_side=max_image_side, seed=seed,
        )
    except (ContrastiveDataError, LayerError, FileNotFoundError) as exc:
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
    """Show what a vector file holds: model, layers, norms, probe, data hash.

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
    model: str = typer.Option(..., "--model", help="Local checkpoint: hf:PATH (or a bare folder)."),
    data: Path = typer.Option(..., "--data", help="VSCBench release folder, or a .jsonl/.parquet export of samples."),
    vector: Path = typer.Option(..., "--vector", help="Vector file from `vscbench steer extract`."),
    layers: str = typer.Option("14", help="0-indexed text blocks and depth fractions: '9,14,0.5'."),
    strengths: str = typer.Option("1.0,1.5", help="Steering strengths: '0,1.0,1.5' (0 is the unsteered model)."),
    limit: int | None = typer.Option(200, help="Stratified safety subset of N samples (equal share per subset and label)."),
    subset: str = typer.Option("all", help="image_centric, text_centric or all."),
    utility: str | None = typer.Option(None, "--utility", help="Also measure utility: pope or scienceqa."),
    utility_data: Path | None = typer.Option(None, "--utility-data", help="Local parquet/jsonl/saved dataset of the utility benchmark."),
    utility_limit: int | None = typer.Option(100, help="Stratified utility subset of N samples."),
    judge: str = typer.Option("offline", "--judge", help="Safety judge: offline, keyword, vote:offline,keyword."),
    store_path: Path = typer.Option(Path("vscbench-runs") / "store.sqlite", "--store", help="SQLite store; every point is cached there."),
    max_tokens: int = typer.Option(128, help="Most tokens per answer."),
    batch_size: int = typer.Option(8, help="Prompts per generate call."),
    seed: int = typer.Option(0, help="Seed of the stratified subsets."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda if available)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Sweep IAR layer x strength: run, judge and score each setting, then show the safety/utility frontier.

    Each point is a cached run named MODEL-sweep-iar-lL-sA; re-running skips finished points.
    The frontier keeps settings no other beats on both SRA_u (safety) and utility (the
    --utility figure, or SRA_s without it).

    Example: [bold]vscbench steer sweep --model hf:./llava-1.5-7b-hf --data ./vscbench-data --vector iar.safetensors --layers 9,14,0.5 --strengths 1.0,1.5 --utility pope --utility-data pope.parquet[/bold]
    """
    from rich.table import Table

    from vscbench.benchmarks.findings import DatasetError
    from vscbench.experiment_inputs import ExperimentError, load_pool
    from vscbench.judges.registry import JudgeSpecError, get_judge
    from vscbench.methods.plan import MethodSpecError
    from vscbench.methods.steering.sweep_run import sweep
    from vscbench.models.base import ModelSpec, ModelSpecError, load_model
    from vscbench.requests import select_samples
    from vscbench.schema import GenerationConfig
    from vscbench.store import Store

    if subset not in ("all", "image_centric", "text_centric"):
        fail(f"--subset {subset!r} is not one of image_centric, text_centric, all")
    if utility is not None and utility not in ("pope", "scienceqa"):
        fail(f"--utility must be pope or scienceqa, not {utility!r}")
    if utility_data is not None and utility is None:
        fail("--utility-data needs --utility pope or --utility scienceqa")
    if not vector.is_file():
        fail(f"vector file {vector} does not exist; make one with `vscbench steer extract`")
    try:
        get_judge(judge)
    except JudgeSpecError as exc:
        fail(str(exc))
    spec_text = model if model.startswith("hf:") else f"hf:{model}"
    try:
        pool = load_pool("vscbench", str(data), subset)
    except ExperimentError as exc:
        fail(str(exc))
    samples = select_samples(pool.samples, subset, limit=limit, seed=seed)
    if not samples:
        fail(f"no sample of {data} matches --subset {subset}")
    utility_samples = None
    if utility is not None:
        from vscbench.utility.loader import load_utility

        try:
            utility_samples = load_utility(utility, utility_data, limit=utility_limit, seed=seed).samples
        except (DatasetError, ValueError, OSError) as exc:
            fail(f"--utility {utility}: {exc}")
        if not utility_samples:
            fail(f"--utility {utility}: no usable sample in {utility_data}")
    try:
        loaded = load_model(ModelSpec.parse(spec_text), device=device, batch_size=batch_size)
    except (ModelSpecError, OSError) as exc:
        fail(str(exc))
    config = GenerationConfig(max_tokens=max_tokens, seed=seed)

    def show_progress(point) -> None:
        if not json_output:
            console.print(f"  block {point.layer} strength {point.strength:g}: {point.sent} generated, "
                          f"{point.cached} cached", highlight=False)  # fmt: skip

    with Store(store_path) as store:
        try:
            result = sweep(loaded, samples, store, vector, layers, strengths, judge=judge, utility_samples=utility_samples,
                           config=config, data_label=str(data), on_point=show_progress)  # fmt: skip
        except (MethodSpecError, ValueError) as exc:
            fail(str(exc))
    if json_output:
        print_json(result.to_dict())
        return

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    on_frontier = {(p.layer, p.strength) for p in result.frontier}
    utility_name = result.utility_axis if result.utility_benchmark else "utility"
    table = Table(title=f"IAR sweep of {result.model} ({result.samples} safety samples, judge {result.judge})")
    for column in ("layer", "strength", "SRA_s", "SRA_u", "SRA_a", utility_name, "frontier"):
        table.add_column(column, justify="right")
    for point in result.points:
        table.add_row(str(point.layer), f"{point.strength:g}", cell(point.sra_s), cell(point.sra_u), cell(point.sra_a),
                      cell(point.utility), "*" if (point.layer, point.strength) in on_frontier else "")  # fmt: skip
    console.print(table)
    frontier = ", ".join(f"block {p.layer} x {p.strength:g}" for p in result.frontier) or "none (no scored point)"
    console.print(f"Safety (SRA_u) / {result.utility_axis} frontier: {frontier}", highlight=False)
