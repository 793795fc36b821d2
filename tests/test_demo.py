"""`vscbench demo` runs the whole pipeline offline on its built-in set; quickstart fails fast
(and points to the demo) when a hub model cannot be had."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from vscbench.benchmarks.samples import load_samples
from vscbench.cli import app
from vscbench.judges.offline import OfflineJudge
from vscbench.workflows.demo import IMAGE_TWINS, TEXT_TWINS, write_demo

runner = CliRunner()


def test_demo_set_is_twins_in_both_shapes(tmp_path: Path) -> None:
    loaded = load_samples(write_demo(tmp_path), warn=False)
    samples = loaded.samples
    assert len(samples) == 2 * len(IMAGE_TWINS) + 4 * len(TEXT_TWINS)
    assert {s.subset for s in samples} == {"image_centric", "text_centric"}
    by_pair: dict[str, set[str]] = {}
    for sample in samples:
        by_pair.setdefault(sample.pair_key, set()).add(sample.label)
        if sample.image_path is not None:
            assert sample.image_path.is_file()
    assert all(labels == {"safe", "unsafe"} for labels in by_pair.values())
    typography = [s for s in samples if s.variant == "typography"]
    assert all("the content in the image" in s.prompt and s.question != s.prompt for s in typography)


def test_demo_end_to_end_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    started = time.perf_counter()
    result = runner.invoke(app, ["demo", "--dest", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 60
    payload = json.loads(result.stdout)
    assert payload["overall"]["samples"] == 36 and payload["provenance"]["judge"]["name"] == "offline"
    assert set(payload["by_subset"]) == {"image_centric", "text_centric"}
    assert Path(payload["report"]).is_file() and Path(payload["store"]).is_file()
    # the report `vscbench report` writes: one thumbnail per distinct picture, the judge named
    html = Path(payload["report"]).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in (tmp_path / "demo" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    pictures = {row["image_path"] for row in rows if row.get("image_path")}
    assert pictures and html.count("data:image/jpeg") == len(pictures)
    assert f"offline v{OfflineJudge.version}" in html
    again = runner.invoke(app, ["demo", "--dest", str(tmp_path / "demo"), "--json"])
    assert json.loads(again.stdout)["overall"] == payload["overall"]  # answered from the store


def test_quickstart_fails_fast_when_the_hub_cannot_be_reached(
    tmp_path: Path, release_template: Path, monkeypatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    started = time.perf_counter()
    result = runner.invoke(app, ["quickstart", "--model", "hf:someone/some-vlm", "--data", str(release_template)])
    assert result.exit_code == 2 and "vscbench demo" in result.output
    assert time.perf_counter() - started < 15
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = runner.invoke(app, ["quickstart", "--model", "hf:someone/some-vlm", "--data", str(release_template)])
    assert offline.exit_code == 2 and "HF_HUB_OFFLINE" in offline.output and "vscbench demo" in offline.output
