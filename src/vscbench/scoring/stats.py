"""Interval estimates for shares of correct answers, when answers come in clusters.

The samples of a benchmark are not independent: the six images of an image-centric prompt, or
the five variants of a text-centric row, are asked about the same request, and a model that
refuses one of them tends to refuse the others. Treating 1,800 such samples as 1,800 coin flips
makes intervals too narrow. Two tools here account for it:

- :func:`design_effect`: the variance of a share estimated over clusters (the ratio-estimator
  variance of survey sampling) divided by the binomial variance. A Wilson interval on the
  effective sample size ``n / deff`` keeps Wilson's good behaviour at 0 % and 100 %, where a
  bootstrap collapses to a point. The effect is floored at 1: clustering never makes an
  interval narrower than the independent one.
- :func:`paired_bootstrap`: differences between two runs on the same samples, resampling whole
  clusters (prompts) with replacement; a percentile interval and a two-sided p-value.

Everything is deterministic (fixed seeds) so a figure is the same on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

Interval = tuple[float, float]
Z_95 = NormalDist().inv_cdf(0.975)


@lru_cache(maxsize=4096)
def wilson_interval(successes: float, total: float, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval of a binomial proportion; ``None`` when there is nothing to score.

    ``successes`` and ``total`` may be fractional (an effective sample size). Written out (it is
    four lines) rather than taken from scipy.stats, whose import costs seconds on every
    ``vscbench score``; the tests check it against scipy.
    """
    if total <= 0:
        return None
    if not 0 <= successes <= total:
        raise ValueError(f"successes must lie in 0..{total}, got {successes}")
    z = Z_95 if confidence == 0.95 else NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / total
    spread = z * z / total
    centre = (share + spread / 2) / (1 + spread)
    half_width = z * math.sqrt(share * (1 - share) / total + spread / (4 * total)) / (1 + spread)
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)  # exact ends, no 1e-17 residue
    high = 1.0 if successes == total else min(1.0, centre + half_width)
    return (low, high)


@dataclass(frozen=True)
class ClusterCounts:
    """Correct and scored answers per cluster, for one side (safe or unsafe) of a group."""

    correct: tuple[int, ...]
    total: tuple[int, ...]

    @property
    def share(self) -> float | None:
        scored = sum(self.total)
        return sum(self.correct) / scored if scored else None


def _residuals(counts: ClusterCounts) -> np.ndarray:
    share = counts.share or 0.0
    return np.asarray(counts.correct, dtype=float) - share * np.asarray(counts.total, dtype=float)


def cluster_variance(counts: ClusterCounts) -> float | None:
    """Variance of the share over clusters (ratio estimator, with the C/(C-1) correction)."""
    scored = sum(counts.total)
    clusters = sum(1 for t in counts.total if t)
    if not scored or clusters < 2:
        return None
    residuals = _residuals(counts)
    return clusters / (clusters - 1) * float(residuals @ residuals) / scored**2


def design_effect(counts: ClusterCounts) -> float:
    """Cluster variance over binomial variance, at least 1 (1 when either is undefined or 0).

    Both variances carry their small-sample correction (C/(C-1) over clusters, n/(n-1) over
    samples), so clusters of one sample each give exactly 1.
    """
    share, scored = counts.share, sum(counts.total)
    variance = cluster_variance(counts)
    if share is None or variance is None or share in (0.0, 1.0) or scored < 2:
        return 1.0
    return max(1.0, variance / (share * (1 - share) / (scored - 1)))


def side_correlation(first: ClusterCounts, second: ClusterCounts) -> float:
    """Correlation of two shares estimated over the same clusters (0 when they share none).

    Both count tuples must be aligned on one list of clusters (zeros where a cluster has no
    sample of that side). Image-centric prompts carry safe and unsafe images alike, so their
    SRA_s and SRA_u are correlated; text-centric safe and unsafe rows are separate clusters.
    """
    var_first, var_second = cluster_variance(first), cluster_variance(second)
    if not var_first or not var_second:
        return 0.0
    clusters = len(first.total)
    covariance = clusters / (clusters - 1) * float(_residuals(first) @ _residuals(second))
    covariance /= sum(first.total) * sum(second.total)
    return max(-1.0, min(1.0, covariance / math.sqrt(var_first * var_second)))


