"""The ``verdicts`` and ``judges`` tables: one verdict per (response, judge key), and what each
judge key stands for (model, host, rubric hash, settings).

A verdict carries the judge's confidence and the key of the judge that decided it (a cascade's
member); stores written before these columns existed read them as NULL."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vscbench.safe_text import redact_secrets, repair
from vscbench.schema import FAILURE_LABELS, Verdict, utc_now
from vscbench.store.database import Database

_RUN_KEYS = "SELECT response_key FROM run_items WHERE run = ?"


_COLUMNS = "response_key, judge, sample_id, label, reason, raw, created, confidence, decided_by"


def _reason(verdict: Verdict) -> str | None:
    """A verdict's reason as stored: a failed judge call's reason (an error message, which may
    quote a credential back) with credentials removed; a judge's own words as given."""
    if verdict.reason and verdict.label in FAILURE_LABELS:
        return redact_secrets(verdict.reason)
    return verdict.reason


class Verdicts:
    def __init__(self, db: Database) -> None:
        self.db = db
        present = db.columns("verdicts")
        self._select = ", ".join(c if c in present else "NULL" for c in _COLUMNS.split(", "))

    def put(self, verdicts: Iterable[Verdict], replace: bool = True) -> int:
        """Store verdicts, one per (response, judge); ``replace=False`` keeps existing ones."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        rows = [
            (
                v.response_key, v.judge, v.sample_id, v.label, repair(_reason(v))[0], repair(v.raw)[0], v.created_at,
                v.confidence, v.decided_by,
            )
            for v in verdicts
        ]  # fmt: skip
        if rows:
            with self.db.write() as db:
                db.executemany(f"{verb} INTO verdicts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def get(self, judge: str, run: str | None = None) -> dict[str, Verdict]:
        """response key -> verdict of one judge (only the responses of ``run`` when given)."""
        sql = f"SELECT {self._select} FROM verdicts WHERE judge = ?"
        params: list[Any] = [judge]
        if run is not None:
            sql += f" AND response_key IN ({_RUN_KEYS})"
            params.append(run)
        return {
            row[0]: Verdict(
                response_key=row[0],
                judge=row[1],
                sample_id=row[2],
                label=row[3],
                reason=redact_secrets(row[4]) if row[4] and row[3] in FAILURE_LABELS else row[4],
                raw=row[5],
                created_at=row[6],
                confidence=row[7],
                decided_by=row[8],
            )
            for row in self.db.query(sql, params)
        }

    def judges(self, run: str | None = None) -> list[str]:
        """Keys of every judge with verdicts here (``offline@v3``; older stores: bare names), or
        on the responses of ``run``."""
        if run is None:
            return [row[0] for row in self.db.query("SELECT DISTINCT judge FROM verdicts ORDER BY judge")]
        sql = f"SELECT DISTINCT judge FROM verdicts WHERE response_key IN ({_RUN_KEYS}) ORDER BY judge"
        return [row[0] for row in self.db.query(sql, (run,))]

    def put_judge(self, key: str, name: str, version: str, identity: dict[str, Any]) -> None:
        """Record what a judge key stands for (model, host, rubric hash, settings...)."""
        with self.db.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO judges VALUES (?, ?, ?, ?, ?)",
                (key, name, version, json.dumps(identity, sort_keys=True, default=str), utc_now()),
            )

    def judge_identity(self, key: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT identity FROM judges WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None
