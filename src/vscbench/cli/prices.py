"""The ``--prices`` option shared by the commands that show costs (run, runs list, score, report)."""

from __future__ import annotations

from pathlib import Path

from vscbench.cli.common import fail

PRICES_HELP = (
    'A price file over the shipped table, JSON: {"format": "vscbench-prices/1", "models": {"openai:NAME": {"input": '
    '0.15, "output": 0.6, "cached_input": 0.075, "batch_discount": 0.5, "source": "...", "date": "2026-12-01"}}}, '
    "USD per 1M tokens (docs/cost.md). Default: $VSCBENCH_PRICES, else the shipped table."
)


def use_price_file(path: Path | None) -> None:
    """Make the file's prices this process's default (nothing to do without one); a file that
    cannot be used is a one-line error."""
    from vscbench.models.pricing import PricesError, use_prices

    if path is None:
        return
    try:
        use_prices(path)
    except PricesError as exc:
        fail(str(exc))
