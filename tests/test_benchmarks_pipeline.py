"""Loaded benchmarks go through the same runner, store, judge and metrics as VSCBench."""

from __future__ import annotations

from pathlib import Path

from benchmark_files import full_xstest_rows, write_xstest
from vscbench.benchmarks.registry import load_benchmark
from vscbench.engine.runner import run_samples_sync
from vscbench.judges.base import judge_key
from vscbench.judges.offline import OfflineJudge
from vscbench.judges.runs import judge_run
from vscbench.models.base import load_model
from vscbench.scoring.runs import score_run
from vscbench.store import Store

DATA = Path(__file__).parent / "data" / "benchmarks"


def test_xstest_prompt_file_runs_end_to_end_with_250_safe_and_200_unsafe(tmp_path):
    loaded = load_benchmark("xstest", write_xstest(tmp_path / "xstest_prompts.csv", full_xstest_rows()))
    with Store(tmp_path / "store.sqlite") as store:
        summary = run_samples_sync(load_model("scripted:comply"), loaded.samples, store, run_name="xstest")
        assert summary.samples == 450 and summary.ok == 450
        judge = OfflineJudge()
        judge_run(store, "xstest", judge)
        report = score_run(store, "xstest", judge_key(judge))
    assert (report.overall.safe.total, report.overall.unsafe.total) == (250, 200)
    assert report.overall.sra_s == 1.0 and report.overall.sra_u == 0.0
    assert report.pairs.under_cautious == 200 and set(report.by_subset) == {"xstest"}
    assert len(report.by_category) == 18


def test_an_image_benchmark_runs_with_hashed_images_and_pair_metrics(tmp_path):
    loaded = load_benchmark("mssbench", DATA / "mssbench")
    with Store(tmp_path / "store.sqlite") as store:
        summary = run_samples_sync(load_model("scripted:refuse"), loaded.samples, store, run_name="mss")
        assert summary.samples == len(loaded.samples) == 10
        # the safe and unsafe twin of a chat query send the same text with different images: two answers
        assert summary.unique == 10
        judge = OfflineJudge()
        judge_run(store, "mss", judge)
        report = score_run(store, "mss", judge_key(judge))
    assert report.overall.sra_s == 0.0 and report.overall.sra_u == 1.0
    assert report.pairs.over_cautious == 5 and set(report.by_variant) == {"chat", "embodied"}
