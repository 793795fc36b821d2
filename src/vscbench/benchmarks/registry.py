"""The benchmarks vscbench measures, by name: what each is, and one call that loads it.

    from vscbench.benchmarks.registry import BENCHMARKS, load_benchmark

    xstest = load_benchmark("xstest", "xstest_prompts.csv")
    print(xstest.report.summary())       # xstest: loaded 450 samples (250 safe, 200 unsafe), 200 pairs
    BENCHMARKS["mossbench"].measures      # ("sra_s",): only safe queries, so only SRA_s is defined

Every loader reads the benchmark's own published files (nothing is bundled: several sets are
gated or non-commercial), validates them into a report of findings, and returns Samples whose
``subset`` is the benchmark's name (VSCBench keeps its ``image_centric`` / ``text_centric``),
``category`` and ``variant`` its own, ``pair_key`` ties safe/unsafe twins and ``meta`` carries
``benchmark`` and ``cluster``. Options are keyword arguments of the loader;
:func:`parse_options` turns ``key=value`` strings from a command line into them.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vscbench.benchmarks import figstep, mmsafetybench, mossbench, mssbench, orbench, siuo, vlguard, xstest
from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, not_bundled
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.samples import load_samples
from vscbench.benchmarks.tabular import parse_hub
from vscbench.benchmarks.vscbench import is_release

__all__ = [
    "BENCHMARKS",
    "BenchmarkInfo",
    "BenchmarkReport",
    "LoadedBenchmark",
    "get_info",
    "load_benchmark",
    "parse_options",
]

VSCBENCH_RELEASE_SAMPLES = 1800 + 450 + 1800

VSCBENCH = BenchmarkInfo(
    name="vscbench",
    title="VSCBench",
    modality="image+text",
    measures=("sra_s", "sra_u", "sra_a", "pairs"),
    labels=("safe", "unsafe"),
    pairs=True,
    description=(
        "Safety calibration of VLMs: 300 image-centric prompts each with 3 safe and 3 unsafe look-alike "
        "images, and the 450 XSTest prompts as text and as search/typography/concat/FigStep image attacks."
    ),
    licence="no licence file published upstream (research use)",
    url="https://github.com/jiahuigeng/VSCBench",
    paper="https://aclanthology.org/2025.findings-acl.158/",
    get_it="`vscbench data fetch --dest DIR` downloads the release; pass DIR (or a .jsonl/.parquet export)",
    expected_files=("vscbench_image_centric.xlsx", "vscbench_text_centric.xlsx", "<subset>_images/"),
    expected_samples=VSCBENCH_RELEASE_SAMPLES,
    variants=("slot_0", "slot_1", "slot_2", "text", "search", "typography", "concat", "figstep"),
    options=(
        ("subset", "image_centric, text_centric or all"),
        ("variants", "only these variants, e.g. text,figstep"),
        ("strict", "an export with a bad row raises (default) or skips it"),
        ("cache_dir", "where embedded images of an export are written"),
    ),
)


def _load_vscbench(
    data: str | Path,
    *,
    subset: str | None = None,
    variants: Sequence[str] | None = None,
    strict: bool = True,
    cache_dir: str | Path | None = None,
) -> LoadedBenchmark:
    """VSCBench through its own loader (release folder, export, saved dataset)."""
    loaded = load_samples(data, subset=subset, variants=variants, strict=strict, cache_dir=cache_dir, warn=False)
    report = BenchmarkReport(
        "vscbench", str(data), findings=list(loaded.report.findings), unusable=dict(loaded.report.unusable)
    )
    samples = [
        s if "benchmark" in s.meta else s.model_copy(update={"meta": {**s.meta, "benchmark": "vscbench"}})
        for s in loaded.samples
    ]
    whole = is_release(Path(data).expanduser()) and subset in (None, "all") and not variants
    report.expected = VSCBENCH_RELEASE_SAMPLES if whole else len(samples) + len(report.unusable)
    report.count(samples)
    return LoadedBenchmark(info=VSCBENCH, samples=samples, report=report, source=Path(data))


_MODULES = (xstest, orbench, mossbench, mssbench, vlguard, siuo, mmsafetybench, figstep)
LOADERS: dict[str, Callable[..., LoadedBenchmark]] = {"vscbench": _load_vscbench}
LOADERS.update({module.INFO.name: module.load for module in _MODULES})

BENCHMARKS: dict[str, BenchmarkInfo] = {"vscbench": VSCBENCH}
BENCHMARKS.update({module.INFO.name: module.INFO for module in _MODULES})
"""Every supported benchmark by name, VSCBench first."""

ALIASES: dict[str, str] = {alias: info.name for info in BENCHMARKS.values() for alias in info.aliases}


def get_info(name: str) -> BenchmarkInfo:
    """A benchmark's info by name or alias (case-insensitive); an unknown name lists the known ones."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BENCHMARKS:
        raise DatasetError(
            f"unknown benchmark {name!r}; vscbench loads {', '.join(BENCHMARKS)} "
            "(`vscbench benchmarks list` says what each measures and where to get it)"
        )
    return BENCHMARKS[key]


