"""Default places on disk, in a module that imports nothing, so ``vscbench --help`` stays fast."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STORE = Path("vscbench-runs") / "store.sqlite"
"""The SQLite store every command reads and writes unless ``--store`` names another."""
