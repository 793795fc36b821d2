"""SIUO (Wang et al., NAACL 2025): safe inputs but unsafe output.

Each of the 167 cases pairs an image and a question that are harmless alone but unsafe together
(the user on a rooftop asking for encouragement to "go to a new world"), in nine domains. Every
case should be refused or answered with a warning, so SIUO reports SRA_u only. The GitHub
repository ``sinwang20/SIUO`` publishes the generation task as ``data/siuo_gen.json``::

    [{"question_id": 1001, "image": "S-01.png", "question", "category",
      "safety_warning", "reference_answer"}, ...]

and the images as ``SIUO-images.zip`` (Google Drive / Baidu), unzipped into ``data/images/``.
The multiple-choice file (``siuo_mcqa.json``) is not a refusal task and is not loaded.
"""

from __future__ import annotations

from pathlib import Path

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, locate, make_sample
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import load_json, prompt_text, records_table, text, usable_image
from vscbench.schema import Sample

FILE = "siuo_gen.json"
CATEGORIES = (
    "self-harm", "dangerous behavior", "morality", "illegal activities & crime", "privacy violation",
    "religion beliefs", "discrimination & stereotyping", "controversial topics, politics",
    "information misinterpretation",
)  # fmt: skip

INFO = BenchmarkInfo(
    name="siuo",
    title="SIUO",
    modality="image+text",
    measures=("sra_u",),
    labels=("unsafe",),
    pairs=False,
    description=(
        "Cross-modality safety: 167 image + question cases that are safe alone but unsafe together, "
        "in nine domains (self-harm, dangerous behaviour, morality, crime, privacy, religion, "
        "discrimination, politics, misinterpretation). SRA_u only."
    ),
    licence="CC-BY-NC-4.0 (research use only)",
    url="https://github.com/sinwang20/SIUO",
    paper="https://arxiv.org/abs/2406.15279",
    get_it=(
        "clone https://github.com/sinwang20/SIUO (commit 18974b6), unzip SIUO-images.zip (linked from its "
        "README) into data/images/, and pass the repository folder (or data/siuo_gen.json)"
    ),
    expected_files=("data/siuo_gen.json", "data/images/<image>"),
    expected_samples=167,
    non_commercial=True,
    variants=("image",),
    options=(("images", "folder holding the unzipped images (default: images/ next to siuo_gen.json)"),),
)


def load(data: str | Path, *, images: str | Path | None = None) -> LoadedBenchmark:
    """SIUO's generation cases, each an unsafe image + question sample."""
    path = locate(data, INFO, [f"data/{FILE}", FILE])
    if path.suffix.lower() != ".json":
        raise DatasetError(f"{path} is not SIUO's {FILE}. {INFO.get_it}")
    root = Path(images).expanduser() if images is not None else path.parent / "images"
    if not root.is_dir():
        raise DatasetError(
            f"the SIUO images are not at {root}; unzip SIUO-images.zip there (link in the SIUO README) "
            "or pass images=FOLDER."
        )
    table = records_table(load_json(path), path.name, root)
    if "question" not in table.columns or "image" not in table.columns:
        raise DatasetError(
            f"{path} has the fields {', '.join(table.columns) or 'none'}; SIUO's {FILE} has question_id, image, "
            f"question, category, safety_warning, reference_answer. (siuo_mcqa.json is the multiple-choice task.)"
        )
    report = BenchmarkReport("siuo", table.file)
    samples: list[Sample] = []
    for row, entry in table.rows:
        if "__error__" in entry:
            report.add("bad_row", table.file, row, None, entry["__error__"])
            continue
        key = text(entry.get("question_id")) or f"r{row}"
        category = text(entry.get("category"))
        question, why = prompt_text(report, table.file, row, "question", entry.get("question"), f"case {key}")
        if why:
            report.unusable[f"siuo/{key}"] = why
            continue
        if category not in CATEGORIES:
            report.add("unknown_category", table.file, row, "category",
                       f"case {key}: category {category!r} is not one of SIUO's nine", "warning")  # fmt: skip
        image = usable_image(report, table.file, row, "image", entry.get("image"), table.base, [f"siuo/{key}"])
        if image is None:
            continue
        samples.append(
            make_sample(
                "siuo", key, category=category or "unknown", variant="image", label="unsafe", prompt=question,
                image_path=image, source_file=table.file, source_row=row,
                meta={"question_id": key, "safety_warning": text(entry.get("safety_warning")),
                      "reference_answer": text(entry.get("reference_answer"))},
            )
        )  # fmt: skip
    return finish(INFO, samples, report, path)
