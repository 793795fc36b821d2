"""Reading JSON Lines files that people write by hand: every bad line is named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def jsonl_objects(path: Path, error: type[Exception]) -> Iterator[tuple[int, str, dict]]:
    """``(line number, where, row)`` for each non-blank line of ``path``, ``where`` being ``"FILE, line N"``.

    A line that is not a JSON object raises ``error`` with its place and what is wrong.
    """
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield number, where, row
