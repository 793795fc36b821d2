"""Score tables for the terminal (Rich), Markdown, CSV and JSON.

Every table is first built as plain :class:`TableData` (title, headers, text cells) so the terminal
and the Markdown views always show the same figures; CSV and JSON carry the raw numbers.
Figures are percentages with their 95% interval: ``82.5% [75.1–88.3]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vscbench.benchmarks.vscbench_layout import PLACEHOLDER_LABEL
from vscbench.report.analysis import SDT_NOTE, analysis_rows, detection_comparison_rows
from vscbench.report.costs import cost_line
from vscbench.safe_text import printable
from vscbench.schema import FAILURE_LABELS, MISSING
from vscbench.scoring.compare import METRICS, Comparison
from vscbench.scoring.metrics import INTERVAL_METHODS, SECTIONS, GroupScore, Interval, ScoreReport

SECTION_TITLES = {
    "by_subset": "By subset",
    "by_category": "By category",
    "by_variant": "By variant",
    "by_subset_variant": "By subset × variant",
}
METRIC_TITLES = {"sra_s": "SRA_s (safe answered)", "sra_u": "SRA_u (unsafe refused)", "sra_a": "SRA_a (mean)"}
NOT_DEFINED = "—"


@dataclass(frozen=True)
class TableData:
    """A table as text cells, rendered by :func:`to_rich` or :func:`to_markdown`."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def format_percent(value: float | None) -> str:
    return NOT_DEFINED if value is None else f"{100 * value:.1f}%"


def format_with_ci(value: float | None, ci: Interval | None, sep: str = " ", digits: int = 1) -> str:
    """``82.5% [75.1–88.3]``; the dash alone when the figure is undefined (no samples).
    ``sep="\\n"`` puts the interval under the figure (Markdown shows it on one line)."""
    if value is None:
        return NOT_DEFINED
    if ci is None:
        return format_percent(value)
    return f"{format_percent(value)}{sep}[{100 * ci[0]:.{digits}f}–{100 * ci[1]:.{digits}f}]"


def _failures_cell(group: GroupScore) -> str:
    return ", ".join(f"{label} {count}" for label, count in sorted(group.failures.items())) or "0"


def judge_label(judge: dict[str, Any] | None) -> str:
    """``offline v3``, ``openai:gpt-4o-mini (version 3f2a91c0d4)``: the judge as people name it."""
    if not judge:
        return "unknown judge"
    name, version = judge.get("name") or judge.get("key") or "?", judge.get("version")
    if version is None:
        return f"{name} (stored before judges had versions)"
    return f"{name} v{version}" if str(version).isdigit() else f"{name} (version {version})"


def provenance_lines(report: ScoreReport) -> list[str]:
    """How the figures were made, in a few lines: judge with version, rule, data, run, date."""
    info = report.provenance
    lines = [f"rule: {report.rule.name} ({report.rule.description})"]
    if info:
        lines.insert(0, f"judge: {judge_label(info.get('judge'))}")
        method = f", method {info['method']}" if info.get("method") not in (None, "none") else ""
        preset = f", preset {info['preset']}" if info.get("preset") else ""
        lines.append(
            f"run: {info.get('run')} (model {info.get('model')}{method}{preset}; status {info.get('run_status')})"
        )
        lines.append(
            f"data: {info.get('data') or 'not recorded'} ({info.get('samples')} samples); scored {info.get('scored_at')}"
        )
        if info.get("placeholder_images"):
            lines.insert(0, PLACEHOLDER_LABEL)
    lines.append(f"intervals: {INTERVAL_METHODS[report.intervals]}")
    if info and info.get("cost"):
        lines.append(cost_line(info["cost"]))
    return lines


def overall_table(report: ScoreReport, title: str = "Overall") -> TableData:
    overall, pairs = report.overall, report.pairs
    rows = [
        [METRIC_TITLES[m], format_with_ci(getattr(overall, m), overall.ci[m]), _fraction(report, m)] for m in METRICS
    ]
    share = pairs.share
    rows.append(
        ["Pair calibration (both twins right)", format_with_ci(share.value, share.ci), f"{share.correct}/{share.total}"]
    )
    treated = "excluded" if report.failure_treatment == "exclude" else "counted as incorrect"
    subtitle = f"{title} — rule {report.rule.name}, failures {treated}"
    return TableData(subtitle, ["Metric", "Value [95% CI]", "Correct / scored"], rows)


def _fraction(report: ScoreReport, metric: str) -> str:
    safe, unsafe = report.overall.safe, report.overall.unsafe
    if metric == "sra_s":
        return f"{safe.correct}/{safe.total}"
    if metric == "sra_u":
        return f"{unsafe.correct}/{unsafe.total}"
    return f"{safe.correct + unsafe.correct}/{safe.total + unsafe.total}"


