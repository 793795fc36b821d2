"""The keys an experiment is written with, mapped to the typed record's places.

One vocabulary with the command line: a section's keys are the names of ``vscbench run``'s
options (``max_tokens``, ``limit``, ``concurrency``, ``rule``), and a repeatable option may be
written singular or plural (``judge``/``judges``, ``variant``/``variants``, ``model``/``models``).
The flat layout of earlier versions (``limit = 200`` at the top, ``judge_with_image``) still
loads: each flat key is moved to its section and noted as deprecated. A key that is none of
these is an error naming the close match, so a typo never silently runs the default.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

#: Top-level fields of the experiment (besides the sections).
TOP = ("models", "methods", "store", "run_name", "preset")
#: Fields of each section.
SECTIONS: dict[str, tuple[str, ...]] = {
    "selection": ("data", "benchmark", "benchmark_options", "subset", "variants", "categories", "limit", "seed",
                  "figstep_instruction", "same_samples"),
    "generation": ("max_tokens", "temperature", "top_p", "seed", "system_prompt", "max_image_side",
                   "response_schema", "image_format", "text_first", "call_style"),
    "execution": ("concurrency", "concurrency_per_endpoint", "timeout", "max_retries", "ray", "ray_address",
                  "replicas", "gpus_per_replica", "allow_errors", "base_urls", "model_options", "mode",
                  "batch_requests", "batch_mb", "batch_poll", "batch_retry", "batch_wait", "max_cost", "prices"),
    "judging": ("judges", "with_image", "rubric", "options", "judge_input"),
    "scoring": ("rule", "failures", "intervals"),
}  # fmt: skip
#: Other names of a field: the command line's singular options and earlier flat names.
ALIASES = {
    "model": "models", "method": "methods", "run": "run_name", "variant": "variants", "category": "categories",
    "benchmark_option": "benchmark_options", "base_url": "base_urls", "model_option": "model_options",
    "judge": "judges", "judge_with_image": "with_image", "judge_rubric": "rubric", "judge_options": "options",
    "execution": "mode",
}  # fmt: skip
#: Options of local backends that the command line has as options of their own: they go to
#: ``execution.model_options``.
BACKEND_OPTIONS = ("device", "dtype", "batch_size", "trust_remote_code")
#: Fields that hold a list; a single string is taken as a list of one.
LISTS = ("models", "methods", "variants", "categories", "base_urls", "judges")
#: Where a flat key goes. ``seed`` at the top is the selection's seed (as in earlier versions).
FLAT_HOME = {field: section for section, fields in reversed(list(SECTIONS.items())) for field in fields}
FLAT_HOME.update({option: "execution" for option in BACKEND_OPTIONS})


#: Command-line options whose name is not the field's (``run_name`` is ``--run``).
OPTIONS = {"run_name": "--run", "models": "--model", "methods": "--method", "judges": "--judge",
           "variants": "--variant", "categories": "--category", "base_urls": "--base-url",
           "model_options": "--model-option", "benchmark_options": "--benchmark-option", "store": "--store",
           "options": "[judging] options"}  # fmt: skip


def option_name(where: str) -> str:
    """The command-line option of a setting named by its place (``generation.system_prompt`` ->
    ``--system-prompt``, ``models[0]`` -> ``--model``, ``execution.model_options.api_key`` ->
    ``--model-option``)."""
    parts = [part.split("[")[0] for part in where.split(".")]
    field = next((part for part in parts if part in OPTIONS), parts[-1] if len(parts) < 3 else parts[1])
    return OPTIONS.get(field, "--" + field.replace("_", "-"))


def _known(section: str | None) -> list[str]:
    if section is None:
        return [*TOP, *SECTIONS, *ALIASES, *FLAT_HOME]
    return [*SECTIONS[section], *(a for a, f in ALIASES.items() if f in SECTIONS[section]),
            *(BACKEND_OPTIONS if section == "execution" else ())]  # fmt: skip


def not_one_of(what: str, value: object, choices: list[str] | tuple[str, ...]) -> ValueError:
    """``rule 'papr' is not one of paper, lenient, strict; did you mean 'paper'?``"""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"{what} {value!r} is not one of {', '.join(choices)}{hint}")


def unknown_key(key: str, section: str | None) -> ValueError:
    where = f"[{section}] " if section else ""
    close = difflib.get_close_matches(key, _known(section), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown setting {where}{key!r}{hint}")


def _snake(key: str) -> str:
    """A key as written in a file or as the command line spells it (``max-tokens``) -> the
    field's name (``max_tokens``)."""
    return key.replace("-", "_") if isinstance(key, str) else key


def _as_list(name: str, value: Any) -> Any:
    return [value] if name in LISTS and isinstance(value, str) else value


def _put(target: dict[str, Any], name: str, value: Any, where: str) -> None:
    if name in target:
        raise ValueError(f"setting {where}{name!r} is given twice (under two of its names)")
    target[name] = _as_list(name, value)


def _section(name: str, given: Any) -> Any:
    if isinstance(given, BaseModel):  # a typed sub-record, built in code
        return given
    if not isinstance(given, dict):
        raise ValueError(f"[{name}] must be a table of settings, not {type(given).__name__}")  # noqa: TRY004 (pydantic reports ValueError)
    out: dict[str, Any] = {}
    for written, value in given.items():
        key = _snake(written)
        field = ALIASES.get(key, key)
        if field in SECTIONS[name]:
            _put(out, field, value, f"[{name}] ")
        elif name == "execution" and key in BACKEND_OPTIONS:
            out.setdefault("model_options", {})[key] = value
        else:
            raise unknown_key(key, name)
    return out


def normalise(given: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The settings in the typed layout: sections for the sub-records, canonical names.

    Flat keys of earlier versions are moved to their section and a line is added to ``notes``.
    Raises ``ValueError`` for an unknown key (naming the close match) or one given twice.
    """
    out: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    flat: dict[str, dict[str, Any]] = {}
    moved: dict[str, list[str]] = {}
    for written, value in given.items():
        key = _snake(written)
        if key in SECTIONS:
            sections[key] = _section(key, value)
            continue
        field = ALIASES.get(key, key)
        if field in TOP:
            _put(out, field, value, "")
        elif key in BACKEND_OPTIONS:
            flat.setdefault("execution", {}).setdefault("model_options", {})[key] = value
            moved.setdefault("execution", []).append(key)
        elif field in FLAT_HOME:
            home = FLAT_HOME[field]
            _put(flat.setdefault(home, {}), field, value, "")
            moved.setdefault(home, []).append(field)
        else:
            raise unknown_key(key, None)
    for home, values in flat.items():
        section = sections.setdefault(home, {})
        if isinstance(section, BaseModel):
            section = sections[home] = section.model_dump(exclude_unset=True)
        for field, value in values.items():
            if field == "model_options" and isinstance(section.get(field), dict):
                section[field] = {**value, **section[field]}
            elif field in section:
                raise ValueError(f"setting {field!r} is given both at the top level and under [{home}]")
            else:
                section[field] = value
    out.update(sections)
    if moved:
        where = "; ".join(f"[{home}] {', '.join(fields)}" for home, fields in moved.items())
        notes.append(f"flat settings are deprecated; write them in their sections: {where}")
    return out
