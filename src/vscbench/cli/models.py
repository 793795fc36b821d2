"""`vscbench models families`: the open model families ``hf:`` is verified with, and what each needs."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from vscbench.cli.app import app
from vscbench.cli.common import console, err_console, plain, print_json

models_app = typer.Typer(
    help="Local models (hf:): the families verified, their decoder layout for steering, and their options.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(models_app, name="models", rich_help_panel="Start here")


def families_report() -> dict[str, Any]:
    """Every verified family with the classes the installed transformers has for its model types."""
    from vscbench.models.hf_families import FAMILIES, VERIFIED_TRANSFORMERS, installed_transformers

    installed = installed_transformers()
    rows = []
    for family in FAMILIES:
        record = family.to_dict()
        record["classes"] = {model_type: _classes(model_type, installed) for model_type in family.model_types}
        rows.append(record)
    return {"verified_with_transformers": VERIFIED_TRANSFORMERS, "installed_transformers": installed, "families": rows}


def _classes(model_type: str, installed: str | None) -> dict[str, str | None]:
    if installed is None:
        return {"model": None, "processor": None}
    from vscbench.models.hf_families import transformers_classes

    model, processor = transformers_classes(model_type)
    return {"model": model, "processor": processor}


@models_app.command("families")
def families(
    json_output: bool = typer.Option(False, "--json", help="Print every field as JSON on stdout."),
) -> None:
    """List the model families hf: is verified with: model types, where steering finds the text decoder
    blocks, how the chat template takes a system prompt, -M options, native checkpoints.

    Each family was verified by building a tiny random model of it from a config (no download)
    and running `vscbench run --batch-size 4` and `vscbench steer extract` on it, batched answers
    equal to one-by-one answers. A model type not listed still runs through its own processor and
    chat template; steering then accepts its decoder blocks only where exactly one list fits.

    Example: [bold]vscbench models families --json | jq '.families[].decoder_paths[0]'[/bold]
    """
    report = families_report()
    if json_output:
        print_json(report)
        return
    title = f"Families verified with transformers {report['verified_with_transformers']} (tiny random models, CPU)"
    table = Table(title=title, show_lines=True)
    for column in ("family", "model types", "decoder blocks (steering)", "system", "options (none required)"):
        table.add_column(column, overflow="fold")
    for family in report["families"]:
        types = "\n".join(
            model_type + ("" if classes["model"] else " (missing in this transformers)")
            for model_type, classes in family["classes"].items()
        )
        system = "1 text part" if family["system"] == "one_text" else "turn"
        options = "\n".join(family["options"]) or "none needed"
        table.add_row(plain(family["title"]), plain(types), plain(family["decoder_paths"][0]), system, plain(options))
    console.print(table)
    installed = report["installed_transformers"]
    if installed is None:
        err_console.print("transformers is not installed: pip install 'vscbench\\[local]'", highlight=False)
    elif installed != report["verified_with_transformers"]:
        err_console.print(f"note: transformers {installed} is installed; the families were verified with "
                          f"{report['verified_with_transformers']}", highlight=False)  # fmt: skip
    console.print("Native checkpoints and notes: [bold]vscbench models families --json[/bold]. "
                  "No family has run on real weights in vscbench's tests yet.", highlight=False)  # fmt: skip
