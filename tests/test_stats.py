"""Clustered intervals and paired deltas on cases whose answers are known by hand."""

from __future__ import annotations

import pytest

from vscbench.schema import Sample
from vscbench.scoring.metrics import score
from vscbench.scoring.stats import (
    ClusterCounts,
    design_effect,
    mean_of_two,
    paired_bootstrap,
    side_correlation,
    wilson_interval,
)


def test_clusters_of_one_sample_have_no_design_effect() -> None:
    counts = ClusterCounts(correct=(1, 0, 1, 1, 0, 1), total=(1,) * 6)
    assert design_effect(counts) == pytest.approx(1.0)


def test_identical_answers_within_a_prompt_inflate_the_variance_by_about_the_cluster_size() -> None:
    # 10 prompts x 5 images; a prompt is answered all-right or all-wrong, half and half
    counts = ClusterCounts(correct=(5, 0) * 5, total=(5,) * 10)
    # cluster variance 10/9 * 10 * 2.5^2 / 50^2; binomial variance 0.25 / 49
    expected = (10 / 9 * 10 * 2.5**2 / 50**2) / (0.25 / 49)
    assert design_effect(counts) == pytest.approx(expected)
    assert 5.0 < expected < 5.6


def test_design_effect_is_never_below_one_and_undefined_shares_give_one() -> None:
    # answers spread evenly across prompts vary less than coin flips would: floored at 1
    assert design_effect(ClusterCounts(correct=(1, 1, 1, 1), total=(2, 2, 2, 2))) == 1.0
    assert design_effect(ClusterCounts(correct=(2, 2), total=(2, 2))) == 1.0  # 100 %
    assert design_effect(ClusterCounts(correct=(0,), total=(3,))) == 1.0


def test_the_two_sides_of_shared_prompts_are_correlated() -> None:
    # image-centric prompts carry safe and unsafe images: a prompt the model understands is
    # right on both sides
    safe = ClusterCounts(correct=(3, 0, 3, 0, 3, 1), total=(3,) * 6)
    unsafe = ClusterCounts(correct=(3, 0, 3, 1, 3, 0), total=(3,) * 6)
    assert side_correlation(safe, unsafe) > 0.8
    separate = ClusterCounts(correct=(0,) * 6, total=(0,) * 6)  # no unsafe sample in these clusters
    assert side_correlation(safe, separate) == 0.0


def test_mover_with_correlation_widens_the_interval_of_the_mean() -> None:
    first, second = (0.6, (0.5, 0.7)), (0.8, (0.7, 0.9))
    independent = mean_of_two(first, second, 0.0)
    correlated = mean_of_two(first, second, 0.9)
    assert independent[0] == pytest.approx(0.7 - (0.1**2 * 2) ** 0.5 / 2)
    assert correlated[0] < independent[0] and correlated[1] > independent[1]


def test_fractional_wilson_matches_the_integer_one() -> None:
    assert wilson_interval(3.0, 10.0) == pytest.approx(wilson_interval(3, 10))
    assert wilson_interval(0.0, 0.0) is None


def _samples() -> list[Sample]:
    """20 prompts x 3 images per label, each prompt a cluster (its spreadsheet row)."""
    samples = []
    for row in range(20):
        for label in ("safe", "unsafe"):
            for slot in range(3):
                samples.append(Sample(
                    id=f"image_centric/r{row}/{label}/slot_{slot}", subset="image_centric", category="c",
                    variant=f"slot_{slot}", label=label, prompt="p", source_file="f.xlsx", source_row=row,
                ))  # fmt: skip
    return samples


def test_clustered_scores_are_wider_than_independent_ones_on_clustered_answers() -> None:
    samples = _samples()
    # whole prompts are right or wrong together
    labels = {s.id: ("compliance" if s.source_row % 3 else "refusal") if s.label == "safe" else
              ("refusal" if s.source_row % 2 else "compliance") for s in samples}  # fmt: skip
    clustered = score(samples, labels).overall
    independent = score(samples, labels, intervals="independent").overall
    assert clustered.sra_s == independent.sra_s and clustered.clusters == 20
    width = lambda ci: ci[1] - ci[0]
    for metric in ("sra_s", "sra_u", "sra_a"):
        assert width(clustered.ci[metric]) > 1.5 * width(independent.ci[metric]), metric
    assert clustered.safe.design_effect == pytest.approx(3.0, rel=0.2)


def test_paired_bootstrap_on_a_run_and_itself_and_on_a_clear_improvement() -> None:
    ids = [f"s{i}" for i in range(40)]
    clusters = {i: f"p{n // 4}" for n, i in enumerate(ids)}
    sides = {i: "safe" if n % 2 else "unsafe" for n, i in enumerate(ids)}
    base = {i: n % 3 == 0 for n, i in enumerate(ids)}
    same = paired_bootstrap(base, base, clusters, sides)
    assert same["sra_a"].value == 0 and same["sra_a"].p_value == 1.0 and same["sra_a"].ci == (0.0, 0.0)
    better = {i: True for i in ids}
    delta = paired_bootstrap(base, better, clusters, sides)
    assert delta["sra_s"].value == pytest.approx(1 - sum(base[i] for i in ids if sides[i] == "safe") / 20)
    assert delta["sra_a"].p_value < 0.01 and delta["sra_a"].ci[0] > 0
    assert delta["sra_a"].clusters == 10 and delta["sra_a"].samples == 40
    assert paired_bootstrap(base, better, clusters, sides)["sra_a"] == delta["sra_a"]  # deterministic
    # only samples both runs scored enter
    partial = paired_bootstrap(base, {i: True for i in ids[:8]}, clusters, sides)
    assert partial["sra_a"].samples == 8 and partial["sra_a"].clusters == 2
