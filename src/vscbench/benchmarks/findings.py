"""Defects found in benchmark data, and the error raised when data cannot be used at all."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["defect", "warning"]


class DatasetError(Exception):
    """Data that cannot be used at all. The message names the file and says what to do."""


@dataclass(frozen=True)
class Finding:
    """One defect, located as a person would look for it: file, 1-based spreadsheet row, column."""

    kind: str
    file: str
    row: int | None
    column: str | None
    detail: str
    severity: Severity = "defect"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def location(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            where += f" column {self.column}"
        return where


class HasFindings:
    """The defect/warning split shared by every report that holds ``findings``."""

    findings: list[Finding]

    @property
    def defects(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "defect"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.defects


def count_kinds(findings: list[Finding]) -> dict[str, int]:
    return dict(sorted(Counter(f.kind for f in findings).items()))
