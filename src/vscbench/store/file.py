"""Opening the store's SQLite file safely: whose file it is, which schema, and what went wrong.

A ``--store`` path is whatever the user typed. Before anything is written to it:

- a file that is not SQLite (a CSV, a report, a typo'd path to something else) is refused, and
  left byte for byte as it was;
- a SQLite database of another program (a browser's history, another tool's cache) is refused
  the same way: a vscbench store carries :data:`APPLICATION_ID` in its header, and a store
  written before that was recorded is known by its tables;
- a store written by a newer vscbench (``user_version`` above :data:`SCHEMA_VERSION`) is refused
  with the version it needs, rather than half-understood.

Every SQLite failure later on (disk full, read-only file system, a lock held past the timeout,
I/O errors) becomes one :class:`StoreError` naming the store and what to do. A store that can
only be read (a read-only file system, a file without write permission, a copy on a share) is
opened read-only, so it can still be listed, scored, reported and exported.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

#: Version of the tables this code writes. 1: stores before versions were recorded; 2: the
#: header carries the application id and version, and ``claims`` leases exist. Tables and
#: nullable columns added since (provider batches, the judge calls behind each verdict, a
#: response's billing tier) are created when missing and do not change the version.
SCHEMA_VERSION = 2
#: "VSCB": marks a SQLite file as a vscbench store (``PRAGMA application_id``).
APPLICATION_ID = 0x56534342
#: Tables whose presence (with no application id) marks a store written before version 2.
LEGACY_TABLES = frozenset({"runs", "run_items", "responses"})

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: The tables of schema version :data:`SCHEMA_VERSION` (created where missing when a store opens).
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_items (
    run TEXT NOT NULL, sample_id TEXT NOT NULL, response_key TEXT NOT NULL, sample TEXT NOT NULL,
    position INTEGER NOT NULL, PRIMARY KEY (run, sample_id)
);
CREATE INDEX IF NOT EXISTS run_items_key ON run_items (response_key);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, sample_id TEXT NOT NULL, outcome TEXT NOT NULL,
    text TEXT, error TEXT, usage TEXT NOT NULL, latency REAL, attempts INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    response_key TEXT NOT NULL, judge TEXT NOT NULL, sample_id TEXT NOT NULL, label TEXT NOT NULL,
    reason TEXT, raw TEXT, created TEXT NOT NULL, confidence REAL, decided_by TEXT,
    PRIMARY KEY (response_key, judge)
);
CREATE TABLE IF NOT EXISTS judges (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, identity TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_hashes (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, batch_id TEXT, input_file_id TEXT,
    status TEXT NOT NULL, provider_status TEXT, requests INTEGER NOT NULL, bytes INTEGER NOT NULL,
    purpose TEXT, created TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch TEXT NOT NULL, key TEXT NOT NULL, sample_id TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (batch, key)
);
CREATE INDEX IF NOT EXISTS batch_items_key ON batch_items (key);
CREATE TABLE IF NOT EXISTS verdict_calls (
    response_key TEXT NOT NULL, judge TEXT NOT NULL, call_key TEXT NOT NULL,
    PRIMARY KEY (response_key, judge, call_key)
);
"""

#: Columns added to tables of schema :data:`SCHEMA_VERSION` after it was released: table ->
#: (column, SQL type). Each is nullable and added when a store that lacks it is opened for
#: writing; readers treat it as absent (NULL) in a store opened read-only.
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "responses": (("tier", "TEXT"),),
    "verdicts": (("confidence", "REAL"), ("decided_by", "TEXT")),
}


class StoreError(RuntimeError):
    """The store cannot be used as asked. The message names the file and says what to do."""


class ForeignFileError(StoreError):
    """The path names a file that is not a vscbench store; it was not modified."""


class NewerStoreError(StoreError):
    """The store was written by a newer vscbench, with a schema this version does not know."""


class ReadOnlyStoreError(StoreError):
    """A write to a store that can only be read."""


