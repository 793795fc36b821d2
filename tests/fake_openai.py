"""A real, scriptable OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

Backends are tested through the real ``openai`` SDK, so the retries, timeouts and error parsing
under test are the SDK's own, not a mock's. The server records every request it receives (body
and headers) so a test can assert exactly what was sent, and it injects the faults a real
provider produces: rate limits with ``Retry-After``, 5xx errors, slow replies, dropped
connections, malformed bodies and content-filter refusals.

Use it as a context manager or through the ``fake_openai`` pytest fixture::

    with FakeOpenAI(latency=0.05) as fake:
        fake.fail("bomb", Fault.content_filter())
        client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")

Run it as a separate process (for benchmarks, so the server is not competing with the client
for the GIL): ``python tests/fake_openai.py --latency 0.2`` prints ``PORT <n>`` and serves
until killed; ``GET /fake/stats`` returns the number of completions served.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

Reply = Callable[[dict[str, Any]], "str | dict[str, Any]"]
"""Turns a request body into the answer text, or into a complete response body."""


@dataclass(frozen=True)
class Fault:
    """One injected failure. Build them with the class methods, which say what they mimic."""

    kind: str
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    code: str | None = None
    message: str = "injected fault"

    @classmethod
    def rate_limit(cls, retry_after: float = 0.1) -> Fault:
        return cls("status", 429, retry_after=retry_after, code="rate_limit_exceeded", message="Rate limit reached")

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float | None = None) -> Fault:
        return cls(
            "status", status, retry_after=retry_after, message="The server had an error while processing your request"
        )

    @classmethod
    def content_filter(cls, code: str = "content_filter") -> Fault:
        """A 400 refusal of the input, as Azure OpenAI (``content_filter``) or OpenAI
        (``content_policy_violation``) send it."""
        return cls("status", 400, code=code, message="The prompt was filtered by the content management policy")

    @classmethod
    def finish_content_filter(cls) -> Fault:
        """A 200 answer cut off by the output filter (``finish_reason: content_filter``)."""
        return cls("finish_content_filter")

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls("slow", delay=delay)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending any reply."""
        return cls("drop")

    @classmethod
    def reset(cls) -> Fault:
        """Abort the connection with a TCP reset (RST) instead of a reply, as an overloaded
        load balancer or a crashed worker does; the client sees ECONNRESET."""
        return cls("reset")

    @classmethod
    def raw(cls, body: bytes, status: int = 200) -> Fault:
        """Reply with these exact bytes as the body (invalid UTF-8, hand-written JSON...)."""
        return cls("raw", status, message=body.decode("latin-1"))

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 reply whose body is not JSON."""
        return cls("malformed")


@dataclass
class _Rule:
    match: Callable[[dict[str, Any]], bool]
    fault: Fault
    remaining: int | None


@dataclass
class RecordedRequest:
    """What the server received: enough to prove what a client sent and how often."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    received_at: float
    fault: str | None = None

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        return prompt_text(self.body or {})

    @property
    def image_urls(self) -> list[str]:
        urls: list[str] = []
        for message in (self.body or {}).get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                urls.extend(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
        return urls

    @property
    def retry_count(self) -> int:
        return int(self.headers.get("x-stainless-retry-count", "0"))


def prompt_text(body: dict[str, Any]) -> str:
    """The text parts of the last user message of a chat completion body, or a text
    completion's whole prompt."""
    if isinstance(body.get("prompt"), str) and "messages" not in body:
        return body["prompt"]
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def default_reply(body: dict[str, Any]) -> str:
    return f"Here is an answer to: {prompt_text(body)[:80]}"


@dataclass
class FakeOpenAI:
    """A threaded OpenAI-compatible server. Thread-safe: handlers run on server threads."""

    latency: float = 0.0
    reply: Reply = default_reply
    record: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    served: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------------
    def fail(
        self,
        match: str | Callable[[dict[str, Any]], bool] | None,
        fault: Fault,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` matching requests (all of them for ``None``) with ``fault``.

        ``match`` is a substring of the last user message, a predicate on the body, or ``None``
        for every request. Rules are tried in the order they were added.
        """
        if match is None:
            predicate: Callable[[dict[str, Any]], bool] = lambda body: True
        elif isinstance(match, str):
            predicate = lambda body, needle=match: needle in prompt_text(body)
        else:
            predicate = match
        with self._lock:
            self._rules.append(_Rule(predicate, fault, times))

    def clear(self) -> None:
        """Forget the recorded requests and the fault rules."""
        with self._lock:
            self.requests.clear()
            self._rules.clear()
            self.served = 0

    def _take_fault(self, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or not rule.match(body):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.fault
        return None

    def completions(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path.endswith("/chat/completions")]

    def text_completions(self) -> list[RecordedRequest]:
        """Requests to ``/v1/completions`` (a raw prompt, no chat template)."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/completions") and "/chat/" not in r.path]

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server((self.host, self.port), handler)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # a burst of 64+ connects must not overflow the listen backlog
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers
    fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
        return

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_bytes(status, data, headers)

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test); nothing to do

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}]}
            )
        elif self.path == "/fake/stats":
            self._send_json(200, {"served": self.fake.served, "recorded": len(self.fake.requests)})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        fake = self.fake
        fault = fake._take_fault(body or {}) if body is not None else None
        recorded = RecordedRequest(
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
            fault=fault.kind if fault else None,
        )
        with fake._lock:
            fake.served += 1
            if fake.record:
                fake.requests.append(recorded)
        if not urlsplit(self.path).path.rstrip("/").endswith("/completions"):  # a query may follow
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        if body is None:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        delay = fake.latency + (fault.delay if fault and fault.kind == "slow" else 0.0)
        if delay:
            time.sleep(delay)
        if fault is None or fault.kind == "slow":
            self._send_json(200, _completion(body, fake.reply(body)))
        elif fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            error = {"message": fault.message, "type": "invalid_request_error" if fault.status == 400 else "server_error",
                     "param": None, "code": fault.code}  # fmt: skip
            self._send_json(fault.status, {"error": error}, headers)
        elif fault.kind == "finish_content_filter":
            payload = _completion(body, "Partial answer that was")
            payload["choices"][0]["finish_reason"] = "content_filter"
            self._send_json(200, payload)
        elif fault.kind == "malformed":
            self._send_bytes(200, b'{"id": "chatcmpl-broken", "choices": [ this is not json')
        elif fault.kind == "raw":
            self._send_bytes(fault.status, fault.message.encode("latin-1"))
        elif fault.kind == "reset":
            self.close_connection = True
            try:  # SO_LINGER with a zero timeout: close() sends RST, not FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
        elif fault.kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)  # socket.SHUT_RDWR: the client sees EOF, no status line
            except OSError:
                pass


def _completion(body: dict[str, Any], answer: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(answer, dict):
        return answer
    prompt_tokens = len(re.findall(r"\w+", prompt_text(body))) + 10
    if "messages" not in body:  # a text completion (/v1/completions)
        return {
            "id": "cmpl-fake", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "text": answer, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(answer.split()),
                      "total_tokens": prompt_tokens + len(answer.split())},
        }  # fmt: skip
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(answer.split()),
            "total_tokens": prompt_tokens + len(answer.split()),
        },
    }


try:  # the fixture ``fake_openai``, for test modules that import it: ``from fake_openai import fake_openai_fixture``
    import pytest

    @pytest.fixture(name="fake_openai")
    def fake_openai_fixture():
        """A started FakeOpenAI with no latency; stopped after the test."""
        with FakeOpenAI() as fake:
            yield fake

except ImportError:  # pragma: no cover - running as a script without pytest
    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible API until killed.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every reply")
    parser.add_argument("--no-record", action="store_true", help="count requests only (benchmarks)")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(latency=args.latency, port=args.port, record=not args.no_record).start()
    print(f"PORT {fake.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
