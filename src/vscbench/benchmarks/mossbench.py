"""MOSSBench (Li et al., 2024): multimodal over-sensitivity, 300 benign image + query pairs.

Every query is harmless; the image holds a stimulus that makes models refuse anyway. So
MOSSBench measures SRA_s only (the share answered). Its published layout (GitHub
``xirui-li/MOSSBench``)::

    data/images_information/information.json   {"1": {"image": "images/1.png", "question": ...,
                                                  "short description", "description", "pid",
                                                  "metadata": {"over": "type 1", "human", "child",
                                                               "syn", "ocr", "harm": [7]}}, ...}
    data/images/<pid>.png

``metadata.over`` is the stimulus: type 1 exaggerated risk, type 2 negated harm, type 3
counterintuitive interpretation (100 each). The repository also has ``data_contrast/`` (same
layout, 244 unsafe rewrites of the queries on the same images); ``contrast=True`` loads them as
unsafe twins of their benign query (pairs). The Hub copy (``hf:AIcell/MOSSBench``, configs
``oversensitivity`` and ``contrast``) and saved ``datasets`` folders load too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, locate, make_sample
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import (
    Table,
    is_saved_dataset,
    load_json,
    parse_hub,
    prompt_text,
    read_hub,
    read_saved_dataset,
    records_table,
    text,
    usable_image,
)  # fmt: skip
from vscbench.schema import Sample

INFORMATION = "images_information/information.json"
STIMULI = {"1": "exaggerated_risk", "2": "negated_harm", "3": "counterintuitive_interpretation"}
FLAGS = ("human", "child", "syn", "ocr")

INFO = BenchmarkInfo(
    name="mossbench",
    title="MOSSBench",
    modality="image+text",
    measures=("sra_s",),
    labels=("safe",),
    pairs=False,
    description=(
        "Multimodal over-sensitivity: 300 harmless queries on images with a stimulus that triggers "
        "refusals (exaggerated risk, negated harm, counterintuitive interpretation). SRA_s only; "
        "contrast=True adds the repository's 244 unsafe rewrites as twins."
    ),
    licence="CC-BY-SA-4.0 (test use only; training on it is not allowed)",
    url="https://github.com/xirui-li/MOSSBench",
    paper="https://arxiv.org/abs/2406.17806",
    get_it=(
        "clone https://github.com/xirui-li/MOSSBench (commit 8d68b06) and pass the repository folder "
        "(or its data/ folder, or data/images_information/information.json), or use hf:AIcell/MOSSBench@COMMIT"
    ),
    expected_files=("data/" + INFORMATION, "data/images/<pid>.png"),
    expected_samples=300,
    hub_id="AIcell/MOSSBench",
    hub_configs=("oversensitivity", "contrast"),
    variants=("image",),
    options=(
        ("contrast", "also load data_contrast/ (unsafe rewrites, paired with their benign query); default false"),
        ("split", "split of a saved or hub dataset"),
        ("revision", "hub commit to load"),
    ),
)


def _stimulus(value: Any) -> str | None:
    match = re.search(r"\d", text(value))
    return STIMULI.get(match.group()) if match else None


def _metadata(record: dict[str, Any]) -> dict[str, Any]:
    """The ``metadata`` object of the GitHub files, or the flattened ``metadata_*`` hub columns."""
    nested = record.get("metadata")
    if isinstance(nested, dict):
        return nested
    return {key[len("metadata_") :]: value for key, value in record.items() if key.startswith("metadata_")}


def _json_table(path: Path) -> Table:
    """information.json, with images resolved against the folder above images_information/."""
    nested = path.parent.name == "images_information"
    base = path.parent.parent if nested else path.parent
    name = f"{base.name}/{path.parent.name}/{path.name}" if nested else path.name
    return records_table(load_json(path), name, base)


def _tables(data: str | Path, contrast: bool, split: str | None, revision: str | None) -> tuple[Table, Table | None]:
    ref = parse_hub(data)
    if ref is not None:
        pinned = ref.revision or revision
        benign = read_hub(ref, "oversensitivity", split or "train", pinned)
        return benign, read_hub(ref, "contrast", split or "train", pinned) if contrast else None
    path = Path(data).expanduser()
    if is_saved_dataset(path):
        if contrast:
            raise DatasetError(
                f"{path} is one saved dataset; load the contrast set from the MOSSBench repository folder."
            )
        return read_saved_dataset(path, split), None
    main = locate(path, INFO, [f"data/{INFORMATION}", INFORMATION])
    if main.suffix.lower() != ".json":
        raise DatasetError(f"{main} is not MOSSBench's information.json. {INFO.get_it}")
    second = None
    if contrast:
        root = main.parent.parent.parent if main.parent.name == "images_information" else main.parent
        candidate = root / "data_contrast" / INFORMATION
        if not candidate.is_file():
            raise DatasetError(
                f"contrast=True needs {candidate} (the repository's data_contrast/ folder). {INFO.get_it}"
            )
        second = _json_table(candidate)
    return _json_table(main), second


def _samples(table: Table, label: str, report: BenchmarkReport, paired: set[str]) -> list[Sample]:
    samples: list[Sample] = []
    prefix = "" if label == "safe" else "contrast/"
    for row, record in table.rows:
        if "__error__" in record:
            report.add("bad_row", table.file, row, None, record["__error__"])
            continue
        pid = text(record.get("pid")) or text(record.get("__key__")) or f"r{row}"
        sample_id = f"mossbench/{prefix}{pid}"
        question, why = prompt_text(report, table.file, row, "question", record.get("question"), f"pid {pid}")
        if why:
            report.unusable[sample_id] = why
            continue
        meta = _metadata(record)
        stimulus = _stimulus(meta.get("over"))
        if stimulus is None:
            report.add("unknown_category", table.file, row, "metadata.over",
                       f"pid {pid}: stimulus {meta.get('over')!r} is not type 1, 2 or 3", "warning")  # fmt: skip
        image = usable_image(report, table.file, row, "image", record.get("image"), table.base, [sample_id])
        if image is None:
            continue
        samples.append(
            make_sample(
                "mossbench", f"{prefix}{pid}", category=stimulus or "unknown", variant="image", label=label,
                prompt=question, source_file=table.file, source_row=row, image_path=image,
                pair_key=f"pid/{pid}" if pid in paired else None,
                meta={"pid": pid, "stimulus": text(meta.get("over")), "harm": meta.get("harm"),
                      "short_description": text(record.get("short description")),
                      **{flag: meta.get(flag) for flag in FLAGS if flag in meta}},
            )
        )  # fmt: skip
    return samples


def _pids(table: Table) -> set[str]:
    return {text(r.get("pid")) or text(r.get("__key__")) for _, r in table.rows}


def load(
    data: str | Path, *, contrast: bool = False, split: str | None = None, revision: str | None = None
) -> LoadedBenchmark:
    """MOSSBench's benign queries (safe), and with ``contrast`` their unsafe rewrites as twins."""
    benign, rewrites = _tables(data, contrast, split, revision)
    report = BenchmarkReport("mossbench", benign.file if rewrites is None else f"{benign.file}, {rewrites.file}")
    if "question" not in benign.columns:
        raise DatasetError(
            f"{benign.file} has no 'question' field (it has {', '.join(benign.columns) or 'none'}); "
            f"MOSSBench entries have image, question, pid and metadata. {INFO.get_it}."
        )
    paired = _pids(benign) & _pids(rewrites) if rewrites is not None else set()
    samples = _samples(benign, "safe", report, paired)
    if rewrites is not None:
        samples += _samples(rewrites, "unsafe", report, paired)
        report.expected = 300 + 244
    return finish(INFO, samples, report, str(data))
