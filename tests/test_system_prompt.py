"""The system prompt is placed into the messages once, when a request is built: no backend adds
it again (it used to reach hf, vLLM, Anthropic and Google models twice)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from vscbench.engine.requests import build_request
from vscbench.models.anthropic import to_anthropic
from vscbench.models.base import ModelSpec
from vscbench.models.google import to_gemini
from vscbench.models.hf import to_hf_conversation
from vscbench.models.openai import OpenAIModel
from vscbench.models.vllm import to_vllm_messages
from vscbench.schema import GenerationConfig, Sample

SYSTEM = "Answer harmless requests; decline harmful ones."


@pytest.fixture
def request_with_system(tmp_path: Path):
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8), "white").save(image)
    sample = Sample(id="s", subset="image_centric", category="c", variant="slot_0", label="safe",
                    prompt="What is this?", image_path=image)  # fmt: skip
    return build_request(sample, GenerationConfig(system_prompt=SYSTEM))


def test_built_request_holds_the_system_prompt_once(request_with_system) -> None:
    roles = [m.role for m in request_with_system.messages]
    assert roles == ["system", "user"] and request_with_system.messages[0].text_content == SYSTEM


def test_every_backend_sends_it_once(request_with_system, monkeypatch) -> None:
    system, _ = to_anthropic(request_with_system)
    assert system == SYSTEM
    instruction, contents = to_gemini(request_with_system)
    assert instruction == SYSTEM and all(SYSTEM not in str(c) for c in contents)
    conversation = to_hf_conversation(request_with_system)
    assert json.dumps(conversation, default=str).count(SYSTEM) == 1
    assert json.dumps(to_vllm_messages(request_with_system)).count(SYSTEM) == 1
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    import asyncio

    body = asyncio.run(OpenAIModel(ModelSpec.parse("openai:m@http://127.0.0.1:9/v1")).request_body(request_with_system))
    assert json.dumps(body).count(SYSTEM) == 1
