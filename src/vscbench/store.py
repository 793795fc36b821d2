"""The SQLite store in the middle of the pipeline: runs, responses and verdicts.

Responses are content-addressed: their key is :meth:`Request.cache_key`, so a re-run never
repeats a finished call and a changed setting never reuses a stale answer. Each response is
committed on its own as it arrives (WAL, ``synchronous=NORMAL``: a commit survives ``kill -9``
of the writer), and several processes may share one file (``busy_timeout``, short ``BEGIN
IMMEDIATE`` transactions, inserts that never duplicate a key).

A run is a named set of samples asked of one model with one config and method; ``run_items``
keeps each sample's JSON, so later stages score a run without the data folder. Outcomes
``blocked`` and ``error`` are stored as what they are; an ``error`` is replaced by the next
attempt, an ``ok`` or ``blocked`` answer never is. API keys are never written here.

The file is checked before it is used (:mod:`vscbench.store_file`): a file that is not a
vscbench store is refused and left untouched, a newer schema is refused with the version it
needs, a store that can only be read is opened read-only, and every SQLite failure is one
:class:`StoreError` naming the store and what to do. Text is stored as text SQLite can hold:
a lone surrogate or NUL (from any backend) is replaced by U+FFFD and the response's ``error``
says so, so such an answer never stops a run.

Several processes may run the same calls on one store: :meth:`Store.claim` takes a lease on
keys before they are sent, so a second process skips what the first is asking, and takes it
over only when the first has died (its lease expired without renewal).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from vscbench.locations import DEFAULT_STORE
from vscbench.safe_text import repair
from vscbench.schema import Response, RunSpec, Sample, Usage, Verdict, utc_now
from vscbench.store_claims import LeasesMixin
from vscbench.store_export import ExportMixin
from vscbench.store_file import (
    APPLICATION_ID,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    ForeignFileError,
    NewerStoreError,
    ReadOnlyStoreError,
    StoreError,
    check_store_file,
    connect_read_only,
    is_read_only_failure,
    store_error,
)

__all__ = [
    "FINAL_OUTCOMES", "ForeignFileError", "NewerStoreError", "ReadOnlyStoreError", "RunConflictError", "RunInfo",
    "SCHEMA_VERSION", "Store", "StoreError",
]  # fmt: skip

FINAL_OUTCOMES = ("ok", "blocked", "empty")
"""Outcomes that end a request for good; ``error`` is retried on the next run."""


#: Insert a response unless a final one is stored under its key; an error may be replaced.
_PUT_RESPONSE = """
INSERT INTO responses (key, model, sample_id, outcome, text, error, usage, latency, attempts, created)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    model = excluded.model, sample_id = excluded.sample_id, outcome = excluded.outcome,
    text = excluded.text, error = excluded.error, usage = excluded.usage,
    latency = excluded.latency, attempts = excluded.attempts, created = excluded.created
