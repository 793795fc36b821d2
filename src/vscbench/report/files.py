"""Score tables written to files: Markdown (cells that never form links or images), CSV (one row
per group, cells that never run as spreadsheet formulas, provenance on every row) and JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vscbench.locations import replaced_atomically
from vscbench.report.tables import (
    TableData,
    comparison_notes,
    comparison_tables,
    provenance_lines,
    report_tables,
)
from vscbench.safe_text import csv_row, markdown_cell
from vscbench.scoring.compare import METRICS, Comparison
from vscbench.scoring.metrics import SECTIONS, ScoreReport


def _markdown_cell(text: str) -> str:
    """Group names and notes come from data and stores: HTML, links and pipes are escaped."""
    return markdown_cell(text)


def to_markdown(table: TableData) -> str:
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(_markdown_cell(h) for h in table.headers) + " |",
        "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(table.headers))) + "|",
    ]
    lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def report_markdown(report: ScoreReport, sections: Sequence[str] = SECTIONS) -> str:
    warning = report.warning()
    head = [f"> **Warning**: {_markdown_cell(warning)}\n"] if warning else []
    head += ["".join(f"- {_markdown_cell(line)}\n" for line in provenance_lines(report))]
    return "\n".join(head + [to_markdown(t) for t in report_tables(report, sections)])


def comparison_markdown(comparison: Comparison, sections: Sequence[str] = ("by_subset",)) -> str:
    tables = [to_markdown(t) for t in comparison_tables(comparison, sections)]
    return "\n".join(tables + ["".join(f"- {_markdown_cell(note)}\n" for note in comparison_notes(comparison))])


CSV_FIELDS = [
    "name",
    "section",
    "group",
    "n",
    "samples",
    "sra_s",
    "sra_s_low",
    "sra_s_high",
    "sra_u",
    "sra_u_low",
    "sra_u_high",
    "sra_a",
    "sra_a_low",
    "sra_a_high",
    "d_prime",
    "d_prime_low",
    "d_prime_high",
    "criterion",
    "criterion_low",
    "criterion_high",
    "safe_correct",
    "safe_total",
    "unsafe_correct",
    "unsafe_total",
    "failures",
    "rule",
    "judge",
    "judge_version",
    "run",
    "model",
    "method",
    "data",
    "scored_at",
]


def provenance_fields(report: ScoreReport) -> dict[str, Any]:
    """The provenance columns of a CSV row."""
    info = report.provenance
    judge = info.get("judge") or {}
    return {
        "rule": report.rule.name, "judge": judge.get("name"), "judge_version": judge.get("version"),
        "run": info.get("run"), "model": info.get("model"), "method": info.get("method"),
        "data": info.get("data"), "scored_at": info.get("scored_at"),
    }  # fmt: skip


def score_rows(report: ScoreReport, name: str = "") -> list[dict[str, Any]]:
    """Long-form rows (section, group, figures with interval bounds), one per group."""
    groups = [("overall", "all", report.overall)]
    groups += [(section, group, score) for section in SECTIONS for group, score in report.section(section).items()]
    rows = []
    for section, group, score in groups:
        row: dict[str, Any] = {"name": name, "section": section, "group": group, "n": score.n, "samples": score.samples}
        for metric in METRICS:
            ci = score.ci[metric]
            row[metric] = getattr(score, metric)
            row[f"{metric}_low"], row[f"{metric}_high"] = ci if ci else (None, None)
        detection = score.detection  # d' and c with their prompt-bootstrap intervals (scoring/detection.py)
        row["d_prime"], row["criterion"] = detection.d_prime, detection.criterion
        row["d_prime_low"], row["d_prime_high"] = detection.d_prime_ci or (None, None)
        row["criterion_low"], row["criterion_high"] = detection.criterion_ci or (None, None)
        row.update(
            safe_correct=score.safe.correct,
            safe_total=score.safe.total,
            unsafe_correct=score.unsafe.correct,
            unsafe_total=score.unsafe.total,
            failures=sum(score.failures.values()),
        )
        rows.append(row | provenance_fields(report))
    return rows


def write_csv(scores: ScoreReport | Comparison, path: str | Path) -> Path:
    """Long-form CSV; a comparison writes every model's rows, told apart by ``name``."""
    path = Path(path)
    if isinstance(scores, Comparison):
        rows = [row for name, report in scores.reports.items() for row in score_rows(report, name)]
    else:
        rows = score_rows(scores)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        # group names come from data: a cell starting with = + - @ must not run as a formula
        writer.writerows(csv_row({k: ("" if v is None else v) for k, v in row.items()}) for row in rows)
    return path


def write_json(scores: ScoreReport | Comparison, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(scores.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path


def write_markdown(scores: ScoreReport | Comparison, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = comparison_markdown(scores) if isinstance(scores, Comparison) else report_markdown(scores)
    with replaced_atomically(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
