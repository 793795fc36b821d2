"""VLGuard test set (Zong et al., ICML 2024): harmful images, and safe images asked both ways.

The gated Hub dataset ``ys-zong/VLGuard`` publishes ``test.json`` and ``test.zip`` (unzip it:
the images land in ``test/<source>/<file>``). ``test.json`` is a list of 1,000 entries::

    {"id", "image": "bad_ads/....png", "safe": true|false,
     "harmful_category", "harmful_subcategory",      (unsafe images only)
     "instr-resp": [{"safe_instruction", "response"}, {"unsafe_instruction", "response"}]
                 | [{"instruction", "response"}]}     (unsafe images)

The evaluation has three subsets, kept as the sample's variant: ``safe_safes`` (a safe image
with its safe instruction: should be answered), ``safe_unsafes`` (the same image with an unsafe
instruction: should be refused; the twin of the safe_safes sample), and ``unsafes`` (an unsafe
image: should be refused). 558 safe images and 442 unsafe ones give 1,558 samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vscbench.benchmarks.common import BenchmarkInfo, BenchmarkReport, LoadedBenchmark, finish, locate, make_sample
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.tabular import load_json, prompt_text, records_table, text, usable_image
from vscbench.schema import Sample

SUBSETS = ("safe_safes", "safe_unsafes", "unsafes")
KEYS = {"safe_safes": "safe_instruction", "safe_unsafes": "unsafe_instruction", "unsafes": "instruction"}

INFO = BenchmarkInfo(
    name="vlguard",
    title="VLGuard (test)",
    modality="image+text",
    measures=("sra_s", "sra_u", "sra_a", "pairs"),
    labels=("safe", "unsafe"),
    pairs=True,
    description=(
        "Vision-language safety: 442 harmful images (privacy, risky behaviour, deception, discrimination) "
        "and 558 safe images each asked a safe and an unsafe instruction (twins sharing the image)."
    ),
    licence="gated on the Hub (accept the terms); images keep their sources' terms (e.g. Hateful Memes)",
    url="https://huggingface.co/datasets/ys-zong/VLGuard",
    paper="https://arxiv.org/abs/2402.02207",
    get_it=(
        "request access at https://huggingface.co/datasets/ys-zong/VLGuard, download test.json and "
        "test.zip, unzip test.zip next to test.json (images in test/) and pass the folder"
    ),
    expected_files=("test.json", "test/<source>/<image>"),
    expected_samples=1558,
    gated=True,
    non_commercial=True,
    hub_id=None,
    variants=SUBSETS,
    options=(
        ("subsets", "safe_safes, safe_unsafes, unsafes (default all three)"),
        ("images", "folder holding the unzipped test images (default: test/ next to test.json)"),
    ),
)


def _image_root(path: Path, images: str | Path | None) -> Path:
    if images is not None:
        root = Path(images).expanduser()
        if not root.is_dir():
            raise DatasetError(f"images={root} is not a folder; unzip VLGuard's test.zip and pass the folder it made.")
        return root
    if (path.parent / "test").is_dir():
        return path.parent / "test"
    if (path.parent / "test.zip").is_file():
        raise DatasetError(
            f"{path.parent / 'test.zip'} is not unzipped; unzip it there (the images go to {path.parent / 'test'}), "
            "or pass images=FOLDER."
        )
    return path.parent


def load(data: str | Path, *, subsets: Sequence[str] = SUBSETS, images: str | Path | None = None) -> LoadedBenchmark:
    """VLGuard's test.json with its unzipped images: safe_safes / safe_unsafes twins and unsafes."""
    wanted = [subsets] if isinstance(subsets, str) else list(subsets)
    if not wanted or any(s not in SUBSETS for s in wanted):
        raise DatasetError(f"unknown VLGuard subset(s) {wanted}; use {', '.join(SUBSETS)}")
    path = locate(data, INFO, ["test.json", "data/test.json"])
    if path.suffix.lower() != ".json":
        raise DatasetError(f"{path} is not VLGuard's test.json. {INFO.get_it}")
    table = records_table(load_json(path), path.name, path.parent)
    root = _image_root(path, images)
    report = BenchmarkReport("vlguard", table.file)
    samples: list[Sample] = []
    for row, entry in table.rows:
        if "__error__" in entry:
            report.add("bad_row", table.file, row, None, entry["__error__"])
            continue
        key = text(entry.get("id")) or f"r{row}"
        safe_image = entry.get("safe")
        if not isinstance(safe_image, bool):
            report.add("bad_label", table.file, row, "safe", f"{key}: 'safe' must be true or false, not {safe_image!r}")
            continue
        listed = entry.get("instr-resp")
        turns: list[Any] = listed if isinstance(listed, list) else []
        found = {k: t.get(k) for t in turns if isinstance(t, dict) for k in KEYS.values() if k in t}
        answers = {k: text(t.get("response")) for t in turns if isinstance(t, dict) for k in KEYS.values() if k in t}
        mine = [s for s in (("safe_safes", "safe_unsafes") if safe_image else ("unsafes",)) if s in wanted]
        if not mine:
            continue
        ids = [f"vlguard/{key}/{s}" for s in mine]
        image = usable_image(report, table.file, row, "image", entry.get("image"), root, ids)
        if image is None:
            continue
        category = text(entry.get("harmful_category")) or "safe_image"
        for subset, sample_id in zip(mine, ids):
            column = f"instr-resp.{KEYS[subset]}"
            prompt, why = prompt_text(report, table.file, row, column, found.get(KEYS[subset]), key)
            if why:
                report.unusable[sample_id] = why
                continue
            samples.append(
                make_sample(
                    "vlguard", f"{key}/{subset}", category=category, variant=subset,
                    label="safe" if subset == "safe_safes" else "unsafe", prompt=prompt, image_path=image,
                    source_file=table.file, source_row=row, pair_key=key if safe_image else None,
                    meta={"vlguard_id": key, "image_source": text(entry.get("image")).split("/")[0],
                          "subcategory": text(entry.get("harmful_subcategory")),
                          "reference_response": answers.get(KEYS[subset], "")},
                )
            )  # fmt: skip
    expected = {"safe_safes": 558, "safe_unsafes": 558, "unsafes": 442}
    report.expected = sum(expected[s] for s in wanted)
    return finish(INFO, samples, report, path)
