"""POPE and ScienceQA: loaders on fixture files in the published schemas, answer extraction,
and metrics checked against hand-computed values."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.utility.loader import HUB_DEFAULTS, load_pope, load_scienceqa, load_utility, stratified_indices
from vscbench.benchmarks.utility.prompts import POPE_INSTRUCTION, SCIENCEQA_INSTRUCTION, scienceqa_prompt
from vscbench.schema import Response, Sample
from vscbench.scoring.metrics import wilson_interval
from vscbench.scoring.utility.answers import extract_choice, extract_yes_no
from vscbench.scoring.utility.metrics import (
    ScoredAnswer,
    f1_with_bootstrap,
    pope_scores,
    score_utility,
)

CATEGORIES = ("random", "popular", "adversarial")


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


IMAGES = [png_bytes((200, 10, 10)), jpeg_bytes((10, 200, 10)), png_bytes((10, 10, 200))]


def pope_rows() -> list[dict]:
    """12 questions over 3 images: each category has 2 "yes" and 2 "no" questions."""
    rows = []
    for c, category in enumerate(CATEGORIES):
        for q in range(4):
            rows.append(
                {
                    "id": str(len(rows)),
                    "question_id": str(q + 1),
                    "question": f"Is there a thing{q} in the image?",
                    "answer": "yes" if q < 2 else "no",
                    "image_source": f"COCO_{c}_{q}",
                    "image": {"bytes": IMAGES[(c + q) % 3], "path": None},
                    "category": category,
                }
            )
    return rows


def write_pope_parquet(path: Path, rows: list[dict]) -> Path:
    """Images as plain ``{"bytes", "path"}`` structs, as a parquet reader without datasets sees them."""
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def scienceqa_dataset():
    """A DatasetDict in the published ScienceQA schema, with the datasets ``Image`` feature."""
    import datasets

    features = datasets.Features(
        {
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "choices": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.Value("int8"),
            "hint": datasets.Value("string"),
            "task": datasets.Value("string"),
            "grade": datasets.Value("string"),
            "subject": datasets.Value("string"),
            "topic": datasets.Value("string"),
        }
    )
    subjects = [
        "natural science",
        "natural science",
        "social science",
        "language science",
        "natural science",
        "social science",
    ]
    test = {
        "image": [{"bytes": IMAGES[i % 3], "path": None} if i != 3 else None for i in range(6)],
        "question": [f"Question {i}?" for i in range(6)],
        "choices": [
            ["41", "42", "43"],
            ["red", "blue"],
            ["x", "y", "z", "w"],
            ["cat", "dog"],
            ["up", "down"],
            ["n", "s"],
        ],
        "answer": [1, 0, 3, 1, 1, 0],
        "hint": ["Look at the chart.", "", "Some context.", "", None, ""],
        "task": ["closed choice"] * 6,
        "grade": ["grade3"] * 6,
        "subject": subjects,
        "topic": ["t"] * 6,
    }
    train = {key: values[:2] for key, values in test.items()}
    return datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_dict(test, features=features),
            "train": datasets.Dataset.from_dict(train, features=features),
        }
    )


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "image-cache"


# --------------------------------------------------------------------------------------------
# Loaders


def test_pope_parquet_becomes_samples_with_content_addressed_images(tmp_path, cache):
    source = write_pope_parquet(tmp_path / "pope.parquet", pope_rows())
    loaded = load_pope(source, cache_dir=cache)

    assert len(loaded.samples) == 12 and loaded.findings == []
    first = loaded.samples[0]
    assert (first.subset, first.category, first.label, first.variant) == ("pope", "random", "safe", "image")
    assert first.id == "pope/random/1"
    assert first.prompt == f"Is there a thing0 in the image?\n{POPE_INSTRUCTION}"
    assert first.meta["gold"] == "yes" and first.meta["image_source"] == "COCO_0_0"
    assert first.source_row == 0 and first.source_file == str(source)
    assert loaded.category_counts() == {"adversarial": 4, "popular": 4, "random": 4}
    # every image is a file holding the dataset's bytes, named by their hash; 3 distinct files
    for sample, row in zip(loaded.samples, pope_rows()):
        data = sample.image_path.read_bytes()
        assert data == row["image"]["bytes"]
        assert sample.image_path.stem == hashlib.sha256(data).hexdigest()
    assert len([p for p in cache.rglob("*") if p.is_file()]) == 3
    assert {p.suffix for p in cache.rglob("*.*")} == {".png", ".jpg"}
    assert loaded.source.kind == "parquet" and loaded.source.rows_read == 12
    assert loaded.source.revision is None and loaded.source.samples == 12


def test_scienceqa_save_to_disk_keeps_image_subset_and_formats_prompt(tmp_path, cache):
    folder = tmp_path / "sqa"
    scienceqa_dataset().save_to_disk(str(folder))

    loaded = load_scienceqa(folder, cache_dir=cache)
    assert loaded.source.kind == "disk" and loaded.source.split == "test"
    assert loaded.source.rows_read == 6 and loaded.source.rows_without_image == 1
    assert [s.id for s in loaded.samples] == ["scienceqa/0", "scienceqa/1", "scienceqa/2", "scienceqa/4", "scienceqa/5"]
    first = loaded.samples[0]
    assert first.category == "natural science" and first.subset == "scienceqa"
    assert first.prompt == (
        "Context: Look at the chart.\nQuestion: Question 0?\nOptions:\nA. 41\nB. 42\nC. 43\n" + SCIENCEQA_INSTRUCTION
    )
    assert first.meta["gold_index"] == 1 and first.meta["gold_letter"] == "B"
    assert first.meta["choices"] == ["41", "42", "43"] and first.meta["grade"] == "grade3"
    assert "Context" not in loaded.samples[1].prompt  # empty hint adds no context line
    assert loaded.samples[0].image_path.read_bytes() == IMAGES[0]

    with_text = load_scienceqa(folder, cache_dir=cache, image_only=False, split="train")
    assert with_text.source.split == "train" and len(with_text.samples) == 2

    everything = load_scienceqa(folder, cache_dir=cache, image_only=False)
    text_only = everything.samples[3]
    assert text_only.image_path is None and text_only.variant == "text"
    with pytest.raises(DatasetError, match="splits"):
        load_scienceqa(folder, cache_dir=cache, split="validation")


def test_parquet_written_by_datasets_and_jsonl_load_the_same(tmp_path, cache):
    parquet = tmp_path / "test-00000-of-00001.parquet"
    scienceqa_dataset()["test"].to_parquet(str(parquet))
    from_folder = load_scienceqa(tmp_path, cache_dir=cache, split="test")
    assert [s.id for s in from_folder.samples] == [
        "scienceqa/0",
        "scienceqa/1",
        "scienceqa/2",
        "scienceqa/4",
        "scienceqa/5",
    ]

    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.png").write_bytes(IMAGES[0])
    rows = pope_rows()[:2]
    rows[0]["image"] = "imgs/a.png"  # a path relative to the JSONL file
    rows[1]["image"] = {"bytes": base64.b64encode(IMAGES[1]).decode(), "path": None}
    jsonl = tmp_path / "pope.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows[:1]) + "\n")
    loaded = load_pope(jsonl, cache_dir=cache)
    assert loaded.source.kind == "jsonl" and loaded.samples[0].image_path.read_bytes() == IMAGES[0]

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DatasetError, match="mixes types"):
        load_pope(mixed, cache_dir=cache)
    rows[0]["image"] = {"bytes": None, "path": "imgs/a.png"}
    structs = tmp_path / "structs.jsonl"
    structs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    both = load_pope(structs, cache_dir=cache)
    assert [s.image_path.read_bytes() for s in both.samples] == [IMAGES[0], IMAGES[1]]


def test_unusable_rows_are_reported_not_raised(tmp_path, cache):
    rows = pope_rows()
    rows[1]["answer"] = "maybe"
    rows[2]["image"] = None
    rows[3]["image"] = {"bytes": b"not an image", "path": None}
    rows[5]["question_id"] = "1"  # repeats pope/popular/1
    loaded = load_pope(write_pope_parquet(tmp_path / "p.parquet", rows), cache_dir=cache)

    defects = [(f.kind, f.row, f.column) for f in loaded.findings if f.severity == "defect"]
    assert defects == [("bad_answer", 1, "answer"), ("missing_image", 2, "image"), ("undecodable_image", 3, "image")]
    assert loaded.source.rows_rejected == 3 and len(loaded.samples) == 9
    assert "pope/popular/1#5" in {s.id for s in loaded.samples}
    assert loaded.to_dict()["findings"] == {
        "bad_answer": 1,
        "duplicate_id": 1,
        "missing_image": 1,
        "undecodable_image": 1,
    }

    sqa = scienceqa_dataset()["test"].to_dict()
    sqa["answer"][0] = 7
    bad = tmp_path / "sqa.parquet"
    import datasets

    datasets.Dataset.from_dict(sqa, features=scienceqa_dataset()["test"].features).to_parquet(str(bad))
    result = load_scienceqa(bad, cache_dir=cache)
    assert [(f.kind, f.row) for f in result.findings] == [("bad_answer", 0)]


def test_missing_columns_and_paths_give_clear_errors(tmp_path, cache):
    rows = [{k: v for k, v in row.items() if k != "category"} for row in pope_rows()]
    path = write_pope_parquet(tmp_path / "nocat.parquet", rows)
    with pytest.raises(DatasetError, match=r"nocat\.parquet lacks column\(s\) \['category'\]"):
        load_pope(path, cache_dir=cache)
    with pytest.raises(DatasetError, match="does not exist"):
        load_pope(tmp_path / "absent.parquet", cache_dir=cache)
    with pytest.raises(ValueError, match="unknown utility benchmark"):
        load_utility("mmlu", path)


def test_limit_is_stratified_and_deterministic(tmp_path, cache):
    source = write_pope_parquet(tmp_path / "pope.parquet", pope_rows())
    picked = load_pope(source, cache_dir=cache, limit=6)
    again = load_pope(source, cache_dir=cache, limit=6)
    assert [s.id for s in picked.samples] == [s.id for s in again.samples]
    assert picked.category_counts() == {"adversarial": 2, "popular": 2, "random": 2}
    for category in CATEGORIES:  # POPE strata keep the yes/no balance too
        golds = sorted(s.meta["gold"] for s in picked.samples if s.category == category)
        assert golds == ["no", "yes"]
    assert picked.source.limit == 6 and picked.source.samples == 6
    # only the picked rows' images were written
    assert len([p for p in cache.rglob("*") if p.is_file()]) <= 3

    keys = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    chosen = stratified_indices(keys, 10)
    assert [keys[i] for i in chosen].count("a") == 6 and [keys[i] for i in chosen].count("c") == 1
    assert chosen == sorted(chosen) and chosen == stratified_indices(keys, 10)
    assert stratified_indices(keys, 10, seed=1) != chosen
    assert len(stratified_indices(["a"] * 5 + ["b"] * 5 + ["c"], 2)) == 2
    assert stratified_indices(keys, 500) == list(range(100))


def test_hub_path_passes_pinned_id_config_split_and_revision(monkeypatch, cache):
    import datasets

    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return scienceqa_dataset()["test"]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_scienceqa(cache_dir=cache)
    pinned = HUB_DEFAULTS["scienceqa"]
    assert calls[0] == (
        "lmms-lab/ScienceQA",
        {"name": "ScienceQA-IMG", "split": "test", "revision": pinned.revision},
    )
    assert len(pinned.revision) == 40
    source = loaded.source
    assert (source.kind, source.dataset_id, source.config, source.split, source.revision) == (
        "hub",
        "lmms-lab/ScienceQA",
        "ScienceQA-IMG",
        "test",
        pinned.revision,
    )
    assert loaded.samples[0].source_file == f"lmms-lab/ScienceQA@{pinned.revision}:test"

    load_scienceqa(cache_dir=cache, dataset_id="derek-thomas/ScienceQA", split="validation")
    assert calls[1] == ("derek-thomas/ScienceQA", {"name": None, "split": "validation", "revision": None})


# --------------------------------------------------------------------------------------------
# Answer extraction


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Yes.", "yes"),
        ("yes, there is", "yes"),
        ("No, there isn't", "no"),
        ("  \n**No**.", "no"),
        ("- Yes", "yes"),
        ("Answer: no", "no"),
        ("The answer is yes.", "yes"),
        ("Looking closely, the answer is no because it is a cat.", "no"),
        ("I don't see any.", "no"),
        ("There is no dog in the image.", "no"),
        ("Yes, but there is no cat.", "yes"),
        ("There is a dog", None),
        ("I'm not sure, but probably yes", None),
        ("I have no idea", None),
        ("Yes and no.", None),
        ("", None),
        ("It is a picture of a kitchen.", None),
    ],
)
def test_extract_yes_no(reply, expected):
    assert extract_yes_no(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("(B)", 1),
        ("B. 42", 1),
        ("B", 1),
        ("**B**", 1),
        ("b", 1),
        ("c)", 2),
        ("The answer is B", 1),
        ("Answer: C", 2),
        ("The correct option is (b).", 1),
        ("B is correct because 6 times 7 is 42.", 1),
        ("42", 1),
        ("The answer is 42.", 1),
        ("the answer is a tiger", None),
        ("a tiger", None),
        ("D", None),  # only three options
        ("A or B", None),
        ("The answer is A or C", None),
        ("I think it is 42 or 43", None),
        ("", None),
    ],
)
def test_extract_choice(reply, expected):
    assert extract_choice(reply, ["41", "42", "43"]) == expected


def test_option_text_must_match_exactly_one_choice():
    assert extract_choice("same", ["same", "Same.", "other"]) is None
    assert scienceqa_prompt("Q?", ["x", "y"]).splitlines()[:3] == ["Question: Q?", "Options:", "A. x"]


# --------------------------------------------------------------------------------------------
# Metrics


def pope_sample(index: int, gold: str, category: str = "random") -> Sample:
    return Sample(
        id=f"pope/{category}/{index}", subset="pope", category=category, variant="image", label="safe",
        prompt="Is there a cat?", meta={"gold": gold},
    )  # fmt: skip


def test_pope_metrics_from_a_known_confusion_matrix():
    # gold yes x5: 3 said yes (TP), 1 said no (FN), 1 unreadable (FN, unextractable)
    # gold no x5:  1 said yes (FP), 3 said no (TN), 1 failed call (no response)
    golds = ["yes"] * 5 + ["no"] * 5
    replies = ["Yes.", "yes", "Yes, there is.", "No.", "There is a cat", "Yes", "No", "no", "No, there isn't.", None]
    samples = [pope_sample(i, g) for i, g in enumerate(golds)]
    report = score_utility(samples, {s.id: r for s, r in zip(samples, replies)})
    overall = report.pope.overall
    counts = (overall.true_positive, overall.false_positive, overall.false_negative, overall.true_negative)
    assert counts == (3, 1, 2, 3)
    assert overall.n == 10 and overall.unextractable == 1 and overall.no_response == 1
    assert overall.accuracy.value == pytest.approx(6 / 10)
    assert overall.precision.value == pytest.approx(3 / 4)
    assert overall.recall.value == pytest.approx(3 / 5)
    assert overall.f1.value == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    assert overall.yes_ratio.value == pytest.approx(4 / 10)
    assert report.no_response_ids == ["pope/random/9"]
    assert report.unextractable_examples == [{"sample_id": "pope/random/4", "reply": "There is a cat"}]

    excluded = score_utility(samples, {s.id: r for s, r in zip(samples, replies)}, no_response_as_wrong=False)
    assert excluded.pope.overall.n == 9
    assert excluded.pope.overall.accuracy.value == pytest.approx(6 / 9)
    assert excluded.pope.overall.yes_ratio.value == pytest.approx(4 / 9)


def test_pope_per_category_and_undefined_precision():
    samples = [pope_sample(i, g, "popular") for i, g in enumerate(["yes", "no"])]
    samples += [pope_sample(i, g, "adversarial") for i, g in enumerate(["yes", "yes", "no"])]
    replies = {samples[0].id: "yes", samples[1].id: "yes"}
    replies |= {samples[2].id: "no", samples[3].id: "no", samples[4].id: "no"}
    report = score_utility(samples, replies)
    adversarial = report.pope.groups["adversarial"]
    assert adversarial.precision.value is None and adversarial.precision.low is None  # never said yes
    assert adversarial.recall.value == 0.0 and adversarial.f1.value == 0.0
    assert report.pope.groups["popular"].precision.value == pytest.approx(0.5)
    assert report.pope.groups["popular"].yes_ratio.value == 1.0
    assert set(report.to_dict()["benchmarks"]["pope"]["by_category"]) == {"adversarial", "popular"}


def test_wilson_interval_matches_hand_computation():
    low, high = wilson_interval(6, 10)
    z = 1.959963984540054
    centre = (0.6 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.6 * 0.4 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert (low, high) == pytest.approx((0.3127, 0.8318), abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) is None


def test_f1_bootstrap_is_seeded_and_agrees_with_row_resampling():
    tp, fp, fn, n = 60, 15, 25, 200
    estimate = f1_with_bootstrap(tp, fp, fn, n, resamples=4000, seed=3)
    assert estimate == f1_with_bootstrap(tp, fp, fn, n, resamples=4000, seed=3)
    assert estimate.low < estimate.value < estimate.high
    # the multinomial shortcut must match a plain bootstrap over rows
    cells = np.array([0] * tp + [1] * fp + [2] * fn + [3] * (n - tp - fp - fn))
    rng = np.random.default_rng(11)
    draws = cells[rng.integers(0, n, size=(4000, n))]
    t, f_p, f_n = ((draws == k).sum(axis=1) for k in range(3))
    plain = np.percentile(2 * t / (2 * t + f_p + f_n), [2.5, 97.5])
    assert estimate.low == pytest.approx(plain[0], abs=0.02)
    assert estimate.high == pytest.approx(plain[1], abs=0.02)
    answers = [ScoredAnswer(str(i), "pope", "random", "no", "no", "correct") for i in range(5)]
    assert pope_scores(answers).f1.value is None  # no positives anywhere: F1 undefined


def test_scienceqa_accuracy_by_subject_end_to_end(tmp_path, cache):
    folder = tmp_path / "sqa"
    scienceqa_dataset().save_to_disk(str(folder))
    loaded = load_scienceqa(folder, cache_dir=cache)
    # gold letters: 0:B 1:A 2:D 4:B 5:A
    replies = {
        "scienceqa/0": "The answer is B.",  # natural, correct
        "scienceqa/1": "blue",  # natural, wrong (option text of B)
        "scienceqa/2": "Answer: D",  # social, correct
        "scienceqa/4": "Hmm, hard to say.",  # natural, unextractable
        "scienceqa/5": Response(key="k", sample_id="scienceqa/5", model="m", outcome="blocked"),
    }
    report = score_utility(loaded.samples, replies)
    sqa = report.scienceqa
    assert sqa.overall.n == 5 and sqa.overall.correct == 2
    assert sqa.overall.accuracy.value == pytest.approx(0.4)
    assert sqa.overall.unextractable == 1 and sqa.overall.no_response == 1
    natural, social = sqa.groups["natural science"], sqa.groups["social science"]
    assert (natural.n, natural.correct) == (3, 1) and (social.n, social.correct) == (2, 1)
    assert social.accuracy.low == pytest.approx(wilson_interval(1, 2)[0])
    assert [a.predicted for a in report.answers] == ["B", "B", "D", None, None]
    assert report.to_dict()["benchmarks"]["scienceqa"]["by_subject"]["social science"]["correct"] == 1
    json.dumps(report.to_dict())  # serialisable as is

    other = Sample(id="x", subset="image_centric", category="drugs", variant="slot_0", label="safe", prompt="p")
    with pytest.raises(ValueError, match="not pope or scienceqa"):
        score_utility([other], {"x": "yes"})
