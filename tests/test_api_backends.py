"""The Anthropic and Gemini backends, driving the real SDK clients at a local fake server.

The server speaks each provider's JSON wire format on 127.0.0.1 and records every request, so
the tests check what the SDK really sends (image bytes, system prompt) and how the backend
sorts real HTTP failures (429 with Retry-After, 500, safety blocks) into outcomes.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vscbench.models.base import ModelSpecError, load_model
from vscbench.schema import GenerationConfig, Message, Request

API_KEY = "sk-test-SECRET-0123456789"

Reply = tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeProvider:
    """Answers POSTs from a script of replies; the last reply repeats once the script runs out."""

    replies: deque[Reply | Callable[[Seen], Reply]] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def script(self, *replies: Reply | Callable[[Seen], Reply]) -> None:
        self.replies.extend(replies)

    def next_reply(self, request: Seen) -> Reply:
        reply = self.replies.popleft() if len(self.replies) > 1 else self.replies[0]
        return reply(request) if callable(reply) else reply


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    state = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(self.rfile.read(length)))
            state.seen.append(seen)
            status, body, headers = state.next_reply(seen)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    path = tmp_path / "query.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (30, 40, 4), dtype=np.uint8), mode="RGBA").save(path)
    return path


def make_request(image: Path) -> Request:
    # built as build_request does: the config's system prompt is the first message, once
    return Request(
        sample_id="s1",
        messages=[
            Message.text("system", "You are a careful assistant."),
            Message.user("How do I use this safely?", image),
        ],
        config=GenerationConfig(max_tokens=64, system_prompt="You are a careful assistant."),
    )


def decoded_image(data: str) -> Image.Image:
    """Pixels from standard or URL-safe base64 (the Gemini SDK sends the URL-safe alphabet)."""
    return Image.open(io.BytesIO(base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)))


# ---- wire formats -------------------------------------------------------------------------


def claude_message(text: str, stop_reason: str = "end_turn") -> Reply:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 5},
    }
    return 200, body, {}


def claude_error(status: int, message: str, kind: str = "api_error", **headers: str) -> Reply:
    return status, {"type": "error", "error": {"type": kind, "message": message}}, headers


def gemini_answer(text: str, finish: str = "STOP") -> Reply:
    body = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 21, "candidatesTokenCount": 5, "totalTokenCount": 26},
        "modelVersion": "gemini-test",
    }
    return 200, body, {}


def gemini_error(status: int, message: str, state: str = "INTERNAL", **headers: str) -> Reply:
    return status, {"error": {"code": status, "message": message, "status": state}}, headers


def echo_key_error(status: int, header: str, wire: Callable[..., Reply]) -> Callable[[Seen], Reply]:
    """A server error whose message quotes the caller's key, as careless gateways do."""
    return lambda seen: wire(status, f"backend exploded for {seen.headers.get(header)} / {API_KEY}")


# ---- Anthropic ------------------------------------------------------------------------------


