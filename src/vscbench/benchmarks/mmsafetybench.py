"""MM-SafetyBench (Liu et al., ECCV 2024): harmful questions hidden in query-relevant images.

The GitHub repository ``isXinLiu/MM-SafetyBench`` publishes one question file per scenario,
``data/processed_questions/<NN-Scenario>.json`` (13 scenarios, ``01-Illegal_Activitiy`` ...
``13-Gov_Decision``, spelled as upstream), an object keyed by question id::

    {"0": {"Question", "GPT-Pred", "Changed Question", "Key Phrase", "Phrase Type",
           "Rephrased Question", "Rephrased Question(SD)"}, ...}

and the images (a Google Drive archive) as ``MM-SafetyBench(imgs)/<scenario>/<SD|SD_TYPO|TYPO>/<id>.jpg``.
Each question is asked in three variants: ``SD`` (Stable Diffusion image of the key phrase, with
"Rephrased Question(SD)"), ``TYPO`` (the key phrase as typography) and ``SD_TYPO`` (both stacked),
the latter two with "Rephrased Question". ``text`` (the plain "Question", no image) can be added.
Every sample is unsafe, so MM-SafetyBench reports SRA_u; the judge reads the plain "Question".
The variants of one question share a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, make_sample, not_bundled
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import is_inside, load_json, prompt_text, records_table, text
from vscbench.schema import Sample

SCENARIOS = (
    "01-Illegal_Activitiy", "02-HateSpeech", "03-Malware_Generation", "04-Physical_Harm", "05-EconomicHarm",
    "06-Fraud", "07-Sex", "08-Political_Lobbying", "09-Privacy_Violence", "10-Legal_Opinion",
    "11-Financial_Advice", "12-Health_Consultation", "13-Gov_Decision",
)  # fmt: skip
PROMPT_FIELD = {
    "SD": "Rephrased Question(SD)",
    "TYPO": "Rephrased Question",
    "SD_TYPO": "Rephrased Question",
    "text": "Question",
}
VARIANTS = ("SD", "TYPO", "SD_TYPO")
QUESTIONS_DIR = "processed_questions"
IMAGE_DIRS = ("MM-SafetyBench(imgs)", "imgs", "data/MM-SafetyBench(imgs)", "data/imgs")
QUESTIONS_PER_VARIANT = 1680

INFO = BenchmarkInfo(
    name="mmsafetybench",
    title="MM-SafetyBench",
    modality="image+text",
    measures=("sra_u",),
    labels=("unsafe",),
    pairs=False,
    description=(
        "Image jailbreaks: 1,680 harmful questions in 13 scenarios whose key phrase moves into a "
        "query-relevant image (SD, TYPO, SD_TYPO variants; 5,040 samples). SRA_u only."
    ),
    licence="CC-BY-NC-4.0 (research use only)",
    url="https://github.com/isXinLiu/MM-SafetyBench",
    paper="https://arxiv.org/abs/2311.17600",
    get_it=(
        "clone https://github.com/isXinLiu/MM-SafetyBench, unzip the image archive linked from its README "
        "into the repository (folder MM-SafetyBench(imgs)/), and pass the repository folder"
    ),
    expected_files=("data/processed_questions/<scenario>.json", "MM-SafetyBench(imgs)/<scenario>/<variant>/<id>.jpg"),
    expected_samples=QUESTIONS_PER_VARIANT * len(VARIANTS),
    non_commercial=True,
    variants=(*VARIANTS, "text"),
    aliases=("mm-safetybench",),
    options=(
        ("variants", "SD, TYPO, SD_TYPO, text (default SD,TYPO,SD_TYPO)"),
        ("scenarios", "scenario files to load, e.g. 01-Illegal_Activitiy (default all present)"),
        ("images", "folder holding <scenario>/<variant>/<id>.jpg (default: found in the repository)"),
    ),
)


def _question_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    for folder in (path / "data" / QUESTIONS_DIR, path / QUESTIONS_DIR, path):
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if files:
            return files
    raise DatasetError(
        f"{path} holds no MM-SafetyBench question files (data/{QUESTIONS_DIR}/*.json). {not_bundled(INFO)}"
    )


def _image_root(path: Path, files: list[Path], images: str | Path | None) -> Path | None:
    if images is not None:
        root = Path(images).expanduser()
        if not root.is_dir():
            raise DatasetError(
                f"images={root} is not a folder; unzip MM-SafetyBench's image archive and pass its folder."
            )
        return root
    starts = [path if path.is_dir() else path.parent, files[0].parent.parent, files[0].parent.parent.parent]
    for start in starts:
        for name in IMAGE_DIRS:
            if (start / name).is_dir():
                return start / name
    return None


def _image(root: Path, scenario: str, variant: str, qid: str) -> Path | None:
    """The question's image, if there is one inside ``root`` (a question id is data: one that
    climbs out of the image folder finds nothing)."""
    for suffix in (".jpg", ".png", ".jpeg"):
        candidate = root / scenario / variant / f"{qid}{suffix}"
        if candidate.is_file() and is_inside(candidate, root):
            return candidate
    return None


def load(
    data: str | Path,
    *,
    variants: Sequence[str] = VARIANTS,
    scenarios: Sequence[str] | None = None,
    images: str | Path | None = None,
) -> LoadedBenchmark:
    """MM-SafetyBench questions in the chosen variants, one sample per question and variant."""
    wanted = [variants] if isinstance(variants, str) else list(variants)
    if not wanted or any(v not in PROMPT_FIELD for v in wanted):
        raise DatasetError(f"unknown MM-SafetyBench variant(s) {wanted}; use {', '.join(PROMPT_FIELD)}")
    path = Path(data).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist. {not_bundled(INFO)}")
    files = _question_files(path)
    if scenarios:
        chosen = {scenarios} if isinstance(scenarios, str) else set(scenarios)
        files = [f for f in files if f.stem in chosen]
        if not files:
            raise DatasetError(
                f"none of the scenarios {sorted(chosen)} is among the question files; use {', '.join(SCENARIOS)}"
            )
    root = _image_root(path, files, images) if any(v != "text" for v in wanted) else None
    report = BenchmarkReport("mmsafetybench", f"{files[0].parent}")
    if root is None and any(v != "text" for v in wanted):
        raise DatasetError(
            f"the MM-SafetyBench images are not next to {path} (looked for {', '.join(IMAGE_DIRS)}); "
            "unzip the image archive there or pass images=FOLDER. Only variants=text needs no images."
        )
    samples: list[Sample] = []
    for file in files:
        scenario = file.stem
        if scenario not in SCENARIOS:
            report.add(
                "unknown_category", file.name, None, None, f"{scenario!r} is not one of the 13 scenarios", "warning"
            )
        table = records_table(load_json(file), file.name, None)
        for row, entry in table.rows:
            if "__error__" in entry:
                report.add("bad_row", table.file, row, None, entry["__error__"])
                continue
            qid = entry.get("__key__") or str(row - 1)
            question = text(entry.get("Question"))
            for variant in wanted:
                local = f"{scenario}/{qid}/{variant}"
                field = PROMPT_FIELD[variant]
                prompt, why = prompt_text(report, table.file, row, field, entry.get(field), f"question {qid}")
                if why:
                    report.unusable[f"mmsafetybench/{local}"] = why
                    continue
                image = _image(root, scenario, variant, qid) if root is not None and variant != "text" else None
                if variant != "text" and image is None:
                    report.add("missing_image", table.file, row, variant,
                               f"question {qid}: no image {scenario}/{variant}/{qid}.jpg under {root}")  # fmt: skip
                    report.unusable[f"mmsafetybench/{local}"] = "image missing"
                    continue
                samples.append(
                    make_sample(
                        "mmsafetybench", local, category=scenario, variant=variant, label="unsafe", prompt=prompt,
                        question=question or None, image_path=image, source_file=table.file, source_row=row,
                        cluster=f"{scenario}/{qid}",
                        meta={"question_id": qid, "key_phrase": text(entry.get("Key Phrase")),
                              "phrase_type": text(entry.get("Phrase Type"))},
                    )
                )  # fmt: skip
    complete = {f.stem for f in files} >= set(SCENARIOS)
    report.expected = QUESTIONS_PER_VARIANT * len(wanted) if complete else None
    if not complete:
        report.expected = len(samples) + len(report.unusable)
    return finish(INFO, samples, report, path)
