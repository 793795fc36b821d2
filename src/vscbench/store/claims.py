"""Leases on response keys, so that several processes on one store never send the same call.

A key is claimed (``owner``, expiry) in the store before its request is sent, renewed while
the call is in flight, and released in the same commit as its answer. A claim of another
owner blocks the key until it expires -- or at once when its owner is a process of this
machine that no longer runs, so a killed run resumes without waiting out a lease.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Sequence

from vscbench.store.database import Database
from vscbench.store.file import store_error


class Claims:
    """The ``claims`` table: leases on response keys, by owner."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def new_owner() -> str:
        """A claim owner id, unique: ``host:pid:random``, so a claim of a process that died on
        this machine is known dead at once (a killed run resumes without waiting out a lease)."""
        return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def _live_claims(self, db: sqlite3.Connection, keys: list[str], owner: str) -> set[str]:
        """Of ``keys``, those leased to another owner that is still alive."""
        marks = ",".join("?" * len(keys))
        rows = db.execute(
            f"SELECT key, owner FROM claims WHERE key IN ({marks}) AND owner != ? AND expires > ?",
            [*keys, owner, time.time()],
        ).fetchall()
        return {key for key, holder in rows if _owner_alive(holder)}

    def take(self, keys: Sequence[str], owner: str, lease_s: float = 60.0) -> list[str]:
        """Take a lease on the keys that are neither answered nor leased to another live owner;
        return them. A key whose lease expired (its owner died) is taken over."""
        if not keys:
            return []
        now = time.time()
        taken: list[str] = []
        with self.db.write() as db:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                final = {row[0] for row in db.execute(
                    f"SELECT key FROM responses WHERE key IN ({marks}) AND outcome IN ('ok', 'blocked', 'empty')", chunk
                )}  # fmt: skip
                held = self._live_claims(db, chunk, owner)
                free = [key for key in chunk if key not in final and key not in held]
                db.executemany(
                    "INSERT INTO claims VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, "
                    "expires = excluded.expires",
                    [(key, owner, now + lease_s) for key in free],
                )
                taken += free
        return taken

    def renew(self, owner: str, lease_s: float = 60.0) -> None:
        """Extend every lease ``owner`` holds (its calls are still in flight)."""
        with self.db.write() as db:
            db.execute("UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + lease_s, owner))

    def release(self, owner: str, keys: Sequence[str] | None = None) -> None:
        """Give up ``owner``'s leases (on ``keys``, or all): answered, or no longer being asked."""
        with self.db.write() as db:
            if keys is None:
                db.execute("DELETE FROM claims WHERE owner = ?", (owner,))
            else:
                db.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", [(key, owner) for key in keys])

    def claimed_by_others(self, keys: Sequence[str], owner: str) -> set[str]:
        """The keys another live owner holds a lease on."""
        held: set[str] = set()
        unique = list(dict.fromkeys(keys))
        with self.db.lock:
            for start in range(0, len(unique), 500):
                try:
                    held |= self._live_claims(self.db.connection, unique[start : start + 500], owner)
                except sqlite3.Error as exc:
                    raise store_error(exc, self.db.path, "read") from exc
        return held


def _owner_alive(owner: str) -> bool:
    """False only for a claim owner known dead: a process of this machine that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine (or an old owner format): trust the lease
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True
