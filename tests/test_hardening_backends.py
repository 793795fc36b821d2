"""Hostile servers against the API backends (issue 11): resets, long Retry-After, a 400 that
merely mentions safety, bodies with invalid UTF-8 / lone surrogates / NUL, and credentials in a
base URL. Every backend runs its real SDK against a server on 127.0.0.1."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Fault, fake_openai_fixture  # noqa: F401 (the fixture)

from hostile import RawServer, claude_message_bytes, gemini_answer_bytes, openai_completion_bytes
from vscbench.engine.runner import run_samples_sync
from vscbench.models.base import ModelSpec, load_model
from vscbench.models.http import connection_reason, strip_credentials
from vscbench.models.openai import OpenAIModel
from vscbench.schema import Message, Request, Sample
from vscbench.store import Store

KEY = "sk-test-SECRET-0123456789"


def ask(text: str = "hi") -> Request:
    return Request(sample_id="s", messages=[Message.user(text)])


async def one(model, request: Request | None = None):
    (generation,) = await model.generate([request or ask()])
    return generation


# ---- connection failures in words ----------------------------------------------------------------


async def test_connection_reset_says_so(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(None, Fault.reset(), times=None)
    model = OpenAIModel(ModelSpec("openai", "fake-model", fake_openai.base_url), max_retries=1)
    answer = await one(model)
    await model.aclose()
    assert answer.outcome == "error"
    assert answer.error.startswith("connection failed: connection reset by server"), answer.error
    assert answer.attempts == 2 and len(fake_openai.completions()) == 2


async def test_dropped_and_refused_connections_say_so(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(None, Fault.drop(), times=None)
    model = OpenAIModel(ModelSpec("openai", "fake-model", fake_openai.base_url), max_retries=0)
    assert "closed the connection without replying" in (await one(model)).error
    await model.aclose()
    refused = OpenAIModel(ModelSpec("openai", "fake-model", "http://127.0.0.1:9/v1"), max_retries=0)
    assert "could not connect" in (await one(refused)).error
    await refused.aclose()


def test_connection_reason_of_a_bare_reset() -> None:
    class ReadError(Exception):
        pass

    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as inner:
            raise ReadError("") from inner
    except ReadError as exc:
        assert connection_reason(exc) == "connection reset by server (ReadError)"


# ---- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after", "max_wait"), [(3600, None), (30, 1.0)], ids=["past_sdk_cap", "past_budget"])
async def test_retry_after_past_the_budget_is_reported_with_the_wait(fake_openai, retry_after, max_wait) -> None:
    fake_openai.fail(None, Fault.rate_limit(retry_after=retry_after), times=None)
    options = {} if max_wait is None else {"max_retry_wait": max_wait}
    model = OpenAIModel(ModelSpec("openai", "fake-model", fake_openai.base_url), max_retries=3, **options)
    started = time.monotonic()
    answer = await one(model)
    await model.aclose()
    assert time.monotonic() - started < 5  # neither slept through the wait nor hammered the server
    assert answer.outcome == "error" and answer.error.startswith("HTTP 429")
    assert f"asked to wait {retry_after} s" in answer.error and "Retry-After" in answer.error
    assert len(fake_openai.completions()) == 1


async def test_anthropic_retry_after_past_the_budget(monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
    with RawServer() as server:
        server.script((429, {"retry-after": "600"}, body))
        model = load_model(f"anthropic:claude-test@{server.url}", max_retries=3)
        answer = await one(model)
        await model.aclose()
    assert answer.outcome == "error" and "asked to wait 600 s" in answer.error and len(server.seen) == 1


# ---- Anthropic's explicit safety signal ------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        ("Output blocked by content filtering policy", "blocked"),
        ("max_tokens: leave a safety margin below the context window", "error"),
        ("messages: the usage policy link in your system prompt is malformed", "error"),
        ("prompt is too long: content filter settings ignored", "error"),
    ],
)
async def test_anthropic_400_is_blocked_only_on_the_filter_signal(monkeypatch, message, outcome) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    body = (f'{{"type":"error","error":{{"type":"invalid_request_error","message":"{message}"}}}}').encode()
    with RawServer() as server:
        server.script((400, {}, body))
        model = load_model(f"anthropic:claude-test@{server.url}", max_retries=0)
        answer = await one(model)
        await model.aclose()
    assert answer.outcome == outcome and message in answer.error


# ---- bodies that are not clean text ----------------------------------------------------------------

BODIES = {
    "invalid_utf8": (b'"caf\xe9 and \xff\xfe answer"', "caf\ufffd and \ufffd\ufffd answer", "invalid UTF-8"),
    "lone_surrogate": (b'"half \\ud83d emoji"', "half \ufffd emoji", "1 lone surrogate"),
    "nul": (b'"nul\\u0000inside"', "nul\ufffdinside", "1 NUL character"),
}
WIRE = {"openai": openai_completion_bytes, "anthropic": claude_message_bytes, "google": gemini_answer_bytes}


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("backend", list(WIRE))
async def test_unclean_answer_text_is_kept_repaired_and_noted(monkeypatch, backend, body) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    raw, expected, note = BODIES[body]
    names = {"openai": "fake-model", "anthropic": "claude-test", "google": "gemini-test"}
    spec = f"{backend}:{names[backend]}"
    with RawServer() as server:
        server.script((200, {}, WIRE[backend](raw)))
        model = load_model(f"{spec}@{server.url}" + ("/v1" if backend == "openai" else ""), max_retries=0)
        answer = await one(model)
        await model.aclose()
    assert (answer.outcome, answer.text) == ("ok", expected)
    assert answer.error and note in answer.error and "U+FFFD" in answer.error
    answer.text.encode("utf-8")  # storable


def test_a_run_with_unclean_answers_completes_and_stores_them(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail("first", Fault.raw(openai_completion_bytes(b'"bad \\ud800 one"')))
    fake_openai.fail("second", Fault.raw(openai_completion_bytes(b'"bad \xff two"')))
    samples = [
        Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe", prompt=f"{word} prompt")
        for i, word in enumerate(("first", "second", "third"))
    ]
    store = Store(tmp_path / "store.sqlite")
    model = OpenAIModel(ModelSpec("openai", "fake-model", fake_openai.base_url), max_retries=0)
    summary = run_samples_sync(model, samples, store, run_name="r")
    assert (summary.ok, summary.error) == (3, 0)
    texts = {sample.id: response.text for sample, response in store.run_items("r")}
    assert texts == {"s0": "bad \ufffd one", "s1": "bad \ufffd two", "s2": "Here is an answer to: third prompt"}


# ---- credentials in a base URL ---------------------------------------------------------------------


def test_spec_with_credentials_parses_and_hides_them() -> None:
    spec = ModelSpec.parse("openai:Qwen/Qwen2-VL@http://alice:s3cret@gpu1:8000/v1/")
    assert (spec.name, spec.base_url) == ("Qwen/Qwen2-VL", "http://gpu1:8000/v1")
    assert spec.connect_url == "http://alice:s3cret@gpu1:8000/v1"
    assert "s3cret" not in str(spec) + repr(spec) + spec.cache_spec
    assert spec == ModelSpec.parse("openai:Qwen/Qwen2-VL@http://gpu1:8000/v1")  # same model, same cache
    pool = ModelSpec.parse("openai:m", base_url="http://a:pw1@h1/v1,http://h2/v1")
    assert pool.base_urls == ("http://h1/v1", "http://h2/v1") and "pw1" not in str(pool)
    assert pool.endpoint(0).connect_url == "http://a:pw1@h1/v1" and pool.endpoint(1).connect_url == "http://h2/v1"
    assert ModelSpec.parse("openai:m@v2@http://h/v1").name == "m@v2"
    assert strip_credentials("GET http://u:p@ss@host/v1 failed") == "GET http://host/v1 failed"


def test_credentials_reach_the_server_but_not_the_store(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    url = f"http://alice:s3cret@127.0.0.1:{fake_openai.port}/v1"
    samples = [Sample(id="s0", subset="text_centric", category="c", variant="text", label="safe", prompt="hello")]
    store_path = tmp_path / "store.sqlite"
    store = Store(store_path)
    model = load_model(f"openai:fake-model@{url}", max_retries=0)
    summary = run_samples_sync(model, samples, store)
    assert summary.ok == 1 and "s3cret" not in summary.run + summary.model
    (seen,) = fake_openai.completions()
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    store.close() if hasattr(store, "close") else None
    for path in tmp_path.iterdir():  # the database and its WAL
        assert b"s3cret" not in path.read_bytes() and b"alice" not in path.read_bytes()


async def test_credentials_never_appear_in_error_reasons() -> None:
    model = load_model("openai:fake-model@http://alice:s3cret@127.0.0.1:9/v1", max_retries=0)
    answer = await one(model)
    await model.aclose()
    assert answer.outcome == "error" and "s3cret" not in answer.error and "alice" not in answer.error
