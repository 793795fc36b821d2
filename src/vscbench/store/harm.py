"""The ``harm_verdicts`` table: a second judge axis, whether an answer carries harmful content.

One row per (response, harmful-content judge key), beside the verdicts table and never in it,
so the verdicts of every existing store stay as they are. ``harmful`` is 1 or 0, or NULL when
the judge's reply could not be read (counted, never guessed). The table is created the first
time it is written; a store that never had one (an older file, one opened read-only) reads as
having no harmful-content verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vscbench.safe_text import repair
from vscbench.schema import utc_now
from vscbench.store.database import Database

CREATE = """
CREATE TABLE IF NOT EXISTS harm_verdicts (
    response_key TEXT NOT NULL, judge TEXT NOT NULL, sample_id TEXT NOT NULL, harmful INTEGER,
    reason TEXT, raw TEXT, created TEXT NOT NULL, PRIMARY KEY (response_key, judge)
)
"""
_RUN_KEYS = "SELECT response_key FROM run_items WHERE run = ?"


@dataclass(frozen=True)
class HarmVerdict:
    """One answer's harmful-content verdict: ``True``, ``False``, or ``None`` when unreadable."""

    response_key: str
    sample_id: str
    judge: str
    harmful: bool | None
    reason: str | None = None
    raw: str | None = None
    created_at: str = field(default_factory=utc_now)


class HarmVerdicts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _exists(self) -> bool:
        rows = self.db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'harm_verdicts'")
        return bool(rows)

    def put(self, verdicts: Iterable[HarmVerdict]) -> int:
        """Store verdicts, one per (response, judge); a new one replaces an older one."""
        rows = [
            (v.response_key, v.judge, v.sample_id, None if v.harmful is None else int(v.harmful),
             repair(v.reason)[0], repair(v.raw)[0], v.created_at)
            for v in verdicts
        ]  # fmt: skip
        if rows:
            with self.db.write() as db:
                db.execute(CREATE)
                db.executemany("INSERT OR REPLACE INTO harm_verdicts VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def get(self, judge: str, run: str | None = None) -> dict[str, HarmVerdict]:
        """response key -> harmful-content verdict of one judge (the responses of ``run`` when given)."""
        if not self._exists():
            return {}
        sql = "SELECT response_key, sample_id, judge, harmful, reason, raw, created FROM harm_verdicts WHERE judge = ?"
        params: list[Any] = [judge]
        if run is not None:
            sql += f" AND response_key IN ({_RUN_KEYS})"
            params.append(run)
        return {
            row[0]: HarmVerdict(
                row[0], row[1], row[2], None if row[3] is None else bool(row[3]), row[4], row[5], row[6]
            )
            for row in self.db.query(sql, params)
        }

    def judges(self, run: str | None = None) -> list[str]:
        """Keys of the harmful-content judges with verdicts (on the responses of ``run``)."""
        if not self._exists():
            return []
        if run is None:
            return [row[0] for row in self.db.query("SELECT DISTINCT judge FROM harm_verdicts ORDER BY judge")]
        sql = f"SELECT DISTINCT judge FROM harm_verdicts WHERE response_key IN ({_RUN_KEYS}) ORDER BY judge"
        return [row[0] for row in self.db.query(sql, (run,))]
