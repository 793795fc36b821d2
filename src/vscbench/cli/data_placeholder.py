"""`vscbench data placeholder`: a release folder with the real spreadsheets and generated images."""

from __future__ import annotations

from pathlib import Path

import typer

from vscbench.cli.app import data_app
from vscbench.cli.common import console, fail, plain


@data_app.command("placeholder")
def placeholder(
    dest: Path = typer.Argument(..., help="Folder to write the release into (created if missing)."),
    metadata: Path | None = typer.Option(
        None,
        "--metadata",
        help="Folder holding the two VSCBench spreadsheets (default: $VSCBENCH_SHARED, else ../shared/vscbench "
        "beside the checkout; `vscbench data fetch --no-images --dest DIR` downloads them).",
    ),
) -> None:
    """Write a release that runs offline: the real spreadsheets, and a small generated image
    under every file name they reference.

    The images are placeholders, so the figures made from them say nothing about a model: the
    folder holds PLACEHOLDER-IMAGES.txt, and `data check`, `run`, `score` and `report` say
    "PLACEHOLDER images" on everything made from it. The README's tour starts here.

    Example: [bold]vscbench data placeholder vscbench-data[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.benchmarks.vscbench_layout import PLACEHOLDER_FILE
    from vscbench.testing.placeholder import make_placeholder_release, referenced_images

    try:
        root = make_placeholder_release(dest, metadata)
    except FileNotFoundError as exc:
        fail(f"{exc} (or pass --metadata DIR)")
    except (DatasetError, OSError) as exc:
        fail(str(exc))
    images = len(referenced_images(root))
    console.print(
        f"wrote a PLACEHOLDER release to [bold]{plain(root)}[/bold]: the real spreadsheets and {images:,} generated "
        f"images (see {PLACEHOLDER_FILE}); figures made from it are not VSCBench results.\n"
        f"Next: [bold]vscbench run --data {plain(root)} --model scripted:keyword --limit 40 --judge offline[/bold]"
    )
