"""``--max-cost``: stop sending before the spend of one command would pass a budget.

One :class:`Budget` is shared by every run and judge of a command. Before a call (or a whole
provider batch) is sent, an executor reserves its upper-bound cost (:meth:`Pricer.reservation`:
the input estimate plus a margin, an answer of ``max_tokens``); it is sent only if what is
already spent plus everything reserved in flight plus this reservation stays within the
budget; when it does not fit, the executor waits for the calls in flight to be answered (the
reservation of each is then replaced by the cost its reported usage says, :meth:`Pricer.actual`,
usually less) and tries again, and stops only when nothing is in flight and it still does not
fit. So the known spend never passes the budget (unless the provider counts more than the
estimate's margin), and sending stops less than one call's reservation short of it. Nothing is lost when it stops: what was answered is stored, and running the same
command again (with a larger budget) sends only what is missing.

The budget counts this command's spend only; answers already in the store cost nothing again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from vscbench.engine.estimate import Pricer
from vscbench.schema import Request, Response


@dataclass
class Budget:
    """The spend allowed to one command, in USD."""

    limit_usd: float
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    refused_usd: float | None = None
    """The reservation that did not fit (set once sending stopped at the budget)."""
    calls: int = 0
    holds: int = 0
    """Reservations in flight (a count, so that none left is exactly none)."""

    def try_reserve(self, amount: float) -> bool:
        """Reserve ``amount`` if it fits beside the spend and the reservations in flight (once
        the budget has stopped, nothing fits)."""
        if self.refused_usd is not None or self.spent_usd + self.reserved_usd + amount > self.limit_usd + 1e-12:
            return False
        self.reserved_usd += amount
        self.holds += 1
        return True

    def stop(self, amount: float) -> None:
        """Nothing is in flight and ``amount`` still does not fit: sending ends here."""
        if self.refused_usd is None:
            self.refused_usd = amount

    def settle(self, reserved: float, actual: float, calls: int = 1, holds: int = 1) -> None:
        """``holds`` reservations (``reserved`` in all) were answered by ``calls`` calls that cost ``actual``."""
        self.holds = max(0, self.holds - holds)
        self.reserved_usd = max(0.0, self.reserved_usd - reserved) if self.holds else 0.0  # no float residue
        self.spent_usd += actual
        self.calls += calls

    @property
    def stopped(self) -> bool:
        return self.refused_usd is not None

    @property
    def reason(self) -> str:
        """One line: where the budget stopped sending and what was spent."""
        return (
            f"stopped at --max-cost ${self.limit_usd:.4f}: spent ${self.spent_usd:.4f} so far on {self.calls} calls "
            f"(this command; the next call or batch would need up to ${self.refused_usd or 0:.4f} more); answers are "
            "stored: run the same command with a higher --max-cost to go on"
        )


@dataclass
class BudgetGate:
    """One executor's door to a shared budget: reservations by its model's prices."""

    budget: Budget
    pricer: Pricer
    batch: bool = False
    """Calls go through a provider batch API (priced at its discount)."""

    async def hold(self, requests: Sequence[Request], poll_s: float = 0.02) -> float | None:
        """Reserve the upper-bound cost of ``requests``, waiting while calls in flight may still
        free room (their answers usually cost less than reserved); None once it cannot fit."""
        amount = sum(self.pricer.reservation(request, self.batch) for request in requests)
        while not self.budget.try_reserve(amount):
            if self.budget.stopped:
                return None
            if not self.budget.holds:
                self.budget.stop(amount)
                return None
            await asyncio.sleep(poll_s)
        return amount

    def settle(self, held: float, answered: Sequence[tuple[Request, Response]]) -> None:
        """Replace a reservation by what its answers cost."""
        actual = sum(
            self.pricer.actual(response.usage, self.batch, request, answered=response.outcome != "error")
            for request, response in answered
        )
        self.budget.settle(held, actual, len(answered))

    @property
    def stopped(self) -> bool:
        return self.budget.stopped
