"""`data export` and `load_samples`: release -> parquet/jsonl/hf -> the same samples, readable by
`datasets`, and clear errors for bad rows of user-made files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vscbench.benchmarks.export import export_samples
from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.samples import load_samples
from vscbench.benchmarks.vscbench import load_vscbench
from vscbench.cli import app


def _fields(sample) -> dict:
    return sample.model_dump(exclude={"image_path"})


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def release_samples(release_template):
    return load_vscbench(release_template, warn=False).samples


@pytest.fixture(scope="module")
def image_cache(tmp_path_factory) -> Path:
    """One cache for the module: the same image bytes land under the same name whatever the format."""
    return tmp_path_factory.mktemp("image-cache")


@pytest.mark.parametrize(("fmt", "name"), [("parquet", "v.parquet"), ("jsonl", "v.jsonl"), ("hf", "v_hf")])
def test_round_trip_gives_equal_samples(release_template, release_samples, tmp_path, image_cache, fmt, name):
    out = export_samples(release_samples, fmt, tmp_path / "exports" / name, root=release_template, show_progress=False)
    cache = image_cache
    back = load_samples(out, cache_dir=cache)
    assert [_fields(s) for s in back.samples] == [_fields(s) for s in release_samples]
    assert back.report.findings == [] and back.report.loaded["text_only"] == 450
    for original, loaded in list(zip(release_samples, back.samples))[::40]:
        if original.image_path is None:
            assert loaded.image_path is None
            continue
        assert np.array_equal(_pixels(original.image_path), _pixels(loaded.image_path))
        assert loaded.image_path.suffix == original.image_path.suffix
        if fmt != "jsonl":  # embedded bytes land in the content-addressed cache
            assert loaded.image_path.parent == cache
            assert loaded.image_path.stem == hashlib.sha256(loaded.image_path.read_bytes()).hexdigest()
    if fmt != "jsonl":
        again = load_samples(out, cache_dir=cache)
        assert [s.image_path for s in again.samples] == [s.image_path for s in back.samples]


def test_datasets_reads_parquet_and_jsonl(release_template, release_samples, tmp_path):
    datasets = pytest.importorskip("datasets")
    chosen = [s for s in release_samples if s.variant in ("slot_1", "text", "typography")][:300]
    parquet = export_samples(chosen, "parquet", tmp_path / "s.parquet", root=release_template, show_progress=False)
    jsonl = export_samples(chosen, "jsonl", tmp_path / "out" / "s.jsonl", show_progress=False)

    table = datasets.load_dataset("parquet", data_files=str(parquet), split="train", cache_dir=str(tmp_path / "hf"))
    assert isinstance(table.features["image"], datasets.Image)
    assert table["id"] == [s.id for s in chosen]
    for index in (0, len(chosen) - 1):
        row, sample = table[index], chosen[index]
        assert json.loads(row["meta"]) == sample.meta and row["source_row"] == sample.source_row
        if sample.image_path is None:
            assert row["image"] is None
        else:
            assert isinstance(row["image"], Image.Image)
            assert np.array_equal(np.asarray(row["image"].convert("RGB")), _pixels(sample.image_path))
    with_image = next(i for i, s in enumerate(chosen) if s.image_path is not None)
    assert table[with_image]["image"].size == Image.open(chosen[with_image].image_path).size

    rows = datasets.load_dataset("json", data_files=str(jsonl), split="train", cache_dir=str(tmp_path / "hf"))
    assert rows["prompt"] == [s.prompt for s in chosen] and rows["label"] == [s.label for s in chosen]
    for row, sample in zip(rows, chosen):
        if sample.image_path is None:
            assert row["image_path"] is None
        else:
            assert not Path(row["image_path"]).is_absolute()
            assert (jsonl.parent / row["image_path"]).resolve() == sample.image_path.resolve()


def test_jsonl_absolute_paths(release_samples, tmp_path):
    chosen = [s for s in release_samples if s.image_path is not None][:5]
    out = export_samples(chosen, "jsonl", tmp_path / "abs.jsonl", absolute_paths=True, show_progress=False)
    paths = [json.loads(line)["image_path"] for line in out.read_text().splitlines()]
    assert paths == [str(s.image_path.resolve()) for s in chosen]


def _row(**changes) -> str:
    row = {"id": "mine/1", "subset": "custom", "category": "knives", "variant": "photo", "label": "safe",
           "prompt": "How do I sharpen this?", "image_path": "img/knife.png", "meta": {"source": "me"}}  # fmt: skip
    row.update(changes)
    return json.dumps(row)


def test_bad_jsonl_lines_are_named(tmp_path):
    Image.new("RGB", (8, 8), "red").save((tmp_path / "img").mkdir() or tmp_path / "img" / "knife.png")
    path = tmp_path / "mine.jsonl"
    lines = [_row(), "{not json", _row(id="mine/3", label="maybe"), "", _row(id="mine/5", colour="red"), _row()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as caught:
        load_samples(path, cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert f"{path}:2: not valid JSON" in message
    assert f"{path}:3: label" in message
    assert f"{path}:5: colour: unknown field" in message
    assert f"{path}:6: id 'mine/1' is already used on line 1" in message
    assert f"{path}:1" not in message and "4 bad line(s)" in message

    lenient = load_samples(path, cache_dir=tmp_path / "cache", strict=False)
    assert [s.id for s in lenient.samples] == ["mine/1"]
    assert lenient.samples[0].image_path == tmp_path / "img" / "knife.png"
    assert lenient.samples[0].meta == {"source": "me"}
    assert [(f.kind, f.row) for f in lenient.report.findings] == [
        ("bad_row", 2),
        ("bad_row", 3),
        ("bad_row", 5),
        ("bad_row", 6),
    ]


def test_missing_image_is_reported_not_raised(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(_row(image_path="nowhere.png") + "\n" + _row(id="mine/2", image_path=None) + "\n")
    data = load_samples(path)
    assert [s.id for s in data.samples] == ["mine/2"]
    assert data.report.unusable == {"mine/1": "image file missing"}
    assert data.report.findings[0].kind == "missing_image" and data.report.findings[0].row == 1


def test_load_samples_dispatch_and_filters(release_template, release_samples, tmp_path):
    typography = load_samples(release_template, subset="text_centric", variants=["typography"], warn=False)
    expected = [s.id for s in release_samples if s.variant == "typography"]
    assert [s.id for s in typography.samples] == expected and expected
    with pytest.raises(DatasetError, match="does not exist"):
        load_samples(tmp_path / "absent.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="convert it with `vscbench data export`"):
        load_samples(tmp_path / "notes.txt")


def test_cli_export_filters_and_refuses_overwrite(release_template, tmp_path):
    runner = CliRunner()
    out = tmp_path / "figstep.jsonl"
    args = ["data", "export", str(release_template), "--format", "jsonl", "--out", str(out),
            "--subset", "text_centric", "--variant", "figstep", "-q"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {r["variant"] for r in rows} == {"figstep"} and "wrote" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    converted = runner.invoke(
        app, ["data", "export", str(out), "--format", "parquet", "--out", str(tmp_path / "f.parquet"), "-q"]
    )
    assert converted.exit_code == 0, converted.output
    assert [s.id for s in load_samples(tmp_path / "f.parquet", cache_dir=tmp_path / "c").samples] == [
        r["id"] for r in rows
    ]
    wrong = runner.invoke(
        app, ["data", "export", str(release_template), "--format", "csv", "--out", str(tmp_path / "x")]
    )
    assert wrong.exit_code == 2 and "parquet, jsonl, hf" in wrong.output