WHERE responses.outcome = 'error'
"""


class RunConflictError(ValueError):
    """A run name reused for a different model, config or method."""


@dataclass(frozen=True)
class RunInfo:
    """A run and how far it got."""

    name: str
    spec: RunSpec
    status: str
    created: str
    updated: str
    items: int
    counts: dict[str, int]

    @property
    def missing(self) -> int:
        return self.items - sum(self.counts.values())


class Store(LeasesMixin, ExportMixin):
    """One SQLite file. Safe to share between threads of a process and between processes.

    ``read_only``: None (default) opens for writing, or read-only when the file cannot be
    written (then :attr:`read_only` is true and writes raise :class:`ReadOnlyStoreError`); True
    opens an existing store read-only. ``timeout`` is how long a write waits for another
    process's lock before it fails with a :class:`StoreError`.
    """

    def __init__(
        self, path: str | Path = DEFAULT_STORE, *, read_only: bool | None = None, timeout: float = 60.0
    ) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self.read_only = False
        self._lock = threading.RLock()
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
            # isolation_level=None: no implicit transactions; every write below says BEGIN IMMEDIATE
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            with self._write() as db:
                for statement in SCHEMA_SQL.split(";"):
                    if statement.strip():
                        db.execute(statement)
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
        if getattr(self, "_db", None) is not None:
            self._db.close()
        self._db = connect_read_only(self.path, self.timeout)
        self.read_only = True

    # -- plumbing --------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise ReadOnlyStoreError(
                f"the store {self.path} is open read-only (its file or folder cannot be written): it can be "
                f"listed, scored, reported and exported, not written. Copy it to a writable place and pass that "
                f"with --store (cp {self.path} ./runs.sqlite)."
            )
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(exc, self.path) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the failure below is what the user needs to hear about
                if isinstance(exc, sqlite3.Error):
                    raise store_error(exc, self.path) from exc
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise store_error(exc, self.path, "read") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, spec: RunSpec, items: Iterable[tuple[Sample, str]]) -> None:
        """Create a run, or resume one with the same model, config, method and sample selection.

        Items are (sample, response key); afterwards the run holds exactly these samples (a
        resumed run's items are replaced, so a re-fetched data folder never leaves stale ones).
        Raises :class:`RunConflictError` when the name is taken by a run that asks a different
        model, config or method, or selects other samples (another ``--limit``, ``--variant``,
        ``--category``, data folder or FigStep instruction).
        """
        now = utc_now()
        with self._write() as db:
            row = db.execute("SELECT spec FROM runs WHERE name = ?", (spec.name,)).fetchone()
            if row is not None:
                old = RunSpec.model_validate_json(row[0])
                differences = [f for f in ("model", "method", "config") if getattr(old, f) != getattr(spec, f)]
                old_selection, new_selection = _comparable_selection(row[0], old, spec)
                differences += [name for name in old_selection if old_selection[name] != new_selection[name]]
                if differences:
                    raise RunConflictError(
                        f"run {spec.name!r} already exists with a different {', '.join(differences)} "
                        f"({_describe(old, differences)}); choose another name with --run NAME, "
                        "or leave --run out to get a name of its own"
                    )
                db.execute("UPDATE runs SET spec = ?, updated = ?, status = 'running' WHERE name = ?",
                           (spec.model_dump_json(), now, spec.name))  # fmt: skip
                db.execute("DELETE FROM run_items WHERE run = ?", (spec.name,))
            else:
                db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, 'running')", (spec.name, spec.model_dump_json(), now, now))
            db.executemany(
                "INSERT INTO run_items VALUES (?, ?, ?, ?, ?) ON CONFLICT (run, sample_id) DO UPDATE SET "
                "response_key = excluded.response_key, sample = excluded.sample",
                ((spec.name, sample.id, key, sample.model_dump_json(), i) for i, (sample, key) in enumerate(items)),
            )

    def finish_run(self, name: str, status: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET status = ?, updated = ? WHERE name = ?", (status, utc_now(), name))

    def get_run(self, name: str) -> RunSpec | None:
        rows = self._query("SELECT spec FROM runs WHERE name = ?", (name,))
        return RunSpec.model_validate_json(rows[0][0]) if rows else None

    def list_runs(self) -> list[RunInfo]:
        """Every run with its per-outcome counts, oldest first."""
        counts: dict[str, Counter] = {}
        items: Counter = Counter()
        for run, outcome, n in self._query(
            "SELECT i.run, r.outcome, COUNT(*) FROM run_items i LEFT JOIN responses r ON r.key = i.response_key "
            "GROUP BY i.run, r.outcome"
        ):
            items[run] += n
            if outcome is not None:
                counts.setdefault(run, Counter())[outcome] = n
        return [
            RunInfo(name, RunSpec.model_validate_json(spec), status, created, updated, items[name],
                    dict(counts.get(name, {})))  # fmt: skip
            for name, spec, created, updated, status in self._query(
                "SELECT name, spec, created, updated, status FROM runs ORDER BY created, name"
            )
        ]

    def run_info(self, name: str) -> RunInfo | None:
        return next((info for info in self.list_runs() if info.name == name), None)

    def run_items(self, run: str) -> Iterator[tuple[Sample, Response | None]]:
        """Each sample of a run with its stored response (``None`` when not answered yet).

        A response shared by samples that asked the same thing is given each sample's id.
        """
        rows = self._query(
            "SELECT i.sample, i.sample_id, r.key, r.model, r.outcome, r.text, r.error, r.usage, r.latency, "
            "r.attempts, r.created FROM run_items i LEFT JOIN responses r ON r.key = i.response_key "
            "WHERE i.run = ? ORDER BY i.position",
            (run,),
        )
        for sample_json, sample_id, key, *rest in rows:
            sample = Sample.model_validate_json(sample_json)
            yield sample, (_response(key, sample_id, *rest) if key is not None else None)

    def run_keys(self, run: str) -> dict[str, str]:
        """sample id -> response key for a run."""
        return dict(self._query("SELECT sample_id, response_key FROM run_items WHERE run = ?", (run,)))

    # -- responses -------------------------------------------------------------------------------
    def put_response(self, response: Response) -> None:
        """Commit one response now (an ``error`` never replaces an ``ok`` or ``blocked``)."""
        self.put_responses([response])

    def put_responses(self, responses: Iterable[Response], release: str | None = None) -> None:
        """Commit responses in one transaction. Text SQLite cannot hold (a lone surrogate, NUL) is
        replaced by U+FFFD first, and ``error`` notes it: the answer is kept, the run goes on.
        ``release`` (a claim owner) drops that owner's leases on these keys in the same commit."""
        responses = [_storable(r) for r in responses]
        rows = [
            (r.key, r.model, r.sample_id, r.outcome, r.text, r.error, r.usage.model_dump_json(), r.latency_s,
             r.attempts, r.created_at)  # fmt: skip
            for r in responses
        ]
        if rows:
            with self._write() as db:
                db.executemany(_PUT_RESPONSE, rows)
                if release is not None:
                    db.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", [(r[0], release) for r in rows])

    def get_response(self, key: str) -> Response | None:
        rows = self._query(
            "SELECT key, sample_id, model, outcome, text, error, usage, latency, attempts, created "
            "FROM responses WHERE key = ?",
            (key,),
        )
        return _response(*rows[0]) if rows else None

    def outcomes(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> stored outcome, for the keys that have a response."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._query(f"SELECT key, outcome FROM responses WHERE key IN ({marks})", chunk))
        return found

    def answered_keys(self, keys: Iterable[str]) -> set[str]:
        """The keys whose answer is final (``ok`` or ``blocked``): these are never sent again."""
        return {key for key, outcome in self.outcomes(keys).items() if outcome in FINAL_OUTCOMES}

    # -- verdicts --------------------------------------------------------------------------------
    def put_verdicts(self, verdicts: Iterable[Verdict], replace: bool = True) -> int:
        """Store verdicts, one per (response, judge); ``replace=False`` keeps existing ones."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        rows = [
            (v.response_key, v.judge, v.sample_id, v.label, repair(v.reason)[0], repair(v.raw)[0], v.created_at)
            for v in verdicts
        ]
        if rows:
            with self._write() as db:
                db.executemany(f"{verb} INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def get_verdicts(self, judge: str, run: str | None = None) -> dict[str, Verdict]:
        """response key -> verdict of one judge (only the responses of ``run`` when given)."""
        sql = "SELECT response_key, judge, sample_id, label, reason, raw, created FROM verdicts WHERE judge = ?"
        params: list[Any] = [judge]
        if run is not None:
            sql += " AND response_key IN (SELECT response_key FROM run_items WHERE run = ?)"
            params.append(run)
        return {
            row[0]: Verdict(response_key=row[0], judge=row[1], sample_id=row[2], label=row[3], reason=row[4],
                            raw=row[5], created_at=row[6])  # fmt: skip
            for row in self._query(sql, params)
        }

    def judges(self) -> list[str]:
        """Keys of every judge with verdicts here (``offline@v3``; older stores: bare names)."""
        return [row[0] for row in self._query("SELECT DISTINCT judge FROM verdicts ORDER BY judge")]

    def put_judge(self, key: str, name: str, version: str, identity: dict[str, Any]) -> None:
        """Record what a judge key stands for (model, host, rubric hash, settings...)."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO judges VALUES (?, ?, ?, ?, ?)",
                (key, name, version, json.dumps(identity, sort_keys=True, default=str), utc_now()),
            )

    def judge_identity(self, key: str) -> dict[str, Any] | None:
        rows = self._query("SELECT identity FROM judges WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def run_judges(self, run: str) -> list[str]:
        """Keys of the judges that have verdicts on this run's responses."""
        return [
            row[0]
            for row in self._query(
                "SELECT DISTINCT judge FROM verdicts WHERE response_key IN "
                "(SELECT response_key FROM run_items WHERE run = ?) ORDER BY judge",
                (run,),
            )
        ]

    # -- image hashes ----------------------------------------------------------------------------
    def image_hashes(self) -> list[tuple[str, int, int, str]]:
        return self._query("SELECT path, mtime_ns, size, sha256 FROM image_hashes")

    def put_image_hashes(self, entries: Iterable[tuple[str, int, int, str]]) -> None:
        rows = list(entries)
        if rows:
            with self._write() as db:
                db.executemany("INSERT OR REPLACE INTO image_hashes VALUES (?, ?, ?, ?)", rows)

def _storable(response: Response) -> Response:
    """The response with text SQLite can hold; a repair of the answer is noted in ``error``."""
    text, note = repair(response.text)
    error, _ = repair(response.error)
    if note is None and error == response.error:
        return response
    if note:
        error = f"{error}; {note}" if error else note
    return response.model_copy(update={"text": text, "error": error})


def _response(key, sample_id, model, outcome, text, error, usage, latency, attempts, created) -> Response:
    return Response(
        key=key, sample_id=sample_id, model=model, outcome=outcome, text=text, error=error,
        usage=Usage.model_validate_json(usage), latency_s=latency, attempts=attempts, created_at=created,
    )  # fmt: skip


def _comparable_selection(old_json: str, old: RunSpec, new: RunSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two runs' sample selections, over the fields the stored run recorded (runs stored
    before the selection was recorded in full kept only data, subset, variants and limit)."""
    old_selection, new_selection = old.selection(), new.selection()
    if '"benchmark"' not in old_json:
        legacy = ("data", "subset", "variants", "limit")
        old_selection = {k: old_selection[k] for k in legacy}
        new_selection = {k: new_selection[k] for k in legacy}
    return old_selection, new_selection


def _describe(spec: RunSpec, fields: list[str]) -> str:
    parts = []
    for name in fields:
        value = getattr(spec, name)
        parts.append(f"{name}={value.model_dump() if hasattr(value, 'model_dump') else value}")
    return "; ".join(parts)
