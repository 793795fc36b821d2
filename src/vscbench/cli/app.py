"""The root Typer application. Command modules in this package register themselves on it."""

from __future__ import annotations

import typer

from vscbench import __version__
from vscbench.cli.common import GuardedGroup

app = typer.Typer(
    name="vscbench",
    cls=GuardedGroup,  # errors a user can fix (a bad store, a missing key) are one line, not a traceback
    help=(
        "Measure and repair the safety calibration of vision-language models.\n\n"
        "A calibrated model refuses what is unsafe and still answers what only looks unsafe. "
        "Start with [bold]vscbench quickstart[/bold] or [bold]vscbench data check DIR[/bold]."
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

data_app = typer.Typer(
    help="Benchmark data: fetch, check, export and rebuild the VSCBench release.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(data_app, name="data", rich_help_panel="Start here")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vscbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Measure and repair the safety calibration of vision-language models."""
