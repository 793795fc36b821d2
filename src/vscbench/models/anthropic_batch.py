"""Anthropic's Message Batches API for the Messages calls an :class:`AnthropicModel` sends.

Each item is ``{"custom_id", "params"}`` whose params are exactly
:meth:`AnthropicModel.request_params`; each succeeded result's message is read by the same
:func:`message_generation` as a synchronous reply. Limits: 100,000 requests and 256 MB per
batch; custom ids match ``[A-Za-z0-9_-]{1,64}`` (vscbench uses the 64-hex-digit cache key).
Items end ``succeeded``, ``errored``, ``canceled`` or ``expired``; the last two never ran.
Batches carry no metadata, so a batch whose id a killed process never stored is found by its
size and creation time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic

from vscbench.models.anthropic import _FILTER_MESSAGE, AnthropicModel, message_generation, redact
from vscbench.models.base import Generation
from vscbench.models.batch_api import BatchRefused, BatchState, ItemResult, Submitted
from vscbench.models.http import connection_reason
from vscbench.schema import Outcome, Request


class AnthropicBatchAPI:
    provider = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def __init__(self, model: AnthropicModel) -> None:
        self.model = model
        self.client = model.client

    async def encode(self, custom_id: str, request: Request) -> bytes:
        params = await asyncio.to_thread(self.model.request_params, request)
        return json.dumps(
            {"custom_id": custom_id, "params": params}, ensure_ascii=False, separators=(",", ":")
        ).encode()

    async def submit(self, lines: Path, count: int, local_id: str) -> Submitted:
        with lines.open("rb") as handle:
            requests: list[Any] = [json.loads(line) for line in handle if line.strip()]
        try:
            batch = await self.client.messages.batches.create(requests=requests)
        except anthropic.APIStatusError as exc:
            reason = redact(f"HTTP {exc.status_code}: {exc.message}"[:300], *self.model._secrets)
            raise BatchRefused(f"the batch was refused: {reason}", fatal=exc.status_code in (401, 403, 404)) from None
        except anthropic.APIConnectionError as exc:
            reason = redact(f"the batch could not be sent: {connection_reason(exc)}", *self.model._secrets)
            raise BatchRefused(reason) from None
        return Submitted(str(batch.id), None, str(batch.processing_status))

    async def poll(self, batch_id: str) -> BatchState:
        return _state(await self.client.messages.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchState:
        return _state(await self.client.messages.batches.cancel(batch_id))

    async def find(self, local_id: str, since: float, count: int) -> str | None:
        found = []
        async for batch in self.client.messages.batches.list(limit=100):
            created = _timestamp(batch.created_at)
            if created is not None and created < since - 600:
                break  # newest first: older batches cannot be it
            if created is not None and created >= since - 60 and _total(batch) == count:
                found.append(str(batch.id))
        return found[0] if len(found) == 1 else None

    async def results(self, state: BatchState) -> AsyncIterator[ItemResult]:
        async for item in await self.client.messages.batches.results(state.batch_id):
            yield self.item(item)

    def item(self, item: Any) -> ItemResult:
        """One result line as an answer (None: the item never ran)."""
        custom_id = str(item.custom_id)
        result = item.result
        kind = getattr(result, "type", None)
        if kind == "succeeded":
            return ItemResult(custom_id, message_generation(result.message))
        if kind == "errored":
            outer = getattr(result, "error", None)
            inner = getattr(outer, "error", None)
            error_type = getattr(inner, "type", None) or "error"
            message = str(getattr(inner, "message", "") or "")
            outcome: Outcome = "blocked" if _FILTER_MESSAGE.match(message) else "error"
            reason = redact(f"batch item {error_type}: {message[:200]}", *self.model._secrets)
            return ItemResult(custom_id, Generation(outcome, error=reason))
        return ItemResult(custom_id, None)  # canceled, expired


def _total(batch: Any) -> int:
    counts = batch.request_counts
    return int(counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _state(batch: Any) -> BatchState:
    counts = batch.request_counts
    total = _total(batch)
    return BatchState(
        batch_id=str(batch.id), status=str(batch.processing_status), ended=batch.processing_status == "ended",
        cancelled=batch.cancel_initiated_at is not None, done=total - int(counts.processing), total=total,
    )  # fmt: skip
