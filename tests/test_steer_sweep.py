"""`vscbench steer sweep` on a tiny LLaVA: a 2 x 2 grid, judged safety, POPE utility, the frontier."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from vscbench.cli import app
from vscbench.store import Store
from vscbench.utility.metrics import score_utility


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: two threads only thrash on a shared 2-core machine
    yield
    torch.set_num_threads(previous)


def write_pope(path: Path) -> Path:
    """8 POPE questions in the published schema: 2 categories x (2 yes + 2 no), 2 images."""
    images = []
    for colour in ((200, 30, 30), (30, 30, 200)):
        buffer = io.BytesIO()
        Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    rows = [
        {"id": str(i), "question_id": str(i), "question": f"Is there a {thing} in the image?",
         "answer": "yes" if i % 4 < 2 else "no", "image_source": f"COCO_{i}",
         "image": {"bytes": images[i % 2], "path": None}, "category": "random" if i < 4 else "popular"}
        for i, thing in enumerate(["cat", "dog", "car", "cup", "tree", "bus", "kite", "fork"])
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_vectors(model_dir: Path, path: Path) -> str:
    from transformers import AutoModelForImageTextToText

    from vscbench.methods.steering import SteeringVectors, model_identity

    network = AutoModelForImageTextToText.from_pretrained(model_dir)
    hidden = network.config.get_text_config().hidden_size
    generator = torch.Generator().manual_seed(1)
    vectors = {layer: torch.randn(hidden, generator=generator) for layer in (1, 2)}
    vectors = {layer: v / v.norm() * 20.0 for layer, v in vectors.items()}
    return SteeringVectors(vectors, {1: 20.0, 2: 20.0}, {1: 10.0, 2: 10.0}, model_identity(network)).save(path)


def dominates(a: dict, b: dict, utility: str) -> bool:
    better_or_equal = a["sra_u"] >= b["sra_u"] and a[utility] >= b[utility]
    return better_or_equal and (a["sra_u"] > b["sra_u"] or a[utility] > b[utility])


def test_sweep_runs_judges_scores_and_caches_every_point(
    tiny_llava_dir: Path, release_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSCBENCH_CACHE_DIR", str(tmp_path / "cache"))
    vector = tmp_path / "iar.safetensors"
    sha = write_vectors(tiny_llava_dir, vector)
    pope = write_pope(tmp_path / "pope.parquet")
    store_path = tmp_path / "s.sqlite"
    args = ["steer", "sweep", "--model", f"hf:{tiny_llava_dir}", "--data", str(release_template), "--vector", str(vector),
            "--layers", "1,0.5", "--strengths", "0,4", "--limit", "8", "--max-tokens", "8", "--utility", "pope",
            "--utility-data", str(pope), "--utility-limit", "8", "--store", str(store_path), "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    sweep = json.loads(result.stdout)
    points = sweep["points"]
    assert [(p["layer"], p["strength"]) for p in points] == [(1, 0.0), (1, 4.0), (2, 0.0), (2, 4.0)]
    assert sweep["vector_sha256"] == sha and sweep["judge"] == "offline" and sweep["utility_axis"] == "pope_f1"
    assert sweep["samples"] == 8 and sweep["utility_samples"] == 8
    assert all(p["sent"] == 8 and p["method"].startswith(f"iar:layer={p['layer']},") for p in points)
    assert all(sha[:16] in p["method"] for p in points)

    with Store(store_path) as store:
        texts = {p["run"]: [r.text for _, r in store.run_items(p["run"])] for p in points}
        for point in points:
            assert store.get_run(point["run"]).method == point["method"]
            # the utility figure is POPE F1 of the stored answers of this point's utility run
            items = list(store.run_items(point["utility_run"]))
            assert {s.subset for s, _ in items} == {"pope"} and len(items) == 8
            report = score_utility([s for s, _ in items], {s.id: r for s, r in items}, resamples=200)
            assert point["utility"] == report.pope.overall.f1.value
            for key in ("sra_s", "sra_u"):
                assert point[key] is not None and 0.0 <= point[key] <= 1.0
            assert point["sra_a"] == pytest.approx((point["sra_s"] + point["sra_u"]) / 2)
    unsteered_1, steered_1, unsteered_2, steered_2 = (texts[p["run"]] for p in points)
    assert unsteered_1 == unsteered_2  # strength 0 at any block is the plain model
    assert steered_1 != unsteered_1 or steered_2 != unsteered_2  # a strong push changes answers
    assert points[0]["sra_s"] == points[2]["sra_s"] and points[0]["utility"] == points[2]["utility"]

    frontier = {(p["layer"], p["strength"]) for p in sweep["frontier"]}
    assert frontier
    for point in points:
        beaten = any(dominates(other, point, "utility") for other in points)
        if (point["layer"], point["strength"]) in frontier:
            assert not beaten
        else:  # left out: beaten, or a tie with a point that is on the frontier
            assert beaten or any(
                (o["layer"], o["strength"]) in frontier and (o["sra_u"], o["utility"]) == (point["sra_u"], point["utility"])
                for o in points
            )

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "SRA_u" in again.stdout and "pope_f1" in again.stdout and "frontier" in again.stdout
    assert again.stdout.count("8 cached") == 4 and "0 cached" not in again.stdout  # every point came from the store


def test_sweep_refuses_bad_inputs_clearly(tiny_llava_dir: Path, release_template: Path, tmp_path: Path) -> None:
    vector = tmp_path / "iar.safetensors"
    write_vectors(tiny_llava_dir, vector)
    base = ["steer", "sweep", "--data", str(release_template), "--vector", str(vector), "--store", str(tmp_path / "s.sqlite"),
            "--limit", "2", "--max-tokens", "2"]  # fmt: skip
    for extra, needle in [
        (["--model", f"hf:{tiny_llava_dir}", "--layers", "9"], "outside the text decoder"),
        (["--model", f"hf:{tiny_llava_dir}", "--layers", "3"], "no vector for text block 3"),
        (["--model", f"hf:{tiny_llava_dir}", "--utility", "mmlu"], "pope or scienceqa"),
        (["--model", f"hf:{tiny_llava_dir}", "--judge", "nonsense"], "nonsense"),
    ]:
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2 and needle in " ".join(result.output.split()), result.output
