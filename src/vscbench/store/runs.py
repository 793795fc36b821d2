"""The ``runs`` and ``run_items`` tables: a run is a named set of samples asked of one model with
one config and method; ``run_items`` keeps each sample's JSON and its response key, so later
stages score a run without the data folder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vscbench.safe_text import redact_options
from vscbench.schema import Response, RunSpec, Sample, utc_now
from vscbench.store.database import Database
from vscbench.store.responses import response_from_row


class RunConflictError(ValueError):
    """A run name reused for a different model, config or method."""


class RunNotFoundError(LookupError):
    """A run name that the store does not hold; the message lists the runs it does hold."""


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


class Runs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, spec: RunSpec, items: Iterable[tuple[Sample, str]]) -> None:
        """Create a run, or resume one with the same model, config, method and sample selection.

        Items are (sample, response key); afterwards the run holds exactly these samples (a
        resumed run's items are replaced, so a re-fetched data folder never leaves stale ones).
        Raises :class:`RunConflictError` when the name is taken by a run that asks a different
        model, config or method, or selects other samples (another ``--limit``, ``--variant``,
        ``--category``, data folder or FigStep instruction).
        """
        now = utc_now()
        spec = stored_spec(spec)
        with self.db.write() as db:
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
                db.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, 'running')", (spec.name, spec.model_dump_json(), now, now)
                )
            db.executemany(
                "INSERT INTO run_items VALUES (?, ?, ?, ?, ?) ON CONFLICT (run, sample_id) DO UPDATE SET "
                "response_key = excluded.response_key, sample = excluded.sample",
                ((spec.name, sample.id, key, sample.model_dump_json(), i) for i, (sample, key) in enumerate(items)),
            )

    def finish(self, name: str, status: str) -> None:
        with self.db.write() as db:
            db.execute("UPDATE runs SET status = ?, updated = ? WHERE name = ?", (status, utc_now(), name))

    def get(self, name: str) -> RunSpec | None:
        rows = self.db.query("SELECT spec FROM runs WHERE name = ?", (name,))
        return stored_spec(RunSpec.model_validate_json(rows[0][0])) if rows else None

    def list(self) -> list[RunInfo]:
        """Every run with its per-outcome counts, oldest first."""
        counts: dict[str, Counter[str]] = {}
        items: Counter[str] = Counter()
        for run, outcome, n in self.db.query(
            "SELECT i.run, r.outcome, COUNT(*) FROM run_items i LEFT JOIN responses r ON r.key = i.response_key "
            "GROUP BY i.run, r.outcome"
        ):
            items[run] += n
            if outcome is not None:
                counts.setdefault(run, Counter())[outcome] = n
        return [
            RunInfo(
                name,
                stored_spec(RunSpec.model_validate_json(spec)),
                status,
                created,
                updated,
                items[name],
                dict(counts.get(name, {})),
            )
            for name, spec, created, updated, status in self.db.query(
                "SELECT name, spec, created, updated, status FROM runs ORDER BY created, name"
            )
        ]

    def info(self, name: str) -> RunInfo | None:
        return next((info for info in self.list() if info.name == name), None)

    def items(self, run: str) -> Iterator[tuple[Sample, Response | None]]:
        """Each sample of a run with its stored response (``None`` when not answered yet).

        A response shared by samples that asked the same thing is given each sample's id.
        """
        rows = self.db.query(
            "SELECT i.sample, r.key, i.sample_id, r.model, r.outcome, r.text, r.error, r.usage, r.latency, "
            "r.attempts, r.created FROM run_items i LEFT JOIN responses r ON r.key = i.response_key "
            "WHERE i.run = ? ORDER BY i.position",
            (run,),
        )
        for sample_json, key, *rest in rows:
            sample = Sample.model_validate_json(sample_json)
            yield sample, (response_from_row(key, *rest) if key is not None else None)

    def keys(self, run: str) -> dict[str, str]:
        """sample id -> response key for a run."""
        return dict(self.db.query("SELECT sample_id, response_key FROM run_items WHERE run = ?", (run,)))

    def require(self, run: str) -> None:
        """Raise :class:`RunNotFoundError`, listing the runs the store holds, unless it holds ``run``."""
        if self.get(run) is None:
            names = [info.name for info in self.list()]
            known = ", ".join(names[-10:]) if names else "none yet: start one with `vscbench run`"
            raise RunNotFoundError(f"no run named {run!r} in {self.db.path}; runs there: {known}")


def stored_spec(spec: RunSpec) -> RunSpec:
    """The spec as the store keeps and shows it: its meta (the experiment, the method, the
    endpoints) with every credential removed, by option name and by shape
    (:func:`vscbench.safe_text.redact_options`), whoever built it; applied when a spec is read
    too, so a store written before this redaction shows no secret either."""
    return spec.model_copy(update={"meta": redact_options(spec.meta, tokens=False)}) if spec.meta else spec


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
