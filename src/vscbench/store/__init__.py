"""The SQLite store in the middle of the pipeline: runs, responses and verdicts.

Responses are content-addressed: their key is :meth:`Request.cache_key`, so a re-run never
repeats a finished call and a changed setting never reuses a stale answer. Each response is
committed on its own as it arrives (WAL, ``synchronous=NORMAL``: a commit survives ``kill -9``
of the writer), and several processes may share one file (``busy_timeout``, short ``BEGIN
IMMEDIATE`` transactions, inserts that never duplicate a key). API keys are never written here.

:class:`Store` is built by composition: one :class:`~.database.Database` (the connection,
transactions and error translation) shared by one object per table, :mod:`.runs`,
:mod:`.responses`, :mod:`.verdicts`, :mod:`.claims` (leases, so two processes never send one
call), :mod:`.images`, :mod:`.batches` (provider batches, stored before they are waited for) and
:mod:`.usage` (token sums per run and judge), and :mod:`.export` over runs and verdicts. Each part is reachable as
an attribute (``store.runs``, ``store.claims``...); the methods below are the store's public
API and each one hands its work to one part.

The file is checked before it is used (:mod:`.file`): a file that is not a vscbench store is
refused and left untouched, a newer schema is refused with the version it needs, a store that
can only be read is opened read-only, and every SQLite failure is one :class:`StoreError`
naming the store and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from vscbench.locations import DEFAULT_STORE
from vscbench.schema import Response, RunSpec, Sample, Verdict
from vscbench.store.batches import Batches
from vscbench.store.claims import Claims
from vscbench.store.database import Database
from vscbench.store.export import Exports
from vscbench.store.file import SCHEMA_VERSION, ForeignFileError, NewerStoreError, ReadOnlyStoreError, StoreError
from vscbench.store.harm import HarmVerdict, HarmVerdicts
from vscbench.store.images import ImageHashes, ImageHashRow
from vscbench.store.responses import FINAL_OUTCOMES, Responses, Tier
from vscbench.store.runs import RunConflictError, RunInfo, RunNotFoundError, Runs
from vscbench.store.usage import UsageTotals
from vscbench.store.verdicts import Verdicts

__all__ = [
    "FINAL_OUTCOMES",
    "SCHEMA_VERSION",
    "ForeignFileError",
    "HarmVerdict",
    "NewerStoreError",
    "ReadOnlyStoreError",
    "RunConflictError",
    "RunInfo",
    "RunNotFoundError",
    "Store",
    "StoreError",
    "require_run",
]  # fmt: skip


class Store:
    """One SQLite file. Safe to share between threads of a process and between processes.

    ``read_only``: None (default) opens for writing, or read-only when the file cannot be
    written (then :attr:`read_only` is true and writes raise :class:`ReadOnlyStoreError`); True
    opens an existing store read-only. ``timeout`` is how long a write waits for another
    process's lock before it fails with a :class:`StoreError`.
    """

    def __init__(
        self, path: str | Path = DEFAULT_STORE, *, read_only: bool | None = None, timeout: float = 60.0
    ) -> None:
        self.database = Database(path, read_only=read_only, timeout=timeout)
        self.runs = Runs(self.database)
        self.responses = Responses(self.database)
        self.verdicts = Verdicts(self.database)
        self.harm = HarmVerdicts(self.database)
        """Harmful-content verdicts, a second judge axis (:mod:`.harm`)."""
        self.claims = Claims(self.database)
        self.images = ImageHashes(self.database)
        self.batches = Batches(self.database)
        self.usage = UsageTotals(self.database)
        self.exports = Exports(self.runs, self.verdicts)

    @property
    def path(self) -> Path:
        return self.database.path

    @property
    def read_only(self) -> bool:
        return self.database.read_only

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, spec: RunSpec, items: Iterable[tuple[Sample, str]]) -> None:
        self.runs.start(spec, items)

    def finish_run(self, name: str, status: str) -> None:
        self.runs.finish(name, status)

    def get_run(self, name: str) -> RunSpec | None:
        return self.runs.get(name)

    def list_runs(self) -> list[RunInfo]:
        return self.runs.list()

    def run_info(self, name: str) -> RunInfo | None:
        return self.runs.info(name)

    def run_items(self, run: str) -> Iterator[tuple[Sample, Response | None]]:
        return self.runs.items(run)

    def run_keys(self, run: str) -> dict[str, str]:
        return self.runs.keys(run)

    # -- responses -------------------------------------------------------------------------------
    def put_response(self, response: Response) -> None:
        self.responses.put([response])

    def put_responses(
        self, responses: Iterable[Response], release: str | None = None, tier: Tier | None = None
    ) -> None:
        self.responses.put(responses, release, tier)

    def get_response(self, key: str) -> Response | None:
        return self.responses.get(key)

    def outcomes(self, keys: Iterable[str]) -> dict[str, str]:
        return self.responses.outcomes(keys)

    def answered_keys(self, keys: Iterable[str]) -> set[str]:
        return self.responses.answered(keys)

    # -- verdicts --------------------------------------------------------------------------------
    def put_verdicts(self, verdicts: Iterable[Verdict], replace: bool = True) -> int:
        return self.verdicts.put(verdicts, replace)

    def get_verdicts(self, judge: str, run: str | None = None) -> dict[str, Verdict]:
        return self.verdicts.get(judge, run)

    def judges(self) -> list[str]:
        return self.verdicts.judges()

    def run_judges(self, run: str) -> list[str]:
        return self.verdicts.judges(run)

    def put_judge(self, key: str, name: str, version: str, identity: dict[str, Any]) -> None:
        self.verdicts.put_judge(key, name, version, identity)

    def judge_identity(self, key: str) -> dict[str, Any] | None:
        return self.verdicts.judge_identity(key)

    # -- leases ----------------------------------------------------------------------------------
    new_owner = staticmethod(Claims.new_owner)

    def claim(self, keys: Sequence[str], owner: str, lease_s: float = 60.0) -> list[str]:
        return self.claims.take(keys, owner, lease_s)

    def renew_claims(self, owner: str, lease_s: float = 60.0) -> None:
        self.claims.renew(owner, lease_s)

    def release_claims(self, owner: str, keys: Sequence[str] | None = None) -> None:
        self.claims.release(owner, keys)

    def claimed_by_others(self, keys: Sequence[str], owner: str) -> set[str]:
        return self.claims.claimed_by_others(keys, owner)

    # -- image hashes and exports ----------------------------------------------------------------
    def image_hashes(self) -> list[ImageHashRow]:
        return self.images.all()

    def put_image_hashes(self, entries: Iterable[ImageHashRow]) -> None:
        self.images.put(entries)

    def export_rows(self, run: str) -> Iterator[dict[str, Any]]:
        return self.exports.rows(run)

    def export(self, run: str, out: str | Path, format: str = "jsonl") -> int:
        return self.exports.write(run, out, format)


def require_run(store: Store, run: str) -> None:
    """Raise :class:`RunNotFoundError`, listing the runs the store holds, unless it holds ``run``."""
    store.runs.require(run)
