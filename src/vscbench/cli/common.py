"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from vscbench.store import Store

console = Console()
err_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    """Print machine-readable output on stdout, nothing else mixed in."""
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = 2) -> None:
    """Print a one-paragraph error that says what to do, and exit."""
    import typer
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def open_store(path: Path) -> "Store":
    """The store a read-only command (list, score, report, export...) works on; it must exist."""
    from vscbench.store import Store

    if not path.is_file():
        fail(f"no store at {path}; run `vscbench run --data DIR --model SPEC --store {path}` first, or pass --store")
    return Store(path)