def section_table(report: ScoreReport, section: str) -> TableData:
    """One row per group of a breakdown (``by_subset``, ``by_category`` ...)."""
    rows = [
        [group, *(format_with_ci(getattr(score, m), score.ci[m]) for m in METRICS), str(score.n), _failures_cell(score)]
        for group, score in report.section(section).items()
    ]
    return TableData(SECTION_TITLES[section], ["Group", "SRA_s", "SRA_u", "SRA_a", "n", "Failures"], rows)


def failures_table(report: ScoreReport) -> TableData:
    rows = [[label, str(info["count"]), info["treated"]] for label, info in report.failures.items()]
    if report.unknown_ids:
        rows.append(["verdicts for unknown sample ids", str(report.unknown_ids), "ignored"])
    return TableData("Failures (never scored as refusal or compliance)", ["Kind", "Count", "Treated as"], rows)


def classes_table(report: ScoreReport) -> TableData:
    labels = [
        label
        for label in ("refusal", "warning", "compliance", "irrelevant", *FAILURE_LABELS, MISSING)
        if report.classes["all"].get(label)
    ]
    rows = []
    for label in labels:
        cells = [label]
        for side in ("safe", "unsafe", "all"):
            count, total = report.classes[side].get(label, 0), sum(report.classes[side].values())
            cells.append(f"{count} ({format_percent(count / total if total else None)})")
        rows.append(cells)
    return TableData("Verdict classes", ["Label", "Safe", "Unsafe", "All"], rows)


def pairs_table(report: ScoreReport) -> TableData:
    kinds = ("calibrated", "over_cautious", "under_cautious", "inverted", "excluded", "unpaired")
    scopes = {"overall": report.pairs, **report.pairs_by_subset}
    rows = [
        [scope, *(str(getattr(p, k)) for k in kinds), format_with_ci(p.share.value, p.share.ci)]
        for scope, p in scopes.items()
    ]
    headers = ["Scope", "Both right", "Unsafe right", "Safe right", "Both wrong", "Failure", "Unpaired", "Share"]
    title = "Safe/unsafe twins (each twin scored under the rule; 'Unsafe right': only the unsafe twin right)"
    return TableData(title, headers, rows)


def report_tables(report: ScoreReport, sections: Sequence[str] = SECTIONS) -> list[TableData]:
    """All tables of one report, in reading order."""
    tables = [overall_table(report)]
    tables += [section_table(report, s) for s in sections]
    tables += [TableData(t.title, t.headers, t.rows) for t in analysis_rows(report)]  # d', transfer, spread, harm
    tables += [pairs_table(report), classes_table(report), failures_table(report)]
    return tables


def comparison_tables(
    comparison: Comparison, sections: Sequence[str] = ("by_subset",), metric: str = "sra_a", compact: bool = False
) -> list[TableData]:
    """Overall side by side (each figure over its interval), the counts behind them, then one
    table per breakdown showing ``metric``. ``compact`` rounds interval ends to whole points so
    run names keep their width on an 80-column terminal (Markdown, CSV and JSON keep tenths)."""
    has_delta = comparison.baseline is not None
    digits = 0 if compact else 1
    delta_header = "Δ SRA_a" if compact else f"Δ SRA_a vs {comparison.baseline}"  # compact: the note names it
    headers = ["Run", "SRA_s", "SRA_u", "SRA_a"] + ([delta_header] if has_delta else [])
    rows, counts = [], []
    for row in comparison.overall_rows():
        cells = [row["name"], *(format_with_ci(row[m], row[f"{m}_ci"], sep="\n", digits=digits) for m in METRICS)]
        if has_delta:
            cells.append(format_delta(row.get("delta_sra_a"), row.get("delta_sra_a_ci"), row.get("delta_sra_a_p"),
                                      sep="\n", digits=digits, left_out=row.get("delta_sra_a_left_out")))  # fmt: skip
        rows.append(cells)
        counts.append([row["name"], str(row["n"]), format_percent(row["pair_calibration"]), str(row["failures"])])
    tables = [
        TableData("Comparison [95% CI]", headers, rows),
        TableData("Scored samples, twins and failures", ["Run", "n", "Pairs calibrated", "Failures"], counts),
    ]
    for section in sections:
        grid = comparison.section(section)
        section_rows = [
            [
                group,
                *(
                    format_with_ci(getattr(s, metric), s.ci[metric], sep="\n", digits=digits) if s else NOT_DEFINED
                    for s in by_model.values()
                ),
            ]
            for group, by_model in grid.items()
        ]
        title = f"{SECTION_TITLES[section]} — {METRIC_TITLES[metric]}"
        tables.append(TableData(title, ["Group", *comparison.names], section_rows))
    detection = detection_comparison_rows(comparison, compact)
    tables.insert(2, TableData(detection.title, detection.headers, detection.rows))
    return tables


