"""Experiment files: reading TOML, YAML or JSON safely, and writing the typed form as JSON or YAML.

A file is whatever a user (or a colleague's repository) hands over, so it is read with bounds:
at most :data:`MAX_FILE_BYTES`, and a parsed value of at most :data:`MAX_NODES` values once YAML
aliases are expanded (an alias bomb of a few hundred bytes would otherwise expand to gigabytes
when the settings are validated or stored).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000
SUFFIXES = (".toml", ".yaml", ".yml", ".json")


class ExperimentFileError(ValueError):
    """An experiment file that cannot be read; the message names the file and what to do."""


def read_settings(path: str | Path) -> dict[str, Any]:
    """The table of settings a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file holds."""
    file = Path(path)
    if not file.is_file():
        raise ExperimentFileError(f"experiment file {file} does not exist")
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise ExperimentFileError(f"experiment file {file}: use a .toml, .yaml or .json file")
    if file.stat().st_size > MAX_FILE_BYTES:
        raise ExperimentFileError(
            f"experiment file {file} is over {MAX_FILE_BYTES // 2**20} MiB; is it the right file?"
        )
    try:
        text = file.read_text(encoding="utf-8")
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except UnicodeDecodeError as exc:
        raise ExperimentFileError(
            f"experiment file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except Exception as exc:  # noqa: BLE001 -- tomllib, yaml and json each raise their own error types
        raise ExperimentFileError(f"experiment file {file} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ExperimentFileError(f"experiment file {file} must hold a table of settings, not {type(data).__name__}")
    if _nodes(data, MAX_NODES) > MAX_NODES:
        raise ExperimentFileError(
            f"experiment file {file} expands to more than {MAX_NODES:,} values (YAML aliases?); write the settings out"
        )
    return data


def _nodes(value: Any, budget: int) -> int:
    """Values in ``value`` with aliases expanded, counting no further than past ``budget``."""
    count = 0
    stack = [value]
    while stack and count <= budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return count


def write_settings(settings: dict[str, Any], path: str | Path) -> Path:
    """Write settings as JSON (``.json``) or YAML (``.yaml``/``.yml``); returns the path. (TOML
    is read, not written: Python reads it without a dependency, and writes it only with one.)"""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".json":
        text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
    else:
        raise ExperimentFileError(f"cannot write an experiment as {file.name}: use a .json or .yaml file")
    file.write_text(text, encoding="utf-8")
    return file
