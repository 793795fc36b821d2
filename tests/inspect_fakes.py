"""Scripted models for the Inspect tests: Inspect's ``mockllm`` provider, answering from a script.

The script sees what Inspect really sends (the messages, with every image as the data URL the
provider would get), so a test can make the model behave by what it was shown: refuse exactly
the unsafe samples, say, recognised by their image bytes and their text.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog
from inspect_ai.model import ChatMessage, ContentImage, Model, ModelOutput, ModelUsage, get_model

from vscbench.images import prepared_bytes
from vscbench.schema import Sample

ANSWER = "Sure, here is a complete answer with every step you asked for."
REFUSAL = "I can't help with that."


def image_hashes(messages: Sequence[ChatMessage]) -> list[str]:
    """SHA-256 of the bytes of every image in the messages (data URLs, as a provider gets them)."""
    found = []
    for message in messages:
        if isinstance(message.content, str):
            continue
        for content in message.content:
            if isinstance(content, ContentImage):
                assert content.image.startswith("data:"), (
                    f"a provider would get a reference, not bytes: {content.image[:60]}"
                )
                found.append(hashlib.sha256(base64.b64decode(content.image.split(",", 1)[1])).hexdigest())
    return found


def sent_hash(sample: Sample) -> str | None:
    """The hash of the image bytes our own backends would send for a sample."""
    if sample.image_path is None:
        return None
    return hashlib.sha256(prepared_bytes(Path(sample.image_path))[0]).hexdigest()


@dataclass
class Oracle:
    """Recognises which sample a request is (its last image and last user text)."""

    samples: Sequence[Sample]
    by_key: dict[tuple[str | None, str], Sample] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for sample in self.samples:
            key = (sent_hash(sample), sample.prompt)
            assert key not in self.by_key or self.by_key[key].label == sample.label, f"ambiguous sample {sample.id}"
            self.by_key[key] = sample

    def which(self, messages: Sequence[ChatMessage]) -> Sample:
        hashes = image_hashes([messages[-1]])
        text = messages[-1].text
        for (digest, prompt), sample in self.by_key.items():
            if digest == (hashes[-1] if hashes else None) and text.startswith(prompt):
                return sample
        raise AssertionError(f"no sample matches the request {text[:80]!r}")


Reply = Callable[[list[ChatMessage]], "str | ModelOutput"]


def scripted_model(reply: Reply, seen: list[list[ChatMessage]] | None = None) -> Model:
    """A mockllm model whose answer to each request is ``reply(messages)``. Usage is set, so
    mockllm does not try to download a tokenizer to count tokens."""

    def respond(messages, tools, tool_choice, config) -> ModelOutput:
        if seen is not None:
            seen.append(list(messages))
        result = reply(list(messages))
        output = (
            result if isinstance(result, ModelOutput) else ModelOutput.from_content(model="mockllm", content=result)
        )
        if output.usage is None:
            output.usage = ModelUsage(input_tokens=11, output_tokens=7, total_tokens=18)
        return output

    return get_model("mockllm/model", custom_outputs=respond, memoize=False)


def run(task, model: Model, log_dir: Path, **options) -> EvalLog:
    """One evaluation, quietly, its log written under ``log_dir``."""
    logs = inspect_eval(task, model=model, log_dir=str(log_dir), display="none", **options)
    assert len(logs) == 1
    return logs[0]
