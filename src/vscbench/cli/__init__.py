"""Command-line interface. Thin: every command parses its options, calls one library function
and prints the result.

Each module in this package registers its commands on :data:`vscbench.cli.app.app`; they are
imported here by discovery so that command groups can be added without touching this file.
"""

from __future__ import annotations

import importlib
import pkgutil

from vscbench.cli.app import app

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.name not in {"app", "common"}:
        importlib.import_module(f"{__name__}.{_info.name}")


def main() -> None:
    app()


__all__ = ["app", "main"]
