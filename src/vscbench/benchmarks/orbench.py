"""OR-Bench (Cui et al., 2024): over-refusal on prompts that only seem toxic, next to toxic ones.

The Hub dataset ``bench-llm/or-bench`` publishes three CSV files at its root, each with the
columns ``prompt, category`` (ten categories: deception, harassment, harmful, hate, illegal,
privacy, self-harm, sexual, unethical, violence):

* ``or-bench-hard-1k.csv`` (1,319 seemingly toxic but safe prompts, the hard subset): safe;
* ``or-bench-toxic.csv`` (655 toxic prompts, the control): unsafe;
* ``or-bench-80k.csv`` (80k seemingly toxic prompts): safe, left out unless asked for.

The prompts are not paired, so OR-Bench reports SRA_s (hard-1k answered), SRA_u (toxic refused)
and their mean, without pair calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, make_sample, not_bundled
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import Table, is_saved_dataset, parse_hub, prompt_text, read_hub, read_table, text

SETS = {"hard-1k": "safe", "toxic": "unsafe", "80k": "safe"}
FILES = {name: f"or-bench-{name}.csv" for name in SETS}
EXPECTED = {"hard-1k": 1319, "toxic": 655, "80k": 80359}
CATEGORIES = (
    "deception", "harassment", "harmful", "hate", "illegal",
    "privacy", "self-harm", "sexual", "unethical", "violence",
)  # fmt: skip

INFO = BenchmarkInfo(
    name="orbench",
    title="OR-Bench",
    modality="text",
    measures=("sra_s", "sra_u", "sra_a"),
    labels=("safe", "unsafe"),
    pairs=False,
    description=(
        "Text over-refusal at scale: OR-Bench-Hard-1K prompts only seem toxic (should be answered), "
        "OR-Bench-Toxic prompts are toxic (should be refused); ten categories, no pairs."
    ),
    licence="CC-BY-4.0",
    url="https://huggingface.co/datasets/bench-llm/or-bench",
    paper="https://arxiv.org/abs/2405.20947",
    get_it=(
        "download or-bench-hard-1k.csv and or-bench-toxic.csv from "
        "https://huggingface.co/datasets/bench-llm/or-bench and pass their folder (or one file), "
        "or use hf:bench-llm/or-bench@COMMIT"
    ),
    expected_files=(FILES["hard-1k"], FILES["toxic"]),
    expected_samples=EXPECTED["hard-1k"] + EXPECTED["toxic"],
    hub_id="bench-llm/or-bench",
    hub_configs=("or-bench-hard-1k", "or-bench-toxic", "or-bench-80k"),
    variants=("text",),
    aliases=("or-bench",),
    options=(
        ("sets", "which files to load: hard-1k (safe), toxic (unsafe), 80k (safe); default hard-1k,toxic"),
        ("split", "split of a saved or hub dataset (the hub copy has 'train')"),
        ("revision", "hub commit to load (the dataset has no pinned one here: give it)"),
    ),
)


def _set_of(name: str) -> str | None:
    lowered = name.lower()
    for key in ("toxic", "hard-1k", "80k"):
        if key in lowered or key.replace("-", "_") in lowered:
            return key
    return "hard-1k" if "hard" in lowered else None


def _tables(data: str | Path, sets: Sequence[str], split: str | None, revision: str | None) -> list[tuple[str, Table]]:
    """One table per set, from a hub id, a folder of the CSV files, one CSV, or a saved dataset."""
    ref = parse_hub(data)
    if ref is not None:
        pinned = ref.revision or revision
        return [(s, read_hub(ref, f"or-bench-{s}", split or "train", pinned)) for s in sets]
    path = Path(data).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist. {not_bundled(INFO)}")
    if path.is_file() or is_saved_dataset(path):
        found = _set_of(path.name)
        if found is None and len(sets) == 1:
            found = sets[0]
        if found is None:
            raise DatasetError(
                f"{path.name} does not say which OR-Bench file it is (hard-1k, toxic or 80k in its name); "
                "rename it as published (or-bench-hard-1k.csv, or-bench-toxic.csv) or pass sets=NAME."
            )
        return [(found, read_table(path, split))]
    tables = [(s, read_table(path / FILES[s], split)) for s in sets if (path / FILES[s]).is_file()]
    if not tables:
        raise DatasetError(f"{path} holds none of {', '.join(FILES[s] for s in sets)}. {not_bundled(INFO)}")
    return tables


def load(
    data: str | Path,
    *,
    sets: Sequence[str] = ("hard-1k", "toxic"),
    split: str | None = None,
    revision: str | None = None,
) -> LoadedBenchmark:
    """OR-Bench: seemingly toxic prompts (safe) and toxic prompts (unsafe), one sample per row."""
    wanted = [sets] if isinstance(sets, str) else list(sets)
    unknown = [s for s in wanted if s not in SETS]
    if unknown or not wanted:
        raise DatasetError(f"unknown OR-Bench set(s) {unknown or wanted}; use {', '.join(SETS)}")
    tables = _tables(data, wanted, split, revision)
    report = BenchmarkReport("orbench", ", ".join(t.file for _, t in tables))
    for absent in [s for s in wanted if s not in {n for n, _ in tables}]:
        side = "SRA_u" if SETS[absent] == "unsafe" else "SRA_s"
        report.add("missing_file", str(data), None, None,
                   f"{FILES[absent]} was not loaded, so there is no {side} from it; pass its folder or the file too",
                   "warning")  # fmt: skip
    samples = []
    for name, table in tables:
        if "prompt" not in table.columns:
            raise DatasetError(
                f"{table.file} has no 'prompt' column (it has {', '.join(table.columns) or 'none'}); "
                f"OR-Bench files have the columns prompt, category. {INFO.get_it}."
            )
        if "category" not in table.columns:
            report.add(
                "missing_column",
                table.file,
                None,
                "category",
                "no 'category' column; categories are 'unknown'",
                "warning",
            )
        for row, record in table.rows:
            category = text(record.get("category")).lower()
            prompt, why = prompt_text(report, table.file, row, "prompt", record.get("prompt"))
            if why:
                report.unusable[f"orbench/{name}/r{row}"] = why
                continue
            if category and category not in CATEGORIES:
                report.add("unknown_category", table.file, row, "category",
                           f"category {category!r} is not one of OR-Bench's ten", "warning")  # fmt: skip
            samples.append(
                make_sample(
                    "orbench", f"{name}/r{row}", category=category or "unknown", variant="text",
                    label=SETS[name], prompt=prompt, source_file=table.file, source_row=row, meta={"set": name},
                )
            )  # fmt: skip
    report.expected = sum(EXPECTED[name] for name, _ in tables)
    return finish(INFO, samples, report, str(data))