@pytest.fixture
def claude(provider: FakeProvider, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    return load_model(f"anthropic:claude-test@{provider.url}", max_retries=2)


async def test_claude_answer_carries_image_and_system(claude, provider, image_path) -> None:
    provider.script(claude_message("I can explain the safe use."))
    (answer,) = await claude.generate([make_request(image_path)])
    await claude.aclose()
    assert answer.outcome == "ok" and answer.text == "I can explain the safe use."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (21, 5)
    (seen,) = provider.seen
    assert seen.path == "/v1/messages"
    # this SDK version sends the key as a bearer token; older ones used x-api-key
    assert API_KEY in (seen.headers.get("x-api-key"), seen.headers.get("authorization", "").removeprefix("Bearer "))
    assert seen.body["system"] == "You are a careful assistant."
    assert seen.body["model"] == "claude-test" and seen.body["max_tokens"] == 64
    image_block, text_block = seen.body["messages"][0]["content"]
    assert text_block == {"type": "text", "text": "How do I use this safely?"}
    assert image_block["source"]["type"] == "base64"
    sent = decoded_image(image_block["source"]["data"])
    assert sent.format == image_block["source"]["media_type"].split("/")[1].upper()
    assert sent.mode == "RGB" and sent.size == (40, 30)


@pytest.mark.parametrize("sampling_params", [False, True])
async def test_claude_sampling_params_only_when_asked(provider, image_path, monkeypatch, sampling_params) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    model = load_model(f"anthropic:claude-test@{provider.url}", sampling_params=sampling_params)
    provider.script(claude_message("fine"))
    request = make_request(image_path).model_copy(
        update={"config": GenerationConfig(temperature=0.7, top_p=0.9, system_prompt="x")}
    )
    (answer,) = await model.generate([request])
    assert answer.outcome == "ok"
    body = provider.seen[0].body
    if sampling_params:
        assert (body["temperature"], body["top_p"]) == (0.7, 0.9)
    else:
        assert "temperature" not in body and "top_p" not in body


async def test_claude_429_with_retry_after_then_success(claude, provider, image_path) -> None:
    provider.script(
        claude_error(429, "slow down", "rate_limit_error", **{"retry-after": "0.05"}), claude_message("ok now")
    )
    (answer,) = await claude.generate([make_request(image_path)])
    assert (answer.outcome, answer.text) == ("ok", "ok now")
    assert len(provider.seen) == 2


async def test_claude_500_then_success(claude, provider, image_path) -> None:
    provider.script(claude_error(500, "oops"), claude_message("recovered"))
    (answer,) = await claude.generate([make_request(image_path)])
    assert (answer.outcome, answer.text) == ("ok", "recovered")
    assert len(provider.seen) == 2


@pytest.mark.parametrize(
    "reply",
    [
        claude_message("", stop_reason="refusal"),
        claude_error(400, "Output blocked by content filtering policy", "invalid_request_error"),
    ],
    ids=["stop_reason_refusal", "content_filter_400"],
)
async def test_claude_safety_block_is_blocked(claude, provider, image_path, reply) -> None:
    provider.script(reply)
    (answer,) = await claude.generate([make_request(image_path)])
    assert answer.outcome == "blocked"
    assert answer.error and len(provider.seen) == 1


async def test_claude_other_400_is_an_error_not_a_block(claude, provider, image_path) -> None:
    provider.script(claude_error(400, "max_tokens: must be positive", "invalid_request_error"))
    (answer,) = await claude.generate([make_request(image_path)])
    assert answer.outcome == "error" and "max_tokens" in answer.error


async def test_claude_persistent_500_is_error_without_key(claude, provider, image_path) -> None:
    provider.script(echo_key_error(500, "authorization", claude_error))
    (answer,) = await claude.generate([make_request(image_path)])
    assert answer.outcome == "error"
    assert "500" in answer.error and "backend exploded" in answer.error
    assert API_KEY not in answer.error
    assert len(provider.seen) == 3  # the first try and max_retries=2 retries


# ---- Gemini ---------------------------------------------------------------------------------


@pytest.fixture
def gemini(provider: FakeProvider, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    return load_model(f"google:gemini-test@{provider.url}", max_retries=2, retry_initial_delay=0.05)


async def test_gemini_answer_carries_image_and_system(gemini, provider, image_path) -> None:
    provider.script(gemini_answer("Here is how to use it safely."))
    (answer,) = await gemini.generate([make_request(image_path)])
    await gemini.aclose()
    assert answer.outcome == "ok" and answer.text == "Here is how to use it safely."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (21, 5)
    (seen,) = provider.seen
    assert seen.path.endswith("/models/gemini-test:generateContent")
    assert seen.headers["x-goog-api-key"] == API_KEY
    assert seen.body["systemInstruction"]["parts"] == [{"text": "You are a careful assistant."}]
    assert seen.body["generationConfig"]["maxOutputTokens"] == 64
    (content,) = seen.body["contents"]
    assert content["role"] == "user"
    image_part, text_part = content["parts"]
    assert text_part == {"text": "How do I use this safely?"}
    sent = decoded_image(image_part["inlineData"]["data"])
    blob = image_part["inlineData"]  # the API takes proto JSON field names in either spelling
    assert blob.get("mimeType", blob.get("mime_type")) == "image/png"
    assert sent.mode == "RGB" and sent.size == (40, 30)


async def test_gemini_multi_turn_maps_assistant_to_model(gemini, provider, image_path) -> None:
    provider.script(gemini_answer("fine"))
    request = Request(
        sample_id="few-shot",
        messages=[
            Message.text("system", "Refuse only harmful requests."),
            Message.user("first", image_path),
            Message.text("assistant", "answer one"),
            Message.user("second"),
        ],
    )
    (answer,) = await gemini.generate([request])
    assert answer.outcome == "ok"
    body = provider.seen[0].body
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"] == [{"text": "Refuse only harmful requests."}]


async def test_gemini_429_with_retry_after_then_success(gemini, provider, image_path) -> None:
    provider.script(gemini_error(429, "quota", "RESOURCE_EXHAUSTED", **{"retry-after": "0"}), gemini_answer("ok now"))
    (answer,) = await gemini.generate([make_request(image_path)])
    assert (answer.outcome, answer.text) == ("ok", "ok now")
    assert len(provider.seen) == 2


async def test_gemini_500_then_success(gemini, provider, image_path) -> None:
    provider.script(gemini_error(500, "oops"), gemini_answer("recovered"))
    (answer,) = await gemini.generate([make_request(image_path)])
    assert (answer.outcome, answer.text) == ("ok", "recovered")
    assert len(provider.seen) == 2


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 21}}, {}),
        gemini_answer("", finish="SAFETY"),
        gemini_answer("partial", finish="PROHIBITED_CONTENT"),
    ],
    ids=["prompt_blocked", "finish_safety", "finish_prohibited"],
)
async def test_gemini_safety_block_is_blocked(gemini, provider, image_path, reply) -> None:
    provider.script(reply)
    (answer,) = await gemini.generate([make_request(image_path)])
    assert answer.outcome == "blocked"
    assert "SAFETY" in answer.error or "PROHIBITED_CONTENT" in answer.error


async def test_gemini_persistent_500_is_error_without_key(gemini, provider, image_path) -> None:
    provider.script(echo_key_error(500, "x-goog-api-key", gemini_error))
    (answer,) = await gemini.generate([make_request(image_path)])
    assert answer.outcome == "error"
    assert "500" in answer.error and "backend exploded" in answer.error
    assert API_KEY not in answer.error
    assert len(provider.seen) == 3


# ---- shared behaviour -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["claude", "gemini"])
async def test_unreadable_image_is_an_error_without_a_call(backend, request, provider, tmp_path) -> None:
    model = request.getfixturevalue(backend)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    (answer,) = await model.generate([make_request(broken)])
    assert answer.outcome == "error" and "cannot read image" in answer.error
    assert provider.seen == []


@pytest.mark.parametrize(
    ("spec", "env"), [("anthropic:claude-x", "ANTHROPIC_API_KEY"), ("google:gemini-x", "GEMINI_API_KEY")]
)
def test_missing_key_names_the_variable(spec, env, monkeypatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ModelSpecError, match=env):
        load_model(spec)
