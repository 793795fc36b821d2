"""What an experiment reads before it runs: the benchmark's samples and the backends' options.

Kept apart from :mod:`vscbench.experiment.run` (the run loop) so that both the
experiment and other entry points (Inspect tasks, ``steer build-data``) load data the same way.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vscbench.schema import Sample


class ExperimentError(ValueError):
    """An experiment that cannot run as given; the message says what to change."""


@dataclass
class LoadedPool:
    """The benchmark's samples before selection, and a one-line note on data defects."""

    samples: list[Sample]
    note: str | None = None
    placeholder: bool = False
    """The images are generated placeholders: every run made from them records it."""


def load_pool(
    benchmark: str,
    data: str,
    subset: str = "all",
    figstep_instruction: str | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    as_released: bool = False,
) -> LoadedPool:
    """Every sample of a benchmark's data (the selection comes after). ``options`` go to the
    benchmark's loader (``vscbench benchmarks list`` shows each one's); ``as_released`` gives
    VSCBench's samples as its released code asks them (``--preset paper``)."""
    from vscbench.benchmarks.findings import DatasetError

    try:
        if benchmark == "vscbench":
            from vscbench.benchmarks.samples import load_samples

            extra = {key: value for key, value in (options or {}).items() if key in ("strict", "cache_dir")}
            loaded = load_samples(data, subset=subset, warn=False, figstep_instruction=figstep_instruction,
                                  as_released=as_released, **extra)  # fmt: skip
            report = loaded.report
            note = None
            if report is not None and (report.findings or report.unusable or report.placeholder):
                note = f"data: {report.summary()} (details: `vscbench data check {data}`)"
            return LoadedPool(list(loaded.samples), note, placeholder=bool(report and report.placeholder))
        from vscbench.benchmarks.utility.loader import BENCHMARKS as UTILITY

        if benchmark in UTILITY:
            from vscbench.benchmarks.utility.loader import load_utility

            utility = load_utility(benchmark, data or None, seed=seed, **(options or {}))
            return LoadedPool(list(utility.samples), None)
        from vscbench.benchmarks.registry import load_benchmark

        other = load_benchmark(benchmark, data, **(options or {}))
        return LoadedPool(list(other.samples), f"data: {other.report.summary()}" if other.report else None)
    except DatasetError as exc:
        raise ExperimentError(str(exc)) from None


def fold_benchmark_options(selection: dict[str, Any]) -> dict[str, Any]:
    """A selection's settings with its ``benchmark_options`` checked and typed: an option no
    loader of that benchmark takes is an error naming the close match, and VSCBench's own
    ``subset`` and ``variants`` options become the selection's subset and variants (so
    ``-B variants=typography`` asks only typography samples, and the run records it)."""
    options = selection.get("benchmark_options") or {}
    if not options or not isinstance(options, dict):
        return selection
    benchmark = str(selection.get("benchmark") or "vscbench")
    from vscbench.benchmarks.utility.loader import BENCHMARKS as UTILITY

    if benchmark in UTILITY:
        from vscbench.benchmarks.utility.loader import load_utility

        allowed = [name for name, p in inspect.signature(load_utility).parameters.items()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "seed"]  # fmt: skip
        for key in options:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(f"{benchmark} has no option {key!r}; {hint}its options: {', '.join(allowed)}")
        return selection
    from vscbench.benchmarks.registry import parse_options

    typed = parse_options(benchmark, options)
    out = dict(selection)
    if benchmark == "vscbench":
        subset = typed.pop("subset", None)
        if subset is not None:
            if out.get("subset", "all") not in ("all", subset):
                raise ValueError(f"subset {out['subset']!r} and benchmark option subset={subset!r} disagree; give one")
            out["subset"] = subset
        variants = typed.pop("variants", None)
        if variants is not None:
            given = out.get("variants")
            if given and sorted(given) != sorted(variants):
                raise ValueError(
                    f"variants {given} and benchmark option variants={','.join(variants)} disagree; give one"
                )
            out["variants"] = list(variants)
    out["benchmark_options"] = typed
    return out


def normalise_subset(selection: dict[str, Any]) -> dict[str, Any]:
    """A VSCBench subset as the docs and summaries write it: ``text-only`` or ``text_only`` (the
    450 queries without an image: text-centric samples of variant ``text``), ``image-centric``
    and ``text-centric`` with a hyphen."""
    subset = selection.get("subset")
    if not isinstance(subset, str) or str(selection.get("benchmark") or "vscbench") != "vscbench":
        return selection
    out = {**selection, "subset": subset.strip().lower().replace("-", "_")}
    if out["subset"] == "text_only":
        given = out.get("variants")
        if given and list(given) != ["text"]:
            raise ValueError(f"subset text_only holds only the variant text; variants {given} ask for others")
        out.update(subset="text_centric", variants=["text"])
    return out


