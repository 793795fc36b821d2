"""Local models on vLLM's offline engine (``vllm.LLM.chat``), for fast GPU batch generation.

vLLM needs Linux and a CUDA GPU, so it is not a declared dependency: the engine is imported
when a model is built and a missing install is reported with what to do instead. A running
vLLM server is better reached through ``openai:MODEL@http://host:8000/v1``.

Not exercised against a real engine in this repository's tests (no GPU there); only the
request translation and the missing-install error are tested.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from vscbench.images import data_url
from vscbench.models.base import Generation, ModelSpec, ModelSpecError
from vscbench.schema import ImagePart, Request, TextPart, Usage


def to_vllm_messages(request: Request) -> list[dict[str, Any]]:
    """OpenAI-style chat messages with images as PNG ``data:`` URLs, which ``LLM.chat`` takes.

    Raises ``OSError``/``ValueError`` (from Pillow) when an image cannot be decoded.
    """
    messages: list[dict[str, Any]] = []  # the system prompt is among the messages already
    for message in request.messages:
        if not message.images:  # plain text turns as strings, as chat templates expect for system turns
            messages.append({"role": message.role, "content": message.text_content})
            continue
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                url = data_url(str(part.path), request.config.max_image_side, request.config.image_format)
                parts.append({"type": "image_url", "image_url": {"url": url}})
            elif isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
        messages.append({"role": message.role, "content": parts})
    return messages


class VLLMModel:
    """A model served in-process by vLLM. Options other than ``batch_size`` go to ``vllm.LLM``
    (``tensor_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``, ...)."""

    def __init__(self, spec: ModelSpec, batch_size: int = 64, **engine_options: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ModelSpecError(
                f"{spec} needs vLLM, which is not installed (`pip install vllm` on Linux with a "
                "CUDA GPU). To use a vLLM server instead, run `vllm serve MODEL` and use "
                "openai:MODEL@http://localhost:8000/v1; for CPU or Apple machines use hf:MODEL."
            ) from exc
        self.spec = spec
        self.max_batch_size = batch_size
        self._vllm = vllm
        engine_options.setdefault("limit_mm_per_prompt", {"image": 8})
        self.engine = vllm.LLM(model=spec.name, **engine_options)
        self._lock = threading.Lock()

    def _sampling(self, request: Request) -> Any:
        config = request.config
        return self._vllm.SamplingParams(
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            top_p=config.top_p if config.top_p is not None else 1.0,
            seed=config.seed,
        )

    def _chat(self, requests: list[Request], conversations: list[list[dict[str, Any]]]) -> list[Generation]:
        outputs = self.engine.chat(conversations, sampling_params=[self._sampling(r) for r in requests], use_tqdm=False)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            usage = Usage(
                prompt_tokens=len(output.prompt_token_ids or []),
                completion_tokens=len(completion.token_ids),
            )
            results.append(Generation(outcome="ok", text=completion.text.strip(), usage=usage))
        return results

    def generate_batch(self, requests: list[Request]) -> list[Generation]:
        """Blocking generation; a batch the engine rejects is retried one request at a time."""
        results: list[Generation] = [Generation(outcome="error", error="not generated")] * len(requests)
        ready: list[int] = []
        conversations: list[list[dict[str, Any]]] = []
        for position, request in enumerate(requests):
            try:
                conversations.append(to_vllm_messages(request))
                ready.append(position)
            except Exception as exc:  # noqa: BLE001 -- recorded as this request's failure
                results[position] = Generation(outcome="error", error=f"cannot read image: {type(exc).__name__}: {exc}")
        with self._lock:
            try:
                answers = self._chat([requests[i] for i in ready], conversations)
            except Exception:  # noqa: BLE001 -- recorded as this request's failure
                answers = []
                for position, conversation in zip(ready, conversations):
                    try:
                        answers += self._chat([requests[position]], [conversation])
                    except Exception as exc:  # noqa: BLE001 -- recorded as this request's failure
                        answers.append(Generation(outcome="error", error=f"{type(exc).__name__}: {exc}"))
        for position, answer in zip(ready, answers):
            results[position] = answer
        return results

    async def generate(self, requests: list[Request]) -> list[Generation]:
        return await asyncio.to_thread(self.generate_batch, requests)

    async def aclose(self) -> None:
        return None
