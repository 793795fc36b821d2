"""Reading a benchmark spreadsheet: its header and text cells, and the checks every sheet gets
(required and unexpected columns, prompts that hold several lines or stray list numbering)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from vscbench.benchmarks.cells import NonText, clean_cell
from vscbench.benchmarks.findings import DatasetError, Finding

STRAY_NUMBER = re.compile(r"\s\d{1,2}\.\s*$")


def read_sheet(path: Path, expected: Sequence[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read the first sheet of an xlsx file: its header and (1-based row, {column: text}) rows.

    Fully empty rows and unnamed, empty columns are skipped. Raises :class:`DatasetError` with an
    instruction when the file is not a readable workbook, malformed XML inside it included (an
    entity bomb among it: the XML parser refuses entity expansion past a small factor, so
    memory stays bounded).
    """
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    if path.stat().st_size == 0:
        raise DatasetError(
            f"{path} is empty (0 bytes). Download it again with `vscbench data fetch --dest {path.parent}`."
        )
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, *_MALFORMED) as exc:
        raise _unreadable(path, exc) from None
    try:
        return _records(path, workbook, expected)
    except _MALFORMED as exc:  # rows are parsed as they are read: a broken sheet fails here
        raise _unreadable(path, exc) from None
    finally:
        workbook.close()


#: What openpyxl raises on XML that is malformed or refused (an entity bomb), and on cell data
#: that does not parse.
_MALFORMED = (ParseError, ValueError, TypeError, IndexError, AttributeError, zipfile.BadZipFile, EOFError)


def _unreadable(path: Path, exc: BaseException) -> DatasetError:
    detail = " ".join(str(exc).split())[:200]
    return DatasetError(
        f"{path} is not a readable Excel workbook ({exc.__class__.__name__}: {detail}). "
        f"It should be the xlsx file from the VSCBench release; download it again with "
        f"`vscbench data fetch --dest {path.parent}`."
    )


def _records(path: Path, workbook: Any, expected: Sequence[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the non-empty rows of the first sheet (parsed as they are read)."""
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    header_row = next(rows, None)
    if header_row is None:
        raise DatasetError(f"{path} has no rows; expected a header with columns {', '.join(expected)}.")
    header = [clean_cell(v) for v in header_row]
    records: list[tuple[int, dict[str, str]]] = []
    for offset, values in enumerate(rows, start=2):
        if values is None or all(v is None or clean_cell(v) == "" for v in values):
            continue
        record = {}
        for name, value in zip(header, values):
            if name:
                if isinstance(value, str) or value is None:
                    record[name] = value if isinstance(value, str) else ""
                else:
                    record[name] = NonText(clean_cell(value), type(value).__name__)
        records.append((offset, record))
    return [h for h in header if h], records


def check_columns(file: str, header: Sequence[str], expected: Sequence[str]) -> list[Finding]:
    findings = []
    for name in expected:
        if name not in header:
            near = [h for h in header if h.lower().replace(" ", "_") == name.lower()]
            hint = f" (found '{near[0]}': rename it to '{name}')" if near else ""
            findings.append(Finding("missing_column", file, 1, name, f"required column '{name}' is missing{hint}"))
    for name in header:
        if name not in expected:
            findings.append(Finding("unexpected_column", file, 1, name, f"column '{name}' is not part of the schema"))
    return findings


def missing_columns_error(path: Path, findings: list[Finding], expected: Sequence[str]) -> DatasetError:
    missing = [f for f in findings if f.kind == "missing_column"]
    details = "; ".join(f.detail for f in missing)
    return DatasetError(
        f"{path}: {details}. The header row must hold the columns {', '.join(expected)}. "
        "Fix the header, or run `vscbench data check` for a full report."
    )


def prompt_warnings(file: str, row: int, column: str, text: str) -> list[Finding]:
    findings = []
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        findings.append(
            Finding("multiple_prompts", file, row, column,
                    f"the cell holds {len(lines)} lines of prompt; all are sent as one prompt",
                    "warning")
        )  # fmt: skip
    if STRAY_NUMBER.search(text):
        findings.append(
            Finding("stray_numbering", file, row, column,
                    f"the prompt ends in list numbering: {text.strip()[-20:]!r}", "warning")
        )  # fmt: skip
    return findings
