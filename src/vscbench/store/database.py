"""The store's one SQLite connection: opening it (or falling back to read-only), and the two ways
the tables use it, a short write transaction and a read.

Every table of the store (:mod:`.runs`, :mod:`.responses`, :mod:`.verdicts`, :mod:`.claims`,
:mod:`.images`) holds a :class:`Database` and goes through :meth:`Database.write` and
:meth:`Database.query`, so locking, ``BEGIN IMMEDIATE`` and the translation of SQLite failures
into one :class:`~vscbench.store.file.StoreError` live in one place.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vscbench.store.file import (
    APPLICATION_ID,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    ReadOnlyStoreError,
    StoreError,
    add_missing_columns,
    check_store_file,
    connect_read_only,
    has_column,
    is_read_only_failure,
    store_error,
)


class Database:
    """One SQLite file, opened for writing, or read-only when it cannot be written.

    ``read_only``: None opens for writing, or read-only when the file cannot be written (then
    :attr:`read_only` is true and writes raise :class:`ReadOnlyStoreError`); True opens an
    existing store read-only. ``timeout`` is how long a write waits for another process's lock.
    """

    def __init__(self, path: str | Path, *, read_only: bool | None = None, timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self.read_only = False
        self.lock = threading.RLock()
        memory = str(path) == ":memory:"
        kind = "new" if memory else check_store_file(self.path)
        if read_only and kind == "new":
            raise StoreError(f"no store at {self.path}; run `vscbench run ... --store {self.path}` first")
        if read_only:
            self._open_read_only()
            return
        try:
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE
            self.connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self.connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute("PRAGMA synchronous = NORMAL")
            with self.write() as db:
                for statement in SCHEMA_SQL.split(";"):
                    if statement.strip():
                        db.execute(statement)
                add_missing_columns(db)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, StoreError, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreError) else exc
            unwritable = isinstance(cause, PermissionError) or (
                isinstance(cause, sqlite3.Error) and is_read_only_failure(cause)
            )
            if read_only is None and kind != "new" and unwritable:
                self._open_read_only()
                return
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, OSError):
                raise StoreError(f"the store {self.path} cannot be created ({exc.strerror or exc})") from exc
            raise store_error(exc, self.path, "open") from exc

    def _open_read_only(self) -> None:
        if getattr(self, "connection", None) is not None:
            self.connection.close()
        self.connection = connect_read_only(self.path, self.timeout)
        self.read_only = True

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, committed on leaving, rolled back on any error."""
        if self.read_only:
            raise ReadOnlyStoreError(
                f"the store {self.path} is open read-only (its file or folder cannot be written): it can be "
                f"listed, scored, reported and exported, not written. Copy it to a writable place and pass that "
                f"with --store (cp {self.path} ./runs.sqlite)."
            )
        with self.lock:
            try:
                self.connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            try:
                yield self.connection
                self.connection.execute("COMMIT")
            except BaseException as exc:
                if self.connection.in_transaction:
                    try:
                        self.connection.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the failure below is what the user needs to hear about
                if isinstance(exc, sqlite3.Error):
                    raise store_error(exc, self.path) from exc
                raise

    def columns(self, table: str) -> set[str]:
        """The columns ``table`` has in this file (a read-only store may lack :data:`ADDED_COLUMNS`)."""
        return {row[1] for row in self.query(f"PRAGMA table_info({table})")}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            try:
                return self.connection.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise store_error(exc, self.path, "read") from exc

    def query_chunked(self, sql: str, keys: Sequence[str], chunk: int = 500) -> list[tuple[Any, ...]]:
        """``sql`` with one ``{marks}`` placeholder, run over ``keys`` in chunks (SQLite limits
        how many parameters one statement takes)."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), chunk):
            part = list(keys[start : start + chunk])
            rows += self.query(sql.format(marks=",".join("?" * len(part))), part)
        return rows

    def has_table(self, name: str) -> bool:
        """Whether the store holds table ``name`` (a store opened read-only may predate it)."""
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    def has_column(self, table: str, column: str) -> bool:
        with self.lock:
            return has_column(self.connection, table, column)

    def close(self) -> None:
        with self.lock:
            self.connection.close()
