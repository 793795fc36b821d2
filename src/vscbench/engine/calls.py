"""One backend call made safe, and its answer as a stored Response: shared by every executor
(local, Ray, provider batches), so a failure is recorded the same way whoever made the call."""

from __future__ import annotations

import asyncio

from vscbench.models.base import Generation, Model
from vscbench.schema import Request, Response, Usage


async def call_model(model: Model, requests: list[Request], timeout: float | None) -> list[Generation]:
    """One backend call that always returns one Generation per request, never raises for a
    failed call and never turns a failure into an answer."""
    try:
        generations = await asyncio.wait_for(model.generate(requests), timeout)
    except TimeoutError:
        return [Generation("error", error=f"no reply within {timeout:g} s") for _ in requests]
    except Exception as exc:  # noqa: BLE001 -- a backend bug must not kill the run; it is recorded as a failure
        reason = f"backend raised {type(exc).__name__}: {str(exc)[:200]}"
        return [Generation("error", error=reason) for _ in requests]
    if len(generations) != len(requests):
        reason = f"backend returned {len(generations)} answers for {len(requests)} requests"
        return [Generation("error", error=reason) for _ in requests]
    return generations


def to_response(key: str, sample_id: str, model_spec: str, generation: Generation, latency: float) -> Response:
    outcome = generation.outcome if generation.outcome in ("ok", "blocked", "error", "empty") else "error"
    if outcome == "ok" and not (generation.text or "").strip():
        # no text is no answer: kept apart, never judged, never scored as a refusal
        outcome = "empty"
        generation.error = generation.error or (
            "the reply has no text" if generation.text is None else "the reply is blank"
        )
    return Response(
        key=key,
        sample_id=sample_id,
        model=model_spec,
        outcome=outcome,
        text=generation.text,
        error=generation.error,
        usage=generation.usage if isinstance(generation.usage, Usage) else Usage(),
        latency_s=latency,
        attempts=generation.attempts,
    )