def check_store_file(path: Path) -> str:
    """What ``path`` is: ``"new"`` (absent or empty: a store will be created), ``"legacy"``
    (a store from before schema versions) or ``"store"``. Raises :class:`StoreError` for a
    folder, :class:`ForeignFileError` for anything else, :class:`NewerStoreError` for a store
    of a newer version. Reads only: the file is never modified here."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a store; give --store the path of a .sqlite file (new or existing)")
    if not path.exists() or path.stat().st_size == 0:
        return "new"
    try:
        with open(path, "rb") as handle:
            head = handle.read(100)
    except OSError as exc:
        raise StoreError(f"the store {path} cannot be read ({exc.strerror or exc}); check its permissions") from exc
    if not head.startswith(_SQLITE_MAGIC):
        raise ForeignFileError(
            f"{path} is not a vscbench store: it is not a SQLite database at all (it starts with {head[:16]!r}). "
            "It was left as it is. Give --store the path of a vscbench store, or a new file name to start one."
        )
    application_id, version, tables = _peek(path)
    if application_id not in (0, APPLICATION_ID):
        raise ForeignFileError(
            f"{path} is another program's SQLite database (application id {application_id:#x}), not a vscbench "
            "store. It was left as it is. Give --store another path."
        )
    if application_id == 0:
        if not tables:
            return "new"
        if not LEGACY_TABLES <= tables:
            listed = ", ".join(sorted(tables)[:8])
            raise ForeignFileError(
                f"{path} is another program's SQLite database (its tables: {listed}), not a vscbench store. "
                "It was left as it is. Give --store another path."
            )
        return "legacy"
    if version > SCHEMA_VERSION:
        raise NewerStoreError(
            f"the store {path} was written by a newer vscbench (store schema {version}); this version reads "
            f"schemas up to {SCHEMA_VERSION}. Upgrade vscbench (pip install -U vscbench) to use it."
        )
    return "store"


def _peek(path: Path) -> tuple[int, int, set[str]]:
    """Application id, user version and table names, through a read-only connection.

    Without a write-ahead log beside the file, it is read as immutable, which creates no
    ``-wal``/``-shm`` files: a foreign database is left exactly as it was, side files included.
    """
    wal = path.with_name(path.name + "-wal")
    has_log = wal.exists() and wal.stat().st_size > 0
    order = ("mode=ro", "mode=ro&immutable=1") if has_log else ("mode=ro&immutable=1", "mode=ro")
    for flags in order:
        try:
            db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?{flags}", uri=True, timeout=5.0)
            try:
                application_id = db.execute("PRAGMA application_id").fetchone()[0]
                version = db.execute("PRAGMA user_version").fetchone()[0]
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                return application_id, version, tables
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            if _code(exc) == "SQLITE_NOTADB" or "not a database" in str(exc):
                raise ForeignFileError(
                    f"{path} is not a vscbench store: SQLite cannot read it ({exc}). It was left as it is."
                ) from exc
            last = exc
    raise store_error(last, path, "read")


def connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that can only read (``mode=ro``; ``immutable`` where even the WAL's shared
    memory cannot be created, as on a read-only file system)."""
    uri = f"file:{quote(str(path.resolve()))}"
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        db = sqlite3.connect(f"{uri}?{flags}", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            last = exc
    raise store_error(last, path, "read")


def is_read_only_failure(exc: sqlite3.Error) -> bool:
    """Whether a failure means the file or its folder cannot be written."""
    code = _code(exc) or ""
    text = str(exc).lower()
    return (
        code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"))
        or "readonly" in text
        or ("unable to open" in text)
    )


def _code(exc: BaseException) -> str | None:
    return getattr(exc, "sqlite_errorname", None)


def store_error(exc: sqlite3.Error, path: Path, doing: str = "write") -> StoreError:
    """One-line error for a SQLite failure: which store, what happened, what to do."""
    code = _code(exc) or ""
    text = str(exc)
    lowered = text.lower()
    kept = " Answers already received are kept;" if doing == "write" else ""
    if code == "SQLITE_FULL" or "disk is full" in lowered:
        return StoreError(
            f"the store {path} could not be written: the disk is full ({text}).{kept} free some space and run the "
            "same command again to go on where it stopped."
        )
    if code.startswith("SQLITE_READONLY") or "readonly" in lowered:
        return ReadOnlyStoreError(
            f"the store {path} is read-only ({text}): it can be listed, scored, reported and exported, not "
            f"written. Copy it to a writable place and pass that with --store (cp {path} ./runs.sqlite)."
        )
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in lowered:
        return StoreError(
            f"the store {path} stayed locked by another process past the timeout ({text}).{kept} wait for the "
            "other command to finish (or stop it) and run this one again, or use another --store."
        )
    if code.startswith("SQLITE_IOERR") or "disk i/o" in lowered:
        return StoreError(
            f"the store {path} could not be {'written' if doing == 'write' else 'read'}: disk I/O error "
            f"({text}); the disk may be full, removed or failing.{kept} fix the disk and run the command again."
        )
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in lowered:
        return StoreError(
            f"the store {path} is damaged ({text}); restore it from a copy, or start a new store with --store."
        )
    if code.startswith("SQLITE_CANTOPEN") or "unable to open" in lowered:
        return StoreError(f"the store {path} cannot be opened ({text}); check that its folder exists and is readable.")
    return StoreError(f"the store {path} failed to {doing} ({type(exc).__name__}: {text}).")


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Add the :data:`ADDED_COLUMNS` a store lacks (inside the caller's write transaction)."""
    for table, columns in ADDED_COLUMNS.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (a store opened read-only may predate it)."""
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))
