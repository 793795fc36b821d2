"""Costs as people read them: ``$0.0123``, ``price unknown``, and the one line a score's
provenance carries (what the run and its judge cost, what one point of precision costs)."""

from __future__ import annotations

from typing import Any


def format_usd(value: float | None) -> str:
    """``$0.0123``, ``$12.35``; ``price unknown`` for None (never a made-up 0)."""
    if value is None:
        return "price unknown"
    return f"${value:,.2f}" if value >= 10 else f"${value:.4f}"


def cost_line(cost: dict[str, Any]) -> str:
    """What a run and its judge cost, and what one point of SRA_a's precision would cost."""
    answers, judge = cost.get("answers") or {}, cost.get("judge") or {}
    batch = answers.get("batch_calls", 0) + judge.get("batch_calls", 0)
    parts = [f"answers {format_usd(answers.get('cost_usd'))}", f"judge {format_usd(judge.get('cost_usd'))}",
             f"tokens in/out {cost.get('input_tokens', 0):,}/{cost.get('output_tokens', 0):,}"]  # fmt: skip
    if batch:
        parts.append(f"{batch:,} batch calls at the batch discount")
    if cost.get("unpriced"):
        parts.append(f"no price for {', '.join(cost['unpriced'])} (add it with --prices FILE)")
    line = f"cost: {format_usd(cost.get('cost_usd'))} ({'; '.join(parts)}; {cost.get('prices', '')})"
    point = (cost.get("one_point") or {}).get("sra_a")
    if point:
        line += (
            f"; one point of SRA_a precision costs {format_usd(point['cost_usd'])} ({point['extra_samples']:,} more "
            f"samples, from a {point['width_points']:.1f}-point interval on {point['n']:,})"
        )
    return line
