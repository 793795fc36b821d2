"""Reading JSON Lines files that people write by hand: every bad line is named.

Text that is not text is named too: a file that is another format under a ``.jsonl`` name
(parquet, zip, gzip), a line that is not UTF-8, and a lone surrogate that a ``\\ud800`` escape
put in a string (it cannot be stored, sent or printed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: File formats that are not JSON Lines, by their first bytes.
_MAGIC = {b"PAR1": "a parquet file", b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip file",
          b"SQLite format 3": "an SQLite database", b"\x89PNG": "a PNG image"}  # fmt: skip
_SURROGATE = re.compile("[\ud800-\udfff]")


def not_jsonl(path: Path) -> str | None:
    """Why ``path`` is not a JSON Lines file at all (another format under that name), or None."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            renamed = " (rename it to .parquet)" if magic == b"PAR1" else ""
            return f"{path} is {what}, not JSON Lines{renamed}"
    return None


def lone_surrogate(value: Any, field: str = "") -> str | None:
    """Where a decoded JSON value holds a lone surrogate (``prompt``, ``meta.question``...), or
    None. Such a string cannot be written as UTF-8: not to the store, an API or a terminal."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found:
            return f"{field or 'the value'} holds a lone surrogate (\\u{ord(found.group()):04x}) at character {found.start()}"
    elif isinstance(value, dict):
        for key, item in value.items():
            where = lone_surrogate(item, f"{field}.{key}" if field else str(key))
            if where:
                return where
    elif isinstance(value, list):
        for index, item in enumerate(value):
            where = lone_surrogate(item, f"{field}[{index}]")
            if where:
                return where
    return None


def text_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, None)`` for each line of ``path``, or ``(number, None, why)`` for a
    line that is not UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"


def jsonl_objects(path: Path, error: type[Exception]) -> Iterator[tuple[int, str, dict]]:
    """``(line number, where, row)`` for each non-blank line of ``path``, ``where`` being ``"FILE, line N"``.

    A line that is not a JSON object (or not UTF-8, or holding a lone surrogate) raises ``error``
    with its place and what is wrong; so does a file of another format.
    """
    wrong = not_jsonl(path)
    if wrong:
        raise error(wrong)
    for number, line, bad in text_lines(path):
        where = f"{path}, line {number}"
        if bad:
            raise error(f"{where}: {bad}")
        assert line is not None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
        surrogate = lone_surrogate(row)
        if surrogate:
            raise error(f"{where}: {surrogate}; write the character itself, or remove it")
        yield number, where, row
