"""The small interface a provider's batch API is driven through, and which backends have one.

A batch API takes many requests at once at a discount and answers them within a window (24 h
at OpenAI and Anthropic). An adapter wraps a loaded synchronous backend, so a batch item is
the very request body the synchronous call would send and its answer is read by the same code:
a batch answer and a synchronous answer of one request are the same cache entry.

The engine (:mod:`vscbench.engine.batch`) decides what goes in which batch, stores each batch
before waiting for it, polls and collects; an adapter only speaks the provider's protocol:
encode one item, submit a file of items, poll, stream the results, cancel, and find a batch by
the local id it was tagged with (a process killed between the provider's reply and the store's
commit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vscbench.models.base import Generation, ModelSpecError
from vscbench.schema import Request

#: Providers with a batch API vscbench drives: provider -> "module:adapter".
BATCH_APIS: dict[str, str] = {
    "openai": "vscbench.models.openai_batch:OpenAIBatchAPI",
    "anthropic": "vscbench.models.anthropic_batch:AnthropicBatchAPI",
}


class BatchRefused(Exception):
    """The provider did not take a batch (or could not be reached); the message is safe to
    store (no key). ``fatal``: every further batch would be refused the same way (a refused
    key, an unknown model or URL)."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True)
class Submitted:
    """A batch the provider accepted."""

    batch_id: str
    input_file_id: str | None
    status: str


@dataclass(frozen=True)
class BatchState:
    """A batch as the provider reports it on one poll."""

    batch_id: str
    status: str
    """The provider's own word (``in_progress``, ``expired``, ``ended``...)."""
    ended: bool
    """No item will change any more: the results can be read."""
    failed: bool = False
    """The provider rejected the whole batch (its input): there are no results."""
    cancelled: bool = False
    """Someone cancelled it: the items that had not run never will."""
    done: int = 0
    total: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    reason: str | None = None
    """Why the batch failed, in the provider's words."""


@dataclass(frozen=True)
class ItemResult:
    """One item of a finished batch: its answer, or None when it never ran (expired, cancelled)."""

    custom_id: str
    generation: Generation | None


class BatchAPI(Protocol):
    """One provider's batch protocol, bound to a loaded backend (its client and request format)."""

    provider: str
    max_requests: int
    """The provider's limit of requests per batch."""
    max_bytes: int
    """The provider's limit of input bytes per batch."""

    async def encode(self, custom_id: str, request: Request) -> bytes:
        """One item as a JSONL line (no newline). Raises ``ImageError``/``OSError`` when an image
        cannot be read: that request is failed alone, never sent."""
        ...

    async def submit(self, lines: Path, count: int, local_id: str) -> Submitted:
        """Send a JSONL file of ``count`` items as one batch, tagged with ``local_id``; raises
        :class:`BatchRefused` when the provider does not take it."""
        ...

    async def poll(self, batch_id: str) -> BatchState: ...

    def results(self, state: BatchState) -> AsyncIterator[ItemResult]:
        """Every item of an ended batch, streamed (a results file is never held whole)."""
        ...

    async def cancel(self, batch_id: str) -> BatchState: ...

    async def find(self, local_id: str, since: float, count: int) -> str | None:
        """The id of the batch tagged ``local_id`` (or, where batches carry no tag, the one
        batch of ``count`` items created after ``since``), if the provider has it."""
        ...


def batch_api_for(model: Any) -> BatchAPI:
    """The batch adapter of a loaded backend; :class:`ModelSpecError` for a backend without one."""
    import importlib

    spec = getattr(model, "spec", None)
    provider = getattr(spec, "provider", None)
    if provider not in BATCH_APIS or getattr(spec, "is_pool", False):
        raise ModelSpecError(
            f"--execution batch works for openai: and anthropic: models (one server, no pool); {spec} has no batch API "
            "here: run it with --execution sync"
        )
    module_name, _, name = BATCH_APIS[provider].partition(":")
    return getattr(importlib.import_module(module_name), name)(model)
