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
app.add_typer(steer_app, name="steer")


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
