"""Statistics defects found by checking figures by hand: a baseline delta is the paired estimate
inside its own interval and says what it left out; `blocked` counts toward the incomplete
warning; the pair-calibration interval is clustered by prompt and covers as it should."""

from __future__ import annotations

import numpy as np

from vscbench.report.tables import comparison_tables, pairs_table
from vscbench.schema import Sample
from vscbench.scoring.compare import compare
from vscbench.scoring.metrics import score


def _sample(side: str, row: int, slot: int = 0) -> Sample:
    return Sample(id=f"image_centric/r{row}/{side}/slot_{slot}", subset="image_centric", category="c",
                  variant=f"slot_{slot}", label=side, prompt="p", pair_key=f"image_centric/r{row}/slot_{slot}",
                  source_row=row)  # type: ignore[arg-type]  # fmt: skip


def test_a_baseline_delta_is_the_paired_estimate_inside_its_interval() -> None:
    samples = [_sample(side, row) for row in range(8) for side in ("safe", "unsafe")]
    base = {
        s.id: ("compliance" if s.source_row < 4 else "refusal") if s.label == "safe" else "refusal" for s in samples
    }
    # the candidate fails on the samples the baseline got wrong: alone its SRA_s is 100 %, paired it changed nothing
    cand = {i: ("error" if label == "refusal" and "/safe/" in i else label) for i, label in base.items()}
    reports = {"base": score(samples, base), "cand": score(samples, cand)}
    assert (reports["base"].overall.sra_s, reports["cand"].overall.sra_s) == (0.5, 1.0)
    comparison = compare(reports, baseline="base")
    row = next(r for r in comparison.overall_rows() if r["name"] == "cand")
    for metric in ("sra_s", "sra_u", "sra_a"):
        low, high = row[f"delta_{metric}_ci"]
        assert low <= row[f"delta_{metric}"] <= high
        assert row[f"delta_{metric}_left_out"] == 4
    assert row["delta_sra_s"] == 0.0  # not +50 points from two different sets of samples
    cell = comparison_tables(comparison)[0].rows[1][-1]
    assert cell.startswith("+0.0 pts") and "(4 left out)" in cell
    assert comparison.to_dict()["deltas"]["cand"]["sra_a"]["left_out"] == 4


def test_blocked_answers_raise_the_incomplete_warning() -> None:
    samples = [_sample(side, row) for row in range(50) for side in ("safe", "unsafe")]
    labels = {s.id: "compliance" if s.label == "safe" else "refusal" for s in samples}
    labels[samples[0].id] = labels[samples[1].id] = "blocked"  # 2 % of the run
    report = score(samples, labels)
    assert report.incomplete == {"blocked": 2}
    assert report.warning() is not None and "2 blocked" in report.warning()


def test_the_twins_table_says_what_each_column_counts() -> None:
    samples = [_sample(side, row) for row in range(4) for side in ("safe", "unsafe")]
    labels = {s.id: "warning" for s in samples}  # a warning on a safe twin is wrong under the paper rule
    table = pairs_table(score(samples, labels))
    assert table.headers[1:6] == ["Both right", "Unsafe right", "Safe right", "Both wrong", "Failure"]
    assert table.rows[0][2] == "4"  # only the unsafe twin right: not "both refused"


def _coverage(intervals: str, runs: int, prompts: int = 40, slots: int = 3) -> float:
    """Share of simulated benchmarks whose pair-calibration interval holds the true share: each
    prompt has its own chance of a calibrated pair (Beta(1, 1)), shared by its slots."""
    rng = np.random.default_rng(7)
    samples = [
        _sample(side, row, slot) for row in range(prompts) for slot in range(slots) for side in ("safe", "unsafe")
    ]
    covered = 0
    for _ in range(runs):
        chance = rng.beta(1.0, 1.0, size=prompts)
        labels: dict[str, str] = {}
        for row in range(prompts):
            for slot in range(slots):
                calibrated = rng.random() < chance[row]
                labels[_sample("safe", row, slot).id] = "compliance" if calibrated else "refusal"
                labels[_sample("unsafe", row, slot).id] = "refusal"
        interval = score(samples, labels, intervals=intervals).pairs.share.ci  # type: ignore[arg-type]
        assert interval is not None
        covered += interval[0] <= 0.5 <= interval[1]
    return covered / runs


def test_the_pair_calibration_interval_is_clustered_by_prompt_and_covers() -> None:
    # the true coverage of the clustered interval here is 0.947 (1,500 runs); 500 runs measure it to +-0.01
    clustered, independent = _coverage("cluster", runs=500), _coverage("independent", runs=200)
    assert clustered >= 0.925, clustered
    assert independent < 0.9, independent  # what ignoring the clustering gave (0.86)
