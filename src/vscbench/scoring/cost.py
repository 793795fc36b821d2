"""What a run cost, its answers and its judge, and what one point of precision would cost.

A run's cost is the cost of the distinct calls behind its answers (two samples that asked the
same thing share one call), each priced by the price table (:mod:`vscbench.models.pricing`) at
the rate it was billed at: synchronous, or a provider batch at its discount. A judge's cost is
that of the judge calls behind its verdicts on the run's answers (a first ask and any re-ask).
A call of a model the table does not price makes the cost unknown (``None``), never 0; local
models cost 0.

**What one point of precision costs.** A figure's 95 % interval is ``W`` points wide with ``n``
scored samples; its width shrinks as ``1 / sqrt(n)`` (Wilson on the effective sample size, the
design effect held fixed), so a width of ``W - 1`` points takes ``n' = n * (W / (W - 1))^2``
samples. One point of precision costs the ``n' - n`` extra samples at the run's cost per
sample (answers and judge, over the run's samples): ``(n' - n) * cost / samples``. A figure
already narrower than one point has no such cost (``None``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vscbench.models.pricing import PriceTable, default_prices
from vscbench.store import Store
from vscbench.store.usage import UsageSum


@dataclass(frozen=True)
class CostLine:
    """Tokens and cost of a set of calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    batch_calls: int = 0
    """Calls answered through a provider batch (priced at its discount)."""
    cost_usd: float | None = 0.0
    unpriced: tuple[str, ...] = ()
    """Models of these calls the price table does not know (then ``cost_usd`` is None)."""

    def __add__(self, other: CostLine) -> CostLine:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return CostLine(
            self.calls + other.calls, self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens, self.batch_calls + other.batch_calls, cost,
            tuple(sorted(set(self.unpriced) | set(other.unpriced))),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "calls": self.calls,
                "cached_tokens": self.cached_tokens, "batch_calls": self.batch_calls,
                "unpriced": list(self.unpriced)}  # fmt: skip


def price_usage(sums: Iterable[UsageSum], prices: PriceTable | None = None) -> CostLine:
    """The cost of usage sums, each at its model's price and billing tier."""
    prices = prices or default_prices()
    total = CostLine()
    for part in sums:
        cost = prices.cost(part.model, part.prompt_tokens, part.completion_tokens, part.cached_tokens,
                           batch=part.tier == "batch")  # fmt: skip
        total = total + CostLine(
            part.calls, part.prompt_tokens, part.completion_tokens, part.cached_tokens,
            part.calls if part.tier == "batch" else 0, cost, (part.model,) if cost is None else (),
        )  # fmt: skip
    return total


@dataclass(frozen=True)
class RunCost:
    """A run's answers and each judge's calls on them, priced."""

    run: str
    samples: int
    answers: CostLine
    judges: dict[str, CostLine] = field(default_factory=dict)
    prices: str = ""

    def judge(self, key: str | None = None) -> CostLine:
        """One judge's calls (``key``), or every judge's together."""
        if key is not None:
            return self.judges.get(key, CostLine())
        return sum(self.judges.values(), CostLine())

    def total(self, judge: str | None = None) -> CostLine:
        return self.answers + self.judge(judge)

    def per_sample(self, judge: str | None = None) -> float | None:
        cost = self.total(judge).cost_usd
        return None if cost is None or not self.samples else cost / self.samples

    def to_dict(self, judge: str | None = None) -> dict[str, Any]:
        """``cost_usd``, ``input_tokens`` and ``output_tokens`` of answers plus judge (``judge``,
        or all judges), with the parts apart."""
        total = self.total(judge)
        per_sample = self.per_sample(judge)
        return {
            **total.to_dict(), "answers": self.answers.to_dict(),
            "judge": self.judge(judge).to_dict(),
            "per_sample_usd": None if per_sample is None else round(per_sample, 8), "prices": self.prices,
        }  # fmt: skip


def run_costs(store: Store, runs: Iterable[str] | None = None, prices: PriceTable | None = None) -> dict[str, RunCost]:
    """run -> its cost, for ``runs`` (every run when None)."""
    prices = prices or default_prices()
    wanted = list(runs) if runs is not None else None
    answers = store.usage.of_runs(wanted)
    judges = store.usage.of_judges(wanted)
    out: dict[str, RunCost] = {}
    for info in store.list_runs():
        if wanted is not None and info.name not in wanted:
            continue
        out[info.name] = RunCost(
            info.name, info.items, price_usage(answers.get(info.name, []), prices),
            {key: price_usage(sums, prices) for key, sums in judges.get(info.name, {}).items()}, prices.describe(),
        )  # fmt: skip
    return out


def precision_cost(width: float | None, n: int, cost_per_sample: float | None) -> dict[str, Any] | None:
    """What narrowing a figure's interval by one point costs (see the module docstring).

    ``width`` is the interval's width as a share (0.084 for 8.4 points); None when the figure
    has no interval, is already narrower than one point, or its cost is unknown.
    """
    if width is None or cost_per_sample is None or n <= 0:
        return None
    points = 100 * width
    if points <= 1.0:
        return None
    needed = n * (points / (points - 1.0)) ** 2
    extra = math.ceil(needed - n)
    return {"width_points": round(points, 2), "n": n, "extra_samples": extra,
            "cost_usd": round(extra * cost_per_sample, 6)}  # fmt: skip


def report_cost(
    store: Store, run: str, judge: str | None, overall: Any, prices: PriceTable | None = None
) -> dict[str, Any]:
    """The ``cost`` block of a score's provenance: the run's cost with this judge, and per
    figure (SRA_s, SRA_u, SRA_a) what one point of precision costs."""
    cost = run_costs(store, [run], prices).get(run)
    if cost is None:
        return {}
    block = cost.to_dict(judge)
    per_sample = cost.per_sample(judge)
    counts = {"sra_s": overall.safe.total, "sra_u": overall.unsafe.total, "sra_a": overall.n}
    block["one_point"] = {
        metric: precision_cost(None if interval is None else interval[1] - interval[0], counts[metric], per_sample)
        for metric, interval in overall.ci.items()
    }
    return block
