"""Untrusted text (model answers, server errors, spreadsheet cells) made safe for where it goes.

Every stage meets text it did not write: a model may answer with a lone surrogate or a NUL, a
server may put terminal escape sequences or Rich markup in an error message, a spreadsheet cell
may start with ``=`` and run as a formula once exported. One module says how such text is
neutralised for each destination, so no stage invents its own rule:

- :func:`repair` -- for storing and judging: text SQLite and UTF-8 files can hold (lone
  surrogates and NUL replaced by U+FFFD), with a note saying what was replaced;
- :func:`printable` -- for terminals: control characters, 8-bit CSI, bidirectional overrides
  and lone surrogates shown as visible ``\\x..``/``\\u....`` escapes;
- :func:`csv_cell` -- for spreadsheets: a text cell that a spreadsheet would run as a formula
  gets a leading apostrophe (OWASP's advice for CSV injection);
- :func:`markdown_cell` -- for Markdown: HTML, link syntax, pipes and line breaks escaped.

This module imports nothing from vscbench, so the store, the backends, the reports and the CLI
can all use it.
"""

from __future__ import annotations

import html
import re
from typing import Any

#: Characters a terminal may act on rather than show: C0 controls but tab and newline, DEL, the
#: C1 controls (U+009B is an 8-bit CSI), bidirectional embeddings, overrides and isolates (which
#: reorder what is shown), and lone surrogates (not text at all).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNPRINTABLE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

#: What :func:`repair` replaces: lone surrogates (SQLite and UTF-8 cannot encode them) and NUL
#: (C strings, and so many tools reading the store, end at it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: A spreadsheet runs a cell starting with these as a formula (tab and CR too: some programs
#: strip them first and then see the formula).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Markdown that could make code, emphasis or table cells: backslash-escaped. Brackets are
#: escaped only where they would close a link or an image (``](``), so "[95% CI]" stays as written.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_|]|\](?=\())")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any, *, one_line: bool = False) -> str:
    """``text`` with everything a terminal could obey instead of show turned into a visible
    escape (ESC -> ``\\x1b``, U+202E -> ``\\u202e``). Tab and newline are kept, unless
    ``one_line`` (then they are escaped too). Markup is not touched: see
    :func:`vscbench.cli.common.plain` for text printed through Rich."""
    pattern = _UNPRINTABLE_ONE_LINE if one_line else _UNPRINTABLE
    return pattern.sub(_escape_char, str(text))


def repair(text: str | None) -> tuple[str | None, str | None]:
    """Text that SQLite, JSON and UTF-8 files can hold, and a note on what was replaced.

    Lone surrogates (from a JSON ``\\ud800`` escape, or a decoder's ``surrogateescape``) and NUL
    characters are replaced by U+FFFD. Returns ``(text, None)`` when nothing needed replacing,
    else ``(repaired, "text repaired: 1 lone surrogate and 2 NUL characters replaced by U+FFFD")``.
    """
    if text is None or not _UNSTORABLE.search(text):
        return text, None
    nul = text.count("\x00")
    surrogates = len(_UNSTORABLE.findall(text)) - nul
    parts = []
    if surrogates:
        parts.append(f"{surrogates} lone surrogate{'s' if surrogates != 1 else ''}")
    if nul:
        parts.append(f"{nul} NUL character{'s' if nul != 1 else ''}")
    return _UNSTORABLE.sub("\ufffd", text), f"text repaired: {' and '.join(parts)} replaced by U+FFFD"


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``=``, ``+``, ``-``,
    ``@``, tab or CR gets a leading apostrophe (shown by spreadsheets, kept by any CSV reader,
    so the original is one ``removeprefix("'")`` away). Numbers, None and other text pass
    unchanged, so a negative figure stays a number."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """:func:`csv_cell` applied to every value of a ``csv.DictWriter`` row."""
    return {key: csv_cell(value) for key, value in row.items()}


def markdown_cell(text: Any) -> str:
    """Text for a Markdown table cell or list item that renders as the text itself: HTML
    (``<script>``, ``<img onerror=...>``) escaped as entities, Markdown syntax that could make
    links, images, code or emphasis backslash-escaped, pipes escaped, line breaks as spaces,
    and control characters visible. ``[text](javascript:...)`` becomes ``[text\\](javascript:...)``:
    no link."""
    escaped = html.escape(printable(text, one_line=False), quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(), escaped)
    return escaped.replace("\n", " ").replace("\t", " ")
