"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from vscbench.safe_text import printable

if TYPE_CHECKING:
    from vscbench.store import Store

_SURROGATE = re.compile("[\ud800-\udfff]")

# emoji=False: ":name:" in an answer or a file name is printed as written, not as a pictogram
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def plain(value: Any, *, one_line: bool = False) -> str:
    """Untrusted text (from a server, a model or a data file) ready for any Rich output: markup
    escaped, so ``[/x]`` is shown and never parsed, and control characters and escape
    sequences shown as ``\\x1b``-style escapes, so they never reach the terminal raw. Use it
    for every such value in ``console.print`` f-strings and table cells; ``one_line`` also
    escapes newlines and tabs (for one-line summaries)."""
    text = escape(printable(value, one_line=one_line))
    # Rich doubles a trailing backslash so that it cannot escape a tag that follows; an empty
    # tag after it makes the doubled pair print as one backslash wherever the text ends up
    return text + "[dim][/dim]" if text.endswith("\\") else text


def print_json(payload: Any) -> None:
    """Print machine-readable output on stdout, nothing else mixed in. Text stays lossless: a
    lone surrogate (which UTF-8 cannot encode) is written as its JSON escape ``\\ud800``."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")


def fail(message: str, code: int = 2) -> None:
    """Print a one-paragraph error that says what to do, and exit."""
    import typer

    err_console.print(f"[bold red]error:[/bold red] {plain(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def open_store(path: Path) -> "Store":
    """The store a read-only command (list, score, report, export...) works on; it must exist."""
    from vscbench.store import Store

    if not path.is_file():
        fail(f"no store at {path}; run `vscbench run --data DIR --model SPEC --store {path}` first, or pass --store")
    return Store(path)
