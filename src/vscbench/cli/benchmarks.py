"""`vscbench benchmarks list|check`: the benchmarks vscbench loads, and a check of a local copy."""

from __future__ import annotations

from collections import Counter

import typer
from rich.table import Table

from vscbench.cli.app import app
from vscbench.cli.common import console, fail, plain, print_json

benchmarks_app = typer.Typer(
    help=(
        "Benchmarks beyond VSCBench (XSTest, OR-Bench, MOSSBench, MSSBench, VLGuard, SIUO, MM-SafetyBench, "
        "FigStep): what each measures, where to get it, and a check of the copy you have."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(benchmarks_app, name="benchmarks", rich_help_panel="Start here")


@benchmarks_app.command("list")
def list_benchmarks(
    json_output: bool = typer.Option(False, "--json", help="Print every field as JSON on stdout."),
) -> None:
    """List the supported benchmarks: modality, figures they define, labels, pairs, sample count,
    licence and access, and where to get each (none is bundled).

    Example: [bold]vscbench benchmarks list --json | jq '.[] | select(.gated)'[/bold]
    """
    from vscbench.benchmarks.registry import BENCHMARKS

    if json_output:
        print_json([info.to_dict() for info in BENCHMARKS.values()])
        return
    table = Table(title="Benchmarks (none bundled: point --data at your copy)", show_lines=True)
    for column in ("name", "modality", "measures", "labels", "samples", "licence / access", "get it"):
        table.add_column(column, overflow="fold")
    for info in BENCHMARKS.values():
        measures = ", ".join(info.measures)
        samples = f"{info.expected_samples:,}" if info.expected_samples else "varies"
        access = info.licence if info.access == "open" else f"{info.licence} [{info.access}]"
        table.add_row(
            plain(info.name), info.modality, measures, "/".join(info.labels) + (" (pairs)" if info.pairs else ""),
            samples, plain(access), plain(info.get_it),
        )  # fmt: skip
    console.print(table)
    console.print("Check a copy: [bold]vscbench benchmarks check NAME --data PATH[/bold]")


@benchmarks_app.command("check")
def check(
    name: str = typer.Argument(..., help="Benchmark name (see `vscbench benchmarks list`)."),
    data: str = typer.Option(
        ..., "--data", "-d", help="The benchmark's file or folder, a saved datasets folder, or hf:OWNER/NAME@REVISION."
    ),
    options: list[str] | None = typer.Option(
        None,
        "--benchmark-option",
        "-B",
        "--option",
        help="Loader option KEY=VALUE, repeatable (e.g. variants=SD,TYPO), as `run -B`.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    limit: int = typer.Option(30, "--limit", "-n", help="Findings shown per kind in the table (JSON shows all)."),
) -> None:
    """Load a benchmark from your copy and report what cannot be used: file, row, column, why.

    Checks the benchmark's own columns, labels, categories, empty prompts and that every image
    exists (images are not decoded). Exit code 0 when there is no defect, 1 when there is one,
    2 when the data cannot be loaded at all (the message says what file was expected).

    Example: [bold]vscbench benchmarks check xstest --data xstest_prompts.csv[/bold]
    """
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.benchmarks.registry import load_benchmark, parse_options

    try:
        loaded = load_benchmark(name, data, **parse_options(name, options or []))
    except DatasetError as exc:
        fail(str(exc))
    report = loaded.report
    if json_output:
        print_json(report.to_dict())
        raise typer.Exit(0 if report.ok else 1)
    for title, findings, style in (("Defects", report.defects, "red"), ("Warnings", report.warnings, "yellow")):
        if not findings:
            continue
        table = Table(title=f"{title} ({len(findings)})", title_style=f"bold {style}")
        for column in ("kind", "file", "row", "column", "detail"):
            table.add_column(column, overflow="fold")
        shown: Counter = Counter()
        for finding in findings:
            shown[finding.kind] += 1
            if shown[finding.kind] <= limit:
                table.add_row(finding.kind, plain(finding.file), str(finding.row or ""), plain(finding.column or ""),
                              plain(finding.detail))  # fmt: skip
        console.print(table)
        hidden = {kind: n - limit for kind, n in shown.items() if n > limit}
        if hidden:
            console.print(f"  (not shown: {hidden}; use --json for all)")
    console.print(plain(report.summary()))
    console.print("[green]no defects[/green]" if report.ok else f"[red]{len(report.defects)} defects[/red]")
    raise typer.Exit(0 if report.ok else 1)
