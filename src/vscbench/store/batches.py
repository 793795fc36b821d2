"""The ``batches`` and ``batch_items`` tables: provider batches a run submitted, and which keyed
requests each one holds.

A batch is written here *before* it is sent (status ``submitting``), given its provider id as
soon as the provider accepts it (``submitted``), and closed once its results are stored
(``collected``), or when the provider rejected it whole (``failed``), or when a batch left
``submitting`` by a killed process turned out never to have reached the provider
(``abandoned``). A killed ``vscbench run`` therefore finds every batch it paid for here and polls
it again instead of sending its requests a second time. The items' custom id at the provider is
the request's cache key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from vscbench.schema import utc_now
from vscbench.store.database import Database

BatchStatus = Literal["submitting", "submitted", "collected", "failed", "abandoned"]
#: Statuses of a batch whose results are still to be stored.
OPEN_STATUSES: tuple[BatchStatus, ...] = ("submitting", "submitted")

ItemState = Literal["pending", "answered", "failed", "not_run"]
"""``pending`` until the batch is collected; then ``answered`` (a final answer was stored),
``failed`` (the provider returned an error for it) or ``not_run`` (expired or cancelled before
it ran, or missing from the results)."""


@dataclass(frozen=True)
class BatchRecord:
    """One provider batch as the store knows it, with its items counted by state."""

    id: str
    """Local id, written before the provider is called (also sent as the batch's metadata)."""
    provider: str
    model: str
    batch_id: str | None
    input_file_id: str | None
    status: BatchStatus
    provider_status: str | None
    requests: int
    bytes: int
    purpose: str | None
    created: str
    updated: str
    items: dict[str, int]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


_COLUMNS = (
    "id, provider, model, batch_id, input_file_id, status, provider_status, requests, bytes, purpose, created, updated"
)


class Batches:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, local_id: str, provider: str, model: str, items: Sequence[tuple[str, str]], size: int,
               purpose: str | None) -> None:  # fmt: skip
        """Record a batch about to be sent: its (key, sample id) items, request bytes, and what
        it is for (a run name, a judge)."""
        now = utc_now()
        with self.db.write() as db:
            db.execute(
                f"INSERT INTO batches ({_COLUMNS}) VALUES (?, ?, ?, NULL, NULL, 'submitting', NULL, ?, ?, ?, ?, ?)",
                (local_id, provider, model, len(items), size, purpose, now, now),
            )
            db.executemany(
                "INSERT INTO batch_items VALUES (?, ?, ?, 'pending')", [(local_id, key, sid) for key, sid in items]
            )

    def submitted(self, local_id: str, batch_id: str, input_file_id: str | None, provider_status: str) -> None:
        """The provider accepted the batch under ``batch_id``: from now on it is polled, never re-sent."""
        with self.db.write() as db:
            db.execute(
                "UPDATE batches SET batch_id = ?, input_file_id = ?, status = 'submitted', provider_status = ?, "
                "updated = ? WHERE id = ?",
                (batch_id, input_file_id, provider_status, utc_now(), local_id),
            )

    def set_status(self, local_id: str, status: BatchStatus | None = None, provider_status: str | None = None) -> None:
        sets, params = ["updated = ?"], [utc_now()]
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        if provider_status is not None:
            sets.append("provider_status = ?")
            params.append(provider_status)
        with self.db.write() as db:
            db.execute(f"UPDATE batches SET {', '.join(sets)} WHERE id = ?", (*params, local_id))

    def mark(self, local_id: str, states: Iterable[tuple[str, ItemState]]) -> None:
        """Set the state of items of a batch, as (key, state)."""
        rows = [(state, local_id, key) for key, state in states]
        if rows:
            with self.db.write() as db:
                db.executemany("UPDATE batch_items SET state = ? WHERE batch = ? AND key = ?", rows)

    def close(self, local_id: str, states: Iterable[tuple[str, ItemState]], provider_status: str,
              status: BatchStatus = "collected") -> None:  # fmt: skip
        """Item states and the batch's end in one transaction."""
        rows = [(state, local_id, key) for key, state in states]
        with self.db.write() as db:
            db.executemany("UPDATE batch_items SET state = ? WHERE batch = ? AND key = ?", rows)
            db.execute(
                "UPDATE batches SET status = ?, provider_status = ?, updated = ? WHERE id = ?",
                (status, provider_status, utc_now(), local_id),
            )

    def items(self, local_id: str) -> list[tuple[str, str, ItemState]]:
        """(key, sample id, state) of each item of a batch."""
        rows = self.db.query("SELECT key, sample_id, state FROM batch_items WHERE batch = ?", (local_id,))
        return [(key, sample_id, state) for key, sample_id, state in rows]

    def keys_in_open(self, keys: Sequence[str]) -> dict[str, str]:
        """key -> local id of the open batch that holds it, for the keys some open batch holds."""
        if not self.db.has_table("batches"):
            return {}
        rows = self.db.query_chunked(
            "SELECT i.key, i.batch FROM batch_items i JOIN batches b ON b.id = i.batch "
            "WHERE b.status IN ('submitting', 'submitted') AND i.key IN ({marks})",
            list(keys),
        )
        return dict(rows)

    def get(self, local_id: str) -> BatchRecord | None:
        found = self.list(local_id=local_id)
        return found[0] if found else None

    def list(self, open_only: bool = False, model: str | None = None, local_id: str | None = None) -> list[BatchRecord]:
        """Batches oldest first (only those still to collect with ``open_only``; of one model)."""
        if not self.db.has_table("batches"):
            return []
        where, params = [], []
        if open_only:
            where.append("status IN ('submitting', 'submitted')")
        if model is not None:
            where.append("model = ?")
            params.append(model)
        if local_id is not None:
            where.append("id = ?")
            params.append(local_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(f"SELECT {_COLUMNS} FROM batches{clause} ORDER BY created, rowid", params)
        counts: dict[str, dict[str, int]] = {}
        ids = [row[0] for row in rows]
        for batch, state, n in self.db.query_chunked(
            "SELECT batch, state, COUNT(*) FROM batch_items WHERE batch IN ({marks}) GROUP BY batch, state", ids
        ):
            counts.setdefault(batch, {})[state] = n
        return [
            BatchRecord(
                id=row[0], provider=row[1], model=row[2], batch_id=row[3], input_file_id=row[4], status=row[5],
                provider_status=row[6], requests=row[7], bytes=row[8], purpose=row[9], created=row[10],
                updated=row[11], items=counts.get(row[0], {}),
            )
            for row in rows
        ]  # fmt: skip
