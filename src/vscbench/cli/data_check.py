"""`vscbench data check`: the integrity report of a release folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vscbench.cli.app import data_app
from vscbench.cli.common import console, err_console, fail, plain, print_json


@data_app.command("check")
def check(
    root: Path = typer.Argument(..., help="Release folder holding the two xlsx files and the image folders."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    no_decode: bool = typer.Option(False, "--no-decode", help="Skip decoding images (only check they exist)."),
    workers: int = typer.Option(0, help="Threads for decoding images (0: automatic)."),
    limit: int = typer.Option(50, "--limit", "-n", help="Findings shown per kind in the table (JSON shows all)."),
) -> None:
    """Report every defect of a release: file, 1-based spreadsheet row, column and what is wrong.

    Checks missing prompts, missing/empty/undecodable images, images used twice, text-centric
    rows whose rewritten prompt equals the original, unknown categories/types, and missing or
    unexpected columns. Warnings (suspicious but usable rows) are listed too.
    Exit code 0 when there is no defect, 1 when there is at least one.

    Example: [bold]vscbench data check ./vscbench-data --json > report.json[/bold]
    """
    from vscbench.benchmarks.check import check_release
    from vscbench.benchmarks.findings import DatasetError

    try:
        if json_output or not console.is_terminal:
            report = check_release(root, decode=not no_decode, workers=workers or None)
        else:
            with Progress(
                TextColumn("decoding images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=err_console, transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task("decode", total=None)
                report = check_release(
                    root, decode=not no_decode, workers=workers or None,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
    except DatasetError as exc:
        fail(str(exc))
    if json_output:
        print_json(report.to_dict())
        raise typer.Exit(0 if report.ok else 1)
    _print_report(report, limit)
    raise typer.Exit(0 if report.ok else 1)


def _print_report(report, limit: int) -> None:
    for title, findings, style in (
        ("Defects", report.defects, "red"),
        ("Warnings", report.warnings, "yellow"),
    ):
        if not findings:
            continue
        table = Table(title=f"{title} ({len(findings)})", title_style=f"bold {style}", show_lines=False)
        for column in ("kind", "file", "row", "column", "detail"):
            table.add_column(column, overflow="fold")
        shown: Counter = Counter()
        for finding in findings:
            shown[finding.kind] += 1
            if shown[finding.kind] > limit:
                continue
            # every cell comes from the data: shown as plain text, never read as markup
            table.add_row(plain(finding.kind), plain(finding.file), str(finding.row or ""),
                          plain(finding.column or ""), plain(finding.detail))  # fmt: skip
        console.print(table)
        hidden = {k: n - limit for k, n in shown.items() if n > limit}
        if hidden:
            console.print(f"  (not shown: {plain(hidden)}; use --json for all)")
    counts = report.to_dict()["counts"]
    described = report.load.expected()
    console.print(f"[bold]{plain(report.root)}[/bold]: {plain(report.load.summary())}")
    if described:
        console.print("described by the data: " + plain(", ".join(f"{v} {k}" for k, v in sorted(described.items()))))
    if report.ok:
        console.print("[green]no defects[/green]")
    else:
        console.print("[red]defects:[/red] " + plain(", ".join(f"{n} {k}" for k, n in counts.items())))
