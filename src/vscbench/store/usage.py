"""What the stored calls used: token sums per run (its answers) and per judge (the judge calls
behind its verdicts), split by model and billing tier, so a price table turns them into dollars;
and the ``verdict_calls`` table, which links each verdict to the judge calls that made it.

Sums are taken over *distinct* response keys: two samples of a run that asked the same thing
share one paid call. A call shared by two runs (the same request in both) counts in each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vscbench.store.database import Database

_TOKENS = (
    "COUNT(*), SUM(COALESCE(json_extract(r.usage, '$.prompt_tokens'), 0)), "
    "SUM(COALESCE(json_extract(r.usage, '$.completion_tokens'), 0)), "
    "SUM(COALESCE(json_extract(r.usage, '$.cached_tokens'), 0)), "
    "SUM(CASE WHEN json_extract(r.usage, '$.prompt_tokens') IS NULL AND r.outcome != 'error' THEN 1 ELSE 0 END)"
)


@dataclass(frozen=True)
class UsageSum:
    """Token sums of the calls of one model at one billing tier."""

    model: str
    tier: str | None
    """``batch`` for calls answered through a provider batch, None for synchronous ones."""
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    unreported: int
    """Answered calls whose provider reported no usage (a local model, or a server that omits it)."""


class UsageTotals:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _tier(self) -> str:
        return "r.tier" if self.db.has_column("responses", "tier") else "NULL"

    def of_runs(self, runs: Iterable[str] | None = None) -> dict[str, list[UsageSum]]:
        """run -> usage of its answers by (model, tier); every run when ``runs`` is None."""
        wanted = list(runs) if runs is not None else None
        rows = self.db.query(
            f"SELECT i.run, r.model, {self._tier()}, {_TOKENS} FROM (SELECT DISTINCT run, response_key FROM run_items) i "
            f"JOIN responses r ON r.key = i.response_key GROUP BY 1, 2, 3"
        )
        out: dict[str, list[UsageSum]] = {}
        for run, *rest in rows:
            if wanted is None or run in wanted:
                out.setdefault(run, []).append(UsageSum(*rest))
        return out

    def of_judges(self, runs: Iterable[str] | None = None) -> dict[str, dict[str, list[UsageSum]]]:
        """run -> judge key -> usage of the judge calls behind its verdicts on the run's answers
        (a call that judged two answers alike is paid, and counted, once)."""
        if not self.db.has_table("verdict_calls"):
            return {}
        wanted = list(runs) if runs is not None else None
        rows = self.db.query(
            f"SELECT x.run, x.judge, r.model, {self._tier()}, {_TOKENS} FROM (SELECT DISTINCT i.run, v.judge, v.call_key "
            "FROM (SELECT DISTINCT run, response_key FROM run_items) i JOIN verdict_calls v "
            "ON v.response_key = i.response_key) x JOIN responses r ON r.key = x.call_key GROUP BY 1, 2, 3, 4"
        )
        out: dict[str, dict[str, list[UsageSum]]] = {}
        for run, judge, *rest in rows:
            if wanted is None or run in wanted:
                out.setdefault(run, {}).setdefault(judge, []).append(UsageSum(*rest))
        return out

    def mean_completion(self, model: str, role: str) -> tuple[float, int] | None:
        """(mean completion tokens, answers averaged) of ``model``'s ``ok`` replies as a run's
        answers (``role="answer"``) or as judge calls (``role="judge"``); None without any."""
        if role == "judge":
            if not self.db.has_table("verdict_calls"):
                return None
            among = "SELECT call_key FROM verdict_calls"
        else:
            among = "SELECT response_key FROM run_items"
        rows = self.db.query(
            "SELECT AVG(json_extract(usage, '$.completion_tokens')), COUNT(*) FROM responses "
            f"WHERE model = ? AND outcome = 'ok' AND json_extract(usage, '$.completion_tokens') IS NOT NULL "
            f"AND key IN ({among})",
            (model,),
        )
        mean, count = rows[0] if rows else (None, 0)
        return (float(mean), int(count)) if count else None

    def put_verdict_calls(self, links: Iterable[tuple[str, str, str]]) -> None:
        """Record which judge calls made each verdict, as (response key, judge key, call key)."""
        rows = list(links)
        if rows:
            with self.db.write() as db:
                db.executemany("INSERT OR IGNORE INTO verdict_calls VALUES (?, ?, ?)", rows)