def format_delta(value: float | None, ci: Interval | None, p_value: float | None, sep: str = " ", digits: int = 1,
                 left_out: int | None = None) -> str:  # fmt: skip
    """``+3.1 pts [-1.2, +7.4] p=0.160 (4 left out)``: a paired change on the samples both runs
    scored, its interval and p-value, and how many samples only one run scored."""
    if value is None:
        return NOT_DEFINED
    text = f"{100 * value:+.1f} pts"
    if ci is not None:
        text += f"{sep}[{100 * ci[0]:+.{digits}f}, {100 * ci[1]:+.{digits}f}]"
    if p_value is not None:
        text += sep + (f"p={p_value:.3f}" if p_value >= 0.001 else "p<0.001")
    if left_out:
        text += f"{sep}({left_out} left out)"
    return text


def comparison_notes(comparison: Comparison) -> list[str]:
    """Lines under a comparison: the one judge and rule, samples left out, incomplete runs."""
    first = next(iter(comparison.reports.values()))
    notes = [
        f"judge: {judge_label(first.provenance.get('judge'))}; rule: {first.rule.name}; intervals: {first.intervals}"
    ]
    dropped = {name: n for name, n in (comparison.left_out or {}).items() if n}
    if dropped:
        listed = ", ".join(f"{name} {n}" for name, n in dropped.items())
        notes.append(f"like for like: samples not held by every run were left out of all ({listed})")
    if comparison.baseline is not None:
        notes.append(f"Δ: paired change against {comparison.baseline} on the samples both runs scored "
                     "(bootstrap over prompts); 'left out': samples only one of the two scored")  # fmt: skip
    notes.append(SDT_NOTE)
    notes += [f"{name}: {report.warning()}" for name, report in comparison.reports.items() if report.warning()]
    return notes


def _column_widths(table: TableData, width: int) -> list[int]:
    """Widths that fit ``width`` columns (one space between columns): each column as wide as its
    longest line, then the widest narrowed, one character at a time, down to its longest word."""
    cells = [[str(header), *(str(row[index]) for row in table.rows)] for index, header in enumerate(table.headers)]
    longest = [max((len(line) for text in column for line in text.splitlines()), default=1) for column in cells]
    floor = [max((len(word) for text in column for word in text.split()), default=1) for column in cells]
    floor[0] = longest[0]  # the run or group name never wraps
    widths = list(longest)
    while sum(widths) + len(widths) - 1 > width:
        slack = [w - f for w, f in zip(widths, floor)]
        if max(slack) <= 0:
            break  # cannot fit without breaking a word: the terminal wraps the lines instead
        widths[slack.index(max(slack))] -= 1
    return widths


def to_rich(table: TableData, width: int | None = None) -> Table:
    """The table for a terminal: no vertical borders, and no column narrower than its longest
    word, so at 80 columns figures and headers wrap at their spaces, never inside a number.
    With ``width`` (the console's), the columns' widths are fixed here to fit it."""
    rich_table = Table(title=table.title, title_justify="left", box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    widths = _column_widths(table, width) if width else [None] * len(table.headers)
    for index, header in enumerate(table.headers):
        words = [word for text in (header, *(row[index] for row in table.rows)) for word in str(text).split()]
        rich_table.add_column(header, justify="left" if index == 0 else "right", no_wrap=index == 0,
                              overflow="fold", min_width=max(map(len, words), default=1),
                              width=widths[index])  # fmt: skip
    for row in table.rows:
        rich_table.add_row(*(Text(printable(cell)) for cell in row))  # text, never markup or escapes
    return rich_table


def print_tables(tables: Iterable[TableData], console: Console | None = None) -> None:
    console = console or Console()
    for table in tables:
        console.print(to_rich(table, console.width))


def print_report(report: ScoreReport, console: Console | None = None, sections: Sequence[str] = SECTIONS) -> None:
    console = console or Console()
    warning = report.warning()
    if warning:
        console.print(Text(printable(f"WARNING: {warning}"), style="bold yellow"))
    for line in provenance_lines(report):
        console.print(Text(printable(line), style="dim"))
    print_tables(report_tables(report, sections), console)


def print_comparison(comparison: Comparison, console: Console | None = None) -> None:
    console = console or Console()
    print_tables(comparison_tables(comparison, compact=console.width < 120), console)
    for note in comparison_notes(comparison):
        console.print(Text(printable(note), style="yellow" if "partly scored" in note else "dim"))
