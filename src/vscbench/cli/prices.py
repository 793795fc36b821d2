"""The ``--prices`` option shared by the commands that show costs (run, runs list, score, report),
and the batch and budget options of the commands that pay for calls (run, judge)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


EXECUTION_HELP = (
    "sync (default), or batch: send openai: and anthropic: calls (models and LLM judges) through the provider's "
    "batch API, at half the price, answered within 24 h. Batches are stored before waiting: a killed command "
    "resumes them when run again. `vscbench runs batches` lists them."
)
BATCH_REQUESTS_HELP = "With --execution batch: requests per batch (default: the provider's limit)."
BATCH_MB_HELP = "With --execution batch: input MB per batch (default: 95% of the provider's limit)."
BATCH_POLL_HELP = "With --execution batch: seconds between polls (default 30)."
BATCH_RETRY_HELP = (
    "With --execution batch: items that failed or expired are asked again: sync (default), batch (in a new batch) "
    "or none (left for the next run)."
)
BATCH_WAIT_HELP = (
    "With --execution batch: wait for the batches (default), or submit them and end (run again to collect)."
)
MAX_COST_HELP = (
    "Budget in USD for this command (models and judge): stop sending before the spend, known plus reserved for "
    "calls in flight, would pass it; exit 1 with the spend so far; run again to go on."
)


def judge_payment(
    execution: str,
    batch_requests: int | None,
    batch_mb: float | None,
    batch_poll: float | None,
    batch_retry: str | None,
    batch_wait: bool | None,
    max_cost: float | None,
    prices: Path | None,
) -> tuple[dict[str, Any], Any]:
    """The options that make an LLM judge batch its calls or keep to a budget (only those asked
    for: a judge that can do neither refuses them by name), and the budget (None without
    ``--max-cost``). Bad values are one-line errors naming the option."""
    from vscbench.engine.budget import Budget
    from vscbench.experiment.spec import Execution, validation_message
    from vscbench.models.pricing import default_prices

    batch_given = [name for name, value in (("--batch-requests", batch_requests), ("--batch-mb", batch_mb),
                   ("--batch-poll", batch_poll), ("--batch-retry", batch_retry), ("--batch-wait", batch_wait))
                   if value is not None]  # fmt: skip
    if execution != "batch" and batch_given:
        fail(f"{', '.join(batch_given)} only apply with --execution batch")
    if max_cost is not None and max_cost <= 0:
        fail(f"--max-cost must be above 0 (USD), not {max_cost}")
    given = {"mode": execution, "batch_requests": batch_requests, "batch_mb": batch_mb, "batch_poll": batch_poll,
             "batch_retry": batch_retry, "batch_wait": batch_wait, "max_cost": max_cost}  # fmt: skip
    try:  # the checks `run` applies to the same options
        settings = Execution(**{key: value for key, value in given.items() if value is not None})
    except ValueError as exc:  # named as the options are spelt here
        message = validation_message(exc).removeprefix("settings: ").replace("mode", "--execution", 1)
        for key in given:
            message = message.replace(key, "--" + key.replace("_", "-"))
        fail(message)
    use_price_file(prices)
    options: dict[str, Any] = {"batch": settings.batch_settings()} if settings.mode == "batch" else {}
    budget = Budget(max_cost) if max_cost is not None else None
    if budget is not None:
        options |= {"budget": budget, "prices": default_prices()}
    return options, budget
