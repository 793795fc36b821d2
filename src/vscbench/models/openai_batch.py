"""OpenAI's Batch API (Files + Batches, JSONL) for the chat completions an :class:`OpenAIModel` sends.

Each item is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` whose
body is exactly :meth:`OpenAIModel.request_body`; each result line's body is read by the same
:meth:`OpenAIModel._to_generation` as a synchronous reply. Limits: 50,000 requests and 200 MB
per batch. A batch that expires or is cancelled still has its finished items in the output
file; the others are in the error file with ``batch_expired``/``batch_cancelled`` and count as
never run. A batch is tagged with its local id in ``metadata`` so that a process killed after
the provider accepted it, before the store recorded it, finds it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from vscbench.models.base import Generation
from vscbench.models.batch_api import BatchRefused, BatchState, ItemResult, Submitted
from vscbench.models.http import connection_reason
from vscbench.models.openai import CONTENT_FILTER_CODES, OpenAIModel
from vscbench.schema import Outcome, Request

ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
#: The metadata key a batch's local id is sent under.
TAG = "vscbench_batch"
#: Error codes of items that never ran (the batch expired or was cancelled first).
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled", "batch_canceled"})
_ENDED = frozenset({"completed", "expired", "cancelled", "failed"})


class OpenAIBatchAPI:
    provider = "openai"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def __init__(self, model: OpenAIModel) -> None:
        self.model = model
        self.client = model._client

    async def encode(self, custom_id: str, request: Request) -> bytes:
        body = await self.model.request_body(request)
        item = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def submit(self, lines: Path, count: int, local_id: str) -> Submitted:
        import openai

        try:
            uploaded = await self._upload(lines, local_id)
            batch = await self.client.batches.create(
                input_file_id=uploaded, endpoint=ENDPOINT, completion_window="24h", metadata={TAG: local_id}
            )
        except openai.APIStatusError as exc:
            reason = self.model._redact(f"HTTP {exc.status_code}: {exc.message}"[:300])
            raise BatchRefused(f"the batch was refused: {reason}", fatal=exc.status_code in (401, 403, 404)) from None
        except openai.APIConnectionError as exc:
            raise BatchRefused(self.model._redact(f"the batch could not be sent: {connection_reason(exc)}")) from None
        return Submitted(batch.id, uploaded, str(batch.status))

    async def _upload(self, lines: Path, local_id: str, attempts: int = 3) -> str:
        """Upload the JSONL file, streamed from disk. The SDK's own retry would resend a file
        object already read to its end, so each attempt here opens the file afresh."""
        import openai

        client = self.client.with_options(max_retries=0)
        for attempt in range(attempts):
            try:
                with lines.open("rb") as handle:
                    uploaded = await client.files.create(file=(f"vscbench-{local_id}.jsonl", handle), purpose="batch")
                return str(uploaded.id)
            except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(2.0 * (attempt + 1))
        raise AssertionError("unreachable")

    async def poll(self, batch_id: str) -> BatchState:
        return _state(await self.client.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchState:
        return _state(await self.client.batches.cancel(batch_id))

    async def find(self, local_id: str, since: float, count: int) -> str | None:
        async for batch in self.client.batches.list(limit=100):
            if (batch.metadata or {}).get(TAG) == local_id:
                return str(batch.id)
            if batch.created_at and batch.created_at < since - 600:
                return None  # newest first: older batches cannot be it
        return None

    async def results(self, state: BatchState) -> AsyncIterator[ItemResult]:
        for file_id in (state.output_file_id, state.error_file_id):
            if not file_id:
                continue
            async with self.client.files.with_streaming_response.content(file_id) as response:
                async for line in response.iter_lines():
                    try:
                        parsed = json.loads(line) if line.strip() else None
                    except json.JSONDecodeError:
                        parsed = None  # an unreadable line: its item counts as never run, and is asked again
                    if isinstance(parsed, dict):
                        yield self.item(parsed)

    def item(self, line: dict[str, Any]) -> ItemResult:
        """One output or error file line as an answer (None: the item never ran)."""
        custom_id = str(line.get("custom_id"))
        error = line.get("error")
        response = line.get("response")
        if isinstance(error, dict) and error:
            code = str(error.get("code") or "")
            if code in NOT_RUN_CODES:
                return ItemResult(custom_id, None)
            reason = self.model._redact(f"batch item {code or 'error'}: {str(error.get('message') or '')[:200]}")
            outcome: Outcome = "blocked" if code in CONTENT_FILTER_CODES else "error"
            return ItemResult(custom_id, Generation(outcome, error=reason))
        if not isinstance(response, dict):
            return ItemResult(custom_id, Generation("error", error="batch item without a response"))
        raw_body = response.get("body")
        body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
        status = int(response.get("status_code") or 0)
        if status != 200:
            raw_error = body.get("error")
            inner: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            error_code = str(inner.get("code") or "")
            message = self.model._redact(str(inner.get("message") or "")[:200])
            outcome = "blocked" if error_code in CONTENT_FILTER_CODES else "error"
            reason = f"HTTP {status}{f' {error_code}' if error_code else ''}: {message}"
            return ItemResult(custom_id, Generation(outcome, error=reason))
        from openai.types.chat import ChatCompletion

        return ItemResult(custom_id, self.model._to_generation(ChatCompletion.construct(**body), 1))


def _state(batch: Any) -> BatchState:
    counts = batch.request_counts
    errors = getattr(batch, "errors", None)
    reason = None
    if errors is not None and getattr(errors, "data", None):
        reason = "; ".join(f"{e.code}: {e.message} (line {e.line})" for e in errors.data[:3])
    return BatchState(
        batch_id=str(batch.id), status=str(batch.status), ended=batch.status in _ENDED,
        failed=batch.status == "failed", cancelled=batch.status in ("cancelling", "cancelled"),
        done=(counts.completed + counts.failed) if counts else 0, total=counts.total if counts else 0,
        output_file_id=batch.output_file_id, error_file_id=batch.error_file_id, reason=reason,
    )  # fmt: skip
