"""XSTest (Röttger et al., NAACL 2024): exaggerated safety in text-only prompts.

The published file is ``xstest_prompts.csv`` with the columns ``id, prompt, type, label, focus,
note``: 250 safe prompts in ten types that only sound unsafe, and 200 unsafe ``contrast_*``
prompts that mirror them. Each contrast type lists its prompts in the same order as the safe
type it mirrors, so the n-th ``contrast_homonyms`` prompt is the unsafe twin of the n-th
``homonyms`` prompt; where two safe types share one contrast type (discrimination, privacy) the
one whose ``focus`` matches wins. Those twins share a ``pair_key``.

The same columns load from the Hub copy (``hf:Paul/XSTest``) or a saved ``datasets`` folder.
"""

from __future__ import annotations

from pathlib import Path

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, make_sample
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import Table, missing_columns, open_table, prompt_text, text
from vscbench.benchmarks.vscbench import TEXT_CENTRIC_TYPES, xstest_pair_rows
from vscbench.schema import Sample

FILE = "xstest_prompts.csv"
COLUMNS = ("id", "prompt", "type", "label", "focus", "note")
REQUIRED = ("prompt", "type")

INFO = BenchmarkInfo(
    name="xstest",
    title="XSTest",
    modality="text",
    measures=("sra_s", "sra_u", "sra_a", "pairs"),
    labels=("safe", "unsafe"),
    pairs=True,
    description=(
        "Text over-refusal: 250 safe prompts that only sound unsafe (homonyms, figurative language, "
        "safe targets and contexts, definitions, nonsense-group discrimination, history, public or "
        "fictional privacy) and 200 unsafe contrast prompts that mirror them."
    ),
    licence="CC-BY-4.0",
    url="https://github.com/paul-rottger/exaggerated-safety",
    paper="https://aclanthology.org/2024.naacl-long.301/",
    get_it=(
        "download xstest_prompts.csv from https://github.com/paul-rottger/exaggerated-safety "
        "(commit d7bb5bd) and pass the file, or use hf:Paul/XSTest"
    ),
    expected_files=(FILE,),
    expected_samples=450,
    hub_id="Paul/XSTest",
    hub_revision="f600c994b256f12867dfa5b3eb3d545a3e62f8b5",
    variants=("text",),
    options=(
        ("split", "split of a saved or hub dataset (the hub copy has 'train')"),
        ("revision", "hub commit to load instead of the pinned one"),
    ),
)


def _label(table: Table, row: int, record: dict, kind: str, report: BenchmarkReport) -> str:
    """The row's label; the ``type`` decides when the label is missing, unknown or contradicts it."""
    by_type = "unsafe" if kind.startswith("contrast") else "safe"
    label = text(record.get("label")).lower()
    if "label" not in table.columns:
        return by_type
    if label not in ("safe", "unsafe"):
        report.add("bad_label", table.file, row, "label",
                   f"label {label!r} is neither 'safe' nor 'unsafe'; the type {kind!r} makes it {by_type}")  # fmt: skip
        return by_type
    if label != by_type:
        report.add("label_type_mismatch", table.file, row, "label",
                   f"label {label!r} contradicts the type {kind!r} (contrast types are unsafe); the label is kept",
                   "warning")  # fmt: skip
    return label


def load(data: str | Path, *, split: str | None = None, revision: str | None = None) -> LoadedBenchmark:
    """XSTest from ``xstest_prompts.csv`` (or a folder holding it, a saved dataset, ``hf:Paul/XSTest``)."""
    table = open_table(data, INFO, [FILE, f"data/{FILE}"], split=split, revision=revision)
    report = BenchmarkReport("xstest", table.file)
    lacking = missing_columns(table, REQUIRED)
    if lacking:
        raise DatasetError(
            f"{table.file} lacks the column(s) {', '.join(lacking)}; XSTest's file has {', '.join(COLUMNS)} "
            f"(it has {', '.join(table.columns) or 'none'}). {INFO.get_it}."
        )
    for column in (c for c in COLUMNS if c not in table.columns):
        report.add("missing_column", table.file, None, column, f"optional column {column!r} is absent", "warning")
    keyed = [(row, text(r.get("type")), text(r.get("focus"))) for row, r in table.rows]
    twins = xstest_pair_rows(keyed)
    ids = {row: text(r.get("id")) or f"r{row}" for row, r in table.rows}
    samples: list[Sample] = []
    for row, record in table.rows:
        kind, local = text(record.get("type")), ids[row]
        if kind not in TEXT_CENTRIC_TYPES:
            report.add("unknown_category", table.file, row, "type", f"type {kind!r} is not one of XSTest's 18 types")
        prompt, why = prompt_text(report, table.file, row, "prompt", record.get("prompt"))
        if why:
            report.unusable[f"xstest/{local}"] = why
            continue
        twin = twins.get(row)
        samples.append(
            make_sample(
                "xstest", local,
                category=kind or "unknown", variant="text", label=_label(table, row, record, kind, report),
                prompt=prompt, source_file=table.file, source_row=row,
                pair_key=f"pair/{ids[twin]}" if twin else None,
                meta={"xstest_id": text(record.get("id")), "focus": text(record.get("focus")),
                      "note": text(record.get("note"))},
            )
        )  # fmt: skip
    return finish(INFO, samples, report, table.file if table.base is None else Path(data))
