"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

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


MAX_TOKENS_HELP = "Most tokens per answer (default 512: the same in every command and experiment file)."


def max_tokens_or_default(value: int | None) -> int:
    """``--max-tokens`` as given, else the one default every command and experiment shares."""
    from vscbench.schema import GenerationConfig

    return value if value is not None else GenerationConfig().max_tokens


def print_json(payload: Any) -> None:
    """Print machine-readable output on stdout, nothing else mixed in. Text stays lossless: a
    lone surrogate (which UTF-8 cannot encode) is written as its JSON escape ``\\ud800``."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-paragraph error that says what to do, and exit."""
    err_console.print(f"[bold red]error:[/bold red] {plain(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def open_store(path: Path) -> Store:
    """The store a read-only command (list, score, report, export...) works on; it must exist.
    A store that cannot be written is opened read-only; a file that is not a store is refused."""
    from vscbench.store import Store, StoreError

    if path.is_dir():
        fail(f"--store {path} is a folder, not a store; give the path of a store file (default runs.sqlite)")
    if not path.is_file():
        fail(f"no store at {path}; run `vscbench run --data DIR --model SPEC --store {path}` first, or pass --store")
    try:
        return Store(path)
    except StoreError as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


def writable_output(path: Path, option: str = "--out", folder_ok: bool = False) -> Path:
    """``path`` if a command can write it; else a one-line error. No folder is created on the
    way: a typo in ``--out /nonexistent/dir/r.html`` must not leave folders at the root."""
    path = path.expanduser()
    if path.is_dir() and not folder_ok:
        fail(f"{option} {path} is a folder; give a file name in it (e.g. {path / 'out'}{path.suffix})")
    parent = path.parent
    if not parent.exists():
        fail(f"{option} {path}: the folder {parent} does not exist; create it first (mkdir -p {parent}) "
             "or choose another path")  # fmt: skip
    if not parent.is_dir():
        fail(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail(f"{option} {path} cannot be written (no permission); choose a path you can write")
    return path


def user_error(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix (a bad store, a missing key, a file
    that cannot be read or written), or None for a bug, which keeps its traceback."""
    from vscbench.locations import OutputError
    from vscbench.models.base import ModelSpecError
    from vscbench.store.file import StoreError

    if isinstance(exc, (StoreError, ModelSpecError, OutputError)):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        where = exc.filename if not exc.filename2 else f"{exc.filename} -> {exc.filename2}"
        return f"{where}: {exc.strerror or exc} (check that the path exists and you may read or write it)"
    return None


class GuardedGroup(TyperGroup):
    """The root command group: an error the user can fix (:func:`user_error`) is printed as one
    line and exits 2, whichever command raised it; anything else is a bug and keeps its
    traceback (so does everything when VSCBENCH_DEBUG is set)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.exceptions.TyperException:  # Exit, Abort, usage errors: Typer's own
            raise
        except Exception as exc:
            message = user_error(exc)
            if message is None or os.environ.get("VSCBENCH_DEBUG"):
                raise
            err_console.print(f"[bold red]error:[/bold red] {plain(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