def mean_of_two(first: tuple[float, Interval], second: tuple[float, Interval], correlation: float = 0.0) -> Interval:
    """Interval of the mean of two estimates from their own intervals (MOVER, Zou & Donner
    2008), with the correlation term for estimates taken over shared clusters."""
    (p1, (l1, u1)), (p2, (l2, u2)) = first, second
    centre = (p1 + p2) / 2
    low = math.sqrt(max(0.0, (p1 - l1) ** 2 + (p2 - l2) ** 2 + 2 * correlation * (p1 - l1) * (p2 - l2))) / 2
    high = math.sqrt(max(0.0, (u1 - p1) ** 2 + (u2 - p2) ** 2 + 2 * correlation * (u1 - p1) * (u2 - p2))) / 2
    return (max(0.0, centre - low), min(1.0, centre + high))


@dataclass(frozen=True)
class PairedDelta:
    """``value`` = candidate minus baseline, over the samples both scored."""

    value: float | None
    ci: Interval | None
    p_value: float | None
    samples: int
    clusters: int
    method: str = "paired cluster bootstrap"
    left_out: int = 0
    """Samples scored by one run only (a failure in the other), outside the pairing."""

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "ci": list(self.ci) if self.ci else None,
            "p_value": self.p_value,
            "samples": self.samples,
            "clusters": self.clusters,
            "left_out": self.left_out,
            "method": self.method,
        }


def paired_bootstrap(
    baseline: Mapping[str, bool],
    candidate: Mapping[str, bool],
    clusters: Mapping[str, str],
    sides: Mapping[str, str],
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, PairedDelta]:
    """Change of SRA_s, SRA_u and SRA_a from ``baseline`` to ``candidate``.

    Both map sample id -> correct; only ids scored in both enter. ``clusters`` maps id -> the
    prompt it belongs to, ``sides`` id -> ``safe``/``unsafe``. Whole clusters are drawn with
    replacement, so correlated samples move together. The p-value is two-sided, from the
    bootstrap distribution shifted to the null of no change.
    """
    common = sorted(set(baseline) & set(candidate))
    names = sorted({clusters[i] for i in common})
    position = {name: index for index, name in enumerate(names)}
    # per cluster: [safe n, safe base correct, safe cand correct, unsafe n, unsafe base, unsafe cand]
    table = np.zeros((len(names), 6))
    for sample_id in common:
        row = table[position[clusters[sample_id]]]
        offset = 0 if sides[sample_id] == "safe" else 3
        row[offset] += 1
        row[offset + 1] += baseline[sample_id]
        row[offset + 2] += candidate[sample_id]
    observed = _deltas(table.sum(axis=0, keepdims=True))[0]
    out: dict[str, PairedDelta] = {}
    if len(names) == 0:
        return {m: PairedDelta(None, None, None, 0, 0) for m in ("sra_s", "sra_u", "sra_a")}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    sums = table[draws].sum(axis=1)  # (resamples, 6)
    boot = _deltas(sums)
    for index, metric in enumerate(("sra_s", "sra_u", "sra_a")):
        value = observed[index]
        if math.isnan(value):
            out[metric] = PairedDelta(None, None, None, len(common), len(names))
            continue
        values = boot[:, index]
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, [2.5, 97.5])
        low, high = min(low, value), max(high, value)  # a skewed percentile interval still holds its estimate
        shifted = values - value
        p_value = float(np.mean(np.abs(shifted) >= abs(value) - 1e-12)) if value != 0 else 1.0
        out[metric] = PairedDelta(float(value), (float(low), float(high)), p_value, len(common), len(names))
    return out


def _deltas(sums: np.ndarray) -> np.ndarray:
    """(rows, 3) deltas of SRA_s, SRA_u and SRA_a from summed cluster columns; NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = (sums[:, 2] - sums[:, 1]) / sums[:, 0]
        unsafe = (sums[:, 5] - sums[:, 4]) / sums[:, 3]
    return np.stack([safe, unsafe, (safe + unsafe) / 2], axis=1)


def align(counts: Mapping[str, Sequence[int]], names: Sequence[str]) -> tuple[ClusterCounts, ClusterCounts]:
    """Safe and unsafe :class:`ClusterCounts` from ``cluster -> [safe correct, safe total,
    unsafe correct, unsafe total]``, on one list of cluster names."""
    rows = [counts[name] for name in names]
    safe = ClusterCounts(tuple(r[0] for r in rows), tuple(r[1] for r in rows))
    unsafe = ClusterCounts(tuple(r[2] for r in rows), tuple(r[3] for r in rows))
    return safe, unsafe
