"""The ``responses`` table: answers, content-addressed by :meth:`Request.cache_key`.

Each response is committed as it arrives. An ``error`` is replaced by the next attempt; an
``ok``, ``blocked`` or ``empty`` answer never is (:data:`FINAL_OUTCOMES`). Text SQLite cannot
hold (a lone surrogate, NUL) is replaced by U+FFFD and the response's ``error`` says so, so such
an answer never stops a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from vscbench.safe_text import redact_secrets, repair
from vscbench.schema import Response, Usage
from vscbench.store.database import Database

FINAL_OUTCOMES = ("ok", "blocked", "empty")
"""Outcomes that end a request for good; ``error`` is retried on the next run."""

#: Insert a response unless a final one is stored under its key; an error may be replaced.
_PUT_RESPONSE = """
INSERT INTO responses (key, model, sample_id, outcome, text, error, usage, latency, attempts, created, tier)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    model = excluded.model, sample_id = excluded.sample_id, outcome = excluded.outcome,
    text = excluded.text, error = excluded.error, usage = excluded.usage,
    latency = excluded.latency, attempts = excluded.attempts, created = excluded.created, tier = excluded.tier
WHERE responses.outcome = 'error'
"""

Tier = Literal["batch"]
"""How a call was billed when not at the synchronous rate: ``batch`` (a provider batch API, at
its discount). Stored in the nullable ``tier`` column; NULL is a synchronous call."""

#: The columns :func:`response_from_row` reads, in its order.
RESPONSE_COLUMNS = "key, sample_id, model, outcome, text, error, usage, latency, attempts, created"


class Responses:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, responses: Iterable[Response], release: str | None = None, tier: Tier | None = None) -> None:
        """Commit responses in one transaction (an ``error`` never replaces a final answer).
        ``release`` (a claim owner) drops that owner's leases on these keys in the same commit;
        ``tier`` records how the calls were billed (``batch``), with the row that is kept."""
        storable = [_storable(r) for r in responses]
        rows = [
            (
                r.key,
                r.model,
                r.sample_id,
                r.outcome,
                r.text,
                r.error,
                r.usage.model_dump_json(exclude={"cached_tokens"} if r.usage.cached_tokens is None else None),
                r.latency_s,
                r.attempts,
                r.created_at,
                tier,
            )
            for r in storable
        ]
        if rows:
            with self.db.write() as db:
                db.executemany(_PUT_RESPONSE, rows)
                if release is not None:
                    db.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", [(r[0], release) for r in rows])

    def get(self, key: str) -> Response | None:
        rows = self.db.query(f"SELECT {RESPONSE_COLUMNS} FROM responses WHERE key = ?", (key,))
        return response_from_row(*rows[0]) if rows else None

    def outcomes(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> stored outcome, for the keys that have a response."""
        unique = list(dict.fromkeys(keys))
        rows = self.db.query_chunked("SELECT key, outcome FROM responses WHERE key IN ({marks})", unique)
        return {key: outcome for key, outcome in rows}

    def answered(self, keys: Iterable[str]) -> set[str]:
        """The keys whose answer is final: these are never sent again."""
        return {key for key, outcome in self.outcomes(keys).items() if outcome in FINAL_OUTCOMES}


def _storable(response: Response) -> Response:
    """The response with text SQLite can hold; a repair of the answer is noted in ``error``.
    The error text has every credential removed (a server may echo the Authorization header)."""
    text, note = repair(response.text)
    error, _ = repair(redact_secrets(response.error) if response.error else response.error)
    if note is None and error == response.error:
        return response
    if note:
        error = f"{error}; {note}" if error else note
    return response.model_copy(update={"text": text, "error": error})


def response_from_row(
    key: str, sample_id: str, model: str, outcome: Any, text: str | None, error: str | None, usage: str,
    latency: float | None, attempts: int, created: str,
) -> Response:  # fmt: skip
    return Response(
        key=key, sample_id=sample_id, model=model, outcome=outcome, text=text,
        error=redact_secrets(error) if error else error,  # a store written before errors were redacted
        usage=Usage.model_validate_json(usage), latency_s=latency, attempts=attempts, created_at=created,
    )  # fmt: skip