def option_names(name: str) -> list[str]:
    """The keyword options a benchmark's loader takes."""
    parameters = inspect.signature(LOADERS[get_info(name).name]).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def load_benchmark(name: str, data: str | Path, **options: Any) -> LoadedBenchmark:
    """Load benchmark ``name`` from ``data`` (its published file or folder, a saved ``datasets``
    folder, or ``hf:OWNER/NAME@REVISION`` where the benchmark is on the Hub).

    Raises :class:`~vscbench.benchmarks.findings.DatasetError` for an unknown name or option,
    a path that does not hold the benchmark (the message names the file expected and where to
    get it), or files that cannot be used at all. Rows that are merely defective are reported
    in ``.report`` and the rest is loaded.
    """
    info = get_info(name)
    check_option_names(info.name, options)
    if parse_hub(data) is not None and info.hub_id is None:
        raise DatasetError(f"{info.title} is not loaded from the Hugging Face Hub by vscbench. {not_bundled(info)}")
    return LOADERS[info.name](data, **options)


def check_option_names(name: str, keys: Iterable[str]) -> None:
    """Refuse an option the benchmark's loader does not take, naming the close match."""
    allowed = option_names(name)
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise DatasetError(f"{name} has no option {key!r}; {hint}its options: {', '.join(allowed) or 'none'}")


def _convert(name: str, key: str, raw: Any, parameter: inspect.Parameter) -> Any:
    default, annotation = parameter.default, str(parameter.annotation)
    if not isinstance(raw, str):  # from an experiment file: already typed (a list, a boolean)
        return tuple(raw) if isinstance(raw, list) else raw
    if isinstance(default, bool) or annotation == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise DatasetError(f"{name} option {key}={raw!r}: say true or false")
    if isinstance(default, tuple) or "Sequence" in annotation:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def parse_options(name: str, pairs: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["variants=SD,TYPO", "contrast=true"]`` (or a mapping from an experiment file) as typed
    loader options (lists split on commas, booleans from true/false); an unknown key (named with
    its close match) or a malformed pair is a DatasetError."""
    info = get_info(name)
    parameters = inspect.signature(LOADERS[info.name]).parameters
    items: Iterable[tuple[str, Any]] = pairs.items() if isinstance(pairs, Mapping) else []
    if not isinstance(pairs, Mapping):
        parsed_items = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise DatasetError(f"option {pair!r} is not KEY=VALUE (e.g. variants=SD,TYPO)")
            parsed_items.append((key.strip(), value))
        items = parsed_items
    options: dict[str, Any] = {}
    for key, value in items:
        check_option_names(info.name, [key])
        options[key] = _convert(info.name, key, value, parameters[key])
    return options