def check_selection_values(samples: Sequence[Sample], variants: Sequence[str] | None,
                           categories: Sequence[str] | None, data: str) -> None:  # fmt: skip
    """Refuse a variant or category the data does not have, listing the ones it has (a typo
    would otherwise read as "no sample matches")."""
    for what, asked, known in (
        ("variant", variants or [], sorted({s.variant for s in samples})),
        ("category", categories or [], sorted({s.category for s in samples} | {str(s.meta["type"]) for s in samples
                                                                               if s.meta.get("type")})),
    ):  # fmt: skip
        for value in asked:
            if value not in known:
                close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ExperimentError(
                    f"--{what} {value!r} is not in {data}; {hint}its {what} values: {', '.join(known)}"
                )


def parse_model_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["dtype=float16", "batch_size=4", "trust_remote_code=true"]`` -> typed options."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ExperimentError(f"model option {pair!r} is not KEY=VALUE, e.g. -M dtype=bfloat16")
        options[key.strip().replace("-", "_")] = _typed(value.strip())
    return options


def _typed(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def check_model_options(provider: str, options: dict[str, Any]) -> None:
    """Refuse, before anything loads, an option the backend does not take."""
    if not options:
        return
    from vscbench.models.base import BACKENDS

    module_name, _, factory_name = BACKENDS[provider].partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except ImportError:
        return  # the backend's own import error is reported when the model loads
    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name in parameters if name not in ("self", "spec")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ExperimentError(
            f"model option(s) {', '.join(unknown)} are not known by the {provider} backend; it takes: {', '.join(accepted)}"
        )


#: Backends whose models are called over HTTP with a key.
API_PROVIDERS = ("openai", "anthropic", "google")


def check_access(models: Sequence[str], judges: Sequence[str], base_urls: str | None = None,
                 model_options: dict[str, Any] | None = None, judge_options: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Refuse now, before any data is fetched or any call is made, a model or an LLM judge that
    cannot be used (no API key, a key that is not one line, a package that is not installed):
    otherwise a judge's missing key is found after every model call was paid for."""
    import asyncio

    from vscbench.judges.registry import JudgeSpecError, get_judge
    from vscbench.models.base import ModelSpec, ModelSpecError, load_model

    try:
        for model in models:
            spec = ModelSpec.parse(model, base_urls)
            if spec.provider in API_PROVIDERS:
                options = {k: v for k, v in (model_options or {}).items() if k in ("api_key", "base_url")}
                asyncio.run(load_model(spec, **options).aclose())
        for name in judges:
            judge = get_judge(name, **(judge_options or {})) if ":" in name.removeprefix("vote:") else get_judge(name)
            for member in [judge, *getattr(judge, "judges", [])]:
                check = getattr(member, "check_access", None)
                if check is not None:
                    check()
    except (ModelSpecError, JudgeSpecError) as exc:
        raise ExperimentError(str(exc)) from None


def figstep_used(samples: Sequence[Sample], asked: str | None) -> str | None:
    """The FigStep instruction a run's FigStep samples send (``None`` when it has none)."""
    prompts = {sample.prompt for sample in samples if sample.variant == "figstep"}
    return next(iter(prompts)) if len(prompts) == 1 else (asked if prompts else None)


def without_credentials(url: str) -> str:
    """``http://user:pass@host/v1?api-key=K`` -> ``http://host/v1``
    (:func:`vscbench.models.http.public_url`)."""
    from vscbench.models.http import public_url

    return public_url(url)


def text_layers_from_config(name: str) -> int:
    """A checkpoint's text depth from its config only (a dry run loads no weights)."""
    from transformers import AutoConfig

    try:
        return int(AutoConfig.from_pretrained(name).get_text_config().num_hidden_layers)
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"cannot read the config of {name} to resolve the iar layer: {exc}") from None


#: Backends that call a provider over HTTP: they take ``timeout`` and ``max_retries``.
API_PROVIDERS = ("openai", "anthropic", "google")


def call_deadline(timeout: float, max_retries: int) -> float:
    """The most one call may take, every retry included: each attempt's deadline, plus the
    waits between attempts (the SDKs back off for at most a minute in all)."""
    return timeout * (max_retries + 1) + 60
