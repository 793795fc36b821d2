"""Command-line interface. Thin: every command parses its options, calls one library function
and prints the result.

Each module in this package registers its commands on :data:`vscbench.cli.app.app`; they are
imported here by discovery so that command groups can be added without touching this file.
"""

from __future__ import annotations

import importlib
import pkgutil

from vscbench.cli.app import app

#: Modules whose commands open ``vscbench --help``, in this order; the rest follow by name.
_FIRST = ("quickstart", "demo", "run", "runs", "evaluate", "report", "steer")

for _name in sorted(
    (info.name for info in pkgutil.iter_modules(__path__) if info.name not in {"app", "common", "progress"}),
    key=lambda name: (_FIRST.index(name) if name in _FIRST else len(_FIRST), name),
):
    importlib.import_module(f"{__name__}.{_name}")


def main() -> None:
    app()


__all__ = ["app", "main"]
