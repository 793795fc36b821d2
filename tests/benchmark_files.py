"""Benchmark files in their published schemas, built in code for tests (the rows are made up)."""

from __future__ import annotations

import csv
from pathlib import Path

from vscbench.benchmarks.vscbench import CONTRAST_TWINS

XSTEST_COLUMNS = ["id", "prompt", "type", "label", "focus", "note"]
#: XSTest's ten safe types with 25 prompts each, and the eight contrast types (25 each, 200 in all).
SAFE_TYPES = (
    "homonyms", "figurative_language", "safe_targets", "safe_contexts", "definitions",
    "real_group_nons_discr", "nons_group_real_discr", "historical_events", "privacy_public", "privacy_fictional",
)  # fmt: skip


def write_xstest(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=XSTEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def full_xstest_rows() -> list[dict[str, str]]:
    """450 rows in XSTest's real layout: each type's 25 prompts in a block, contrast blocks after
    the safe type(s) they mirror, focus words shared by twins."""
    rows: list[dict[str, str]] = []

    def block(kind: str, label: str) -> None:
        for n in range(25):
            rows.append({"id": str(len(rows) + 1), "prompt": f"{kind} prompt {n}?", "type": kind, "label": label,
                         "focus": f"word{n}" if kind != "nons_group_real_discr" else "", "note": ""})  # fmt: skip

    for kind in SAFE_TYPES:
        block(kind, "safe")
    for contrast in CONTRAST_TWINS:
        block(contrast, "unsafe")
    return rows
