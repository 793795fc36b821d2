"""`vscbench data build` and `vscbench data build-custom`: render the text-centric attack images."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from vscbench.cli.app import data_app
from vscbench.cli.common import console, err_console, fail, plain, print_json


def _settings(font: Path | None, typography_size: int | None, figstep_size: int | None):
    from dataclasses import replace

    from vscbench.render.fonts import RenderSettings

    settings = RenderSettings().with_font(font)
    if typography_size:
        settings = replace(settings, typography_size=typography_size)
    if figstep_size:
        settings = replace(settings, figstep_size=figstep_size)
    return settings


@contextmanager
def _progress_bar(enabled: bool) -> Iterator:
    """A Rich progress bar on stderr; yields the callback the library calls with (done, total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("rendering images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err_console, transient=True, disable=not enabled,
    ) as bar:  # fmt: skip
        task = bar.add_task("render", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


_FONT_HELP = "Font file (.ttf/.otf/.ttc) for every image, e.g. one covering CJK. Default: matplotlib's DejaVu fonts."
_WORKERS_HELP = "Worker processes (0: all cores)."


@data_app.command("build")
def build(
    root: Path = typer.Argument(..., help="Release folder holding vscbench_text_centric.xlsx."),
    variants: str = typer.Option("typography,figstep,concat", help="Comma-separated variants to render."),
    workers: int = typer.Option(0, help=_WORKERS_HELP),
    force: bool = typer.Option(False, "--force", help="Rewrite images that already exist."),
    font: Path | None = typer.Option(None, "--font", help=_FONT_HELP),
    typography_size: int | None = typer.Option(None, help="Typography font size in px (default 90)."),
    figstep_size: int | None = typer.Option(None, help="FigStep starting font size in px (default 80)."),
    json_output: bool = typer.Option(False, "--json", help="Print the build report as JSON on stdout."),
) -> None:
    """Render the typography, FigStep and concat images the release spreadsheet names.

    Images go to vscbench_text_centric_images/<variant>/<file name from the spreadsheet>;
    existing ones are kept unless --force. Concat stacks the search image above the typography
    image, so typography is built first. Rows that cannot be rendered are listed with the
    reason. Exit code 0 when every image was written or already there, 1 otherwise.

    Example: [bold]vscbench data build ./vscbench-data --variants typography,concat --workers 4[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.render.build import build_release_images
    from vscbench.render.fonts import RenderError

    try:
        settings = _settings(font, typography_size, figstep_size)
        with _progress_bar(not json_output and err_console.is_terminal) as progress:
            report = build_release_images(
                root, variants.split(","), workers=workers or None, force=force, settings=settings, progress=progress
            )
    except (DatasetError, RenderError) as exc:
        fail(str(exc))
    if json_output:
        print_json(report.to_dict())
        raise typer.Exit(0 if report.ok else 1)
    if report.failures:
        table = Table(title=f"Could not render ({len(report.failures)})", title_style="bold red")
        for column in ("row", "variant", "file", "reason"):
            table.add_column(column, overflow="fold")
        for failure in report.failures:
            table.add_row(str(failure.row), plain(failure.variant), plain(failure.file), plain(failure.reason))
        console.print(table)
    shrunk = sum(n for size, n in report.figstep_sizes.items() if size < settings.figstep_size)
    note = f"; {shrunk} FigStep statements shrunk to fit" if shrunk else ""
    console.print(f"[bold]{plain(report.root)}[/bold]: {plain(report.summary())}{note}", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@data_app.command("build-custom")
def build_custom_command(
    file: Path = typer.Argument(
        ...,
        help="CSV or JSONL of prompts (type, prompt_origin, prompt_mm, object, prompt_figstep[, search_img, focus]).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="New release folder to create."),
    workers: int = typer.Option(0, help=_WORKERS_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite a release already in --out."),
    font: Path | None = typer.Option(None, "--font", help=_FONT_HELP),
) -> None:
    """Render your own prompts into a release folder that every vscbench command can load.

    Writes vscbench_text_centric.xlsx with the standard columns and file names, and the
    typography, FigStep and (for rows with a search_img photo, relative to FILE) concat images.

    Example: [bold]vscbench data build-custom my_prompts.csv --out ./my-bench[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.render.custom import build_custom
    from vscbench.render.fonts import RenderError

    try:
        settings = _settings(font, None, None)
        with _progress_bar(err_console.is_terminal) as progress:
            root = build_custom(file, out, settings=settings, workers=workers or None, force=force, progress=progress)
    except (DatasetError, RenderError) as exc:
        fail(str(exc))
    hint = plain(f"load_vscbench({str(root)!r}, subsets=['text_centric'])")
    console.print(f"wrote [bold]{plain(root)}[/bold]; load it with {hint}", highlight=False)
