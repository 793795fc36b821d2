"""How an Inspect generation ended, in our terms: ``ok``, ``blocked``, ``empty`` or ``error``.

The scorer and the log importer read outcomes the same way, and the same way our own backends
do: a provider content filter is ``blocked``, a reply without text is ``empty``, a failed call
is ``error``. None of these is ever judged, so none is ever scored as a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspect_ai.model import ModelOutput

#: Longest error text kept from a log (tracebacks are the log's business, not the store's).
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    outcome: str
    text: str | None
    error: str | None = None


def generation_outcome(output: ModelOutput | None, sample_error: str | None = None) -> Outcome:
    """The outcome of one sample's generation, from its output and the sample's error, if any."""
    if sample_error:
        return Outcome("error", None, _short(sample_error))
    if output is None:
        return Outcome("error", None, "no model output")
    text = output.completion or ""
    if output.error:
        if output.stop_reason == "content_filter":
            return Outcome("blocked", text or None, _short(output.error))
        return Outcome("error", text or None, _short(output.error))
    if output.stop_reason == "content_filter":
        return Outcome("blocked", text or None, "the provider's content filter stopped the answer")
    if not output.choices and not text:
        return Outcome("error", None, "the model returned no choices")
    if not text.strip():
        return Outcome("empty", text, None)
    return Outcome("ok", text, None)


def _short(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else message
    return first[:MAX_ERROR_CHARS]
