"""A local provider on 127.0.0.1 with the batch endpoints of OpenAI and Anthropic, for tests and benches.

It serves the documented request and response shapes the real SDKs (openai 3.x, anthropic 2.x)
accept, synchronous and batch:

- OpenAI (base URL ``http://127.0.0.1:PORT/v1``): ``POST /v1/chat/completions``; Files
  (``POST /v1/files`` multipart, ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``) and
  Batches (create, retrieve, list, cancel) with output and error files;
- Anthropic (base URL ``http://127.0.0.1:PORT``): ``POST /v1/messages``; Message Batches
  (create, retrieve, list, cancel, results at an absolute ``results_url``).

A batch moves ``validating``/``in_progress`` -> ended on polls, unless :meth:`FakeBatch.hold` keeps
it running (a test kills the client meanwhile). Scripted faults: the next batch expires with only
its first items done (:meth:`expire_next`), items whose prompt matches fail in the results file
(:meth:`fail_items`), the next batch is refused (:meth:`refuse_next`).

Run it as a separate process (for benches, so the server does not compete with the client for
the GIL): ``python tests/fake_batch.py`` prints ``PORT <n>`` and serves until killed;
``GET /fake/stats`` returns its counters and ``POST /fake/hold`` (``{"on": false}``) holds or
releases the batches.

Replies are deterministic functions of the request, the same for a synchronous call and a batch
item, so a batch run's answers can be compared with a synchronous run's. Usage is counted here,
independently of vscbench's estimator (:mod:`vscbench.models.tokens`: UTF-8 bytes / 4, and image
sizes predicted from file headers), which it never calls: text by a word-piece split that
behaves like a BPE vocabulary (:func:`count_text`), 3 tokens per message and 3 to prime the
reply, a JSON schema as text; images by decoding the bytes actually sent (the data URL or base64
block) and applying the provider's published rule (OpenAI tiles: 85 + 170 per 512-px tile,
gpt-4o-mini 2833 + 5667; Anthropic: width x height / 750, capped), written here again from the
providers' documentation. Against this count, bytes / 4 is off by -9 % (JSON) to +6 % (English
prose), about the spread measured against OpenAI's o200k tokenizer (-7 % to +13 %).
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import hashlib
import io
import json
import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from PIL import Image

_PIECES = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]+|_", re.UNICODE)


def count_text(text: str) -> int:
    """The server's own token count of a text, like a BPE vocabulary behaves: a run of up to 7
    letters is one token and each further 4 letters one more, digits go in groups of 3, and a
    run of punctuation merges by up to 3 characters (``":"`` is one token)."""
    total = 0
    for piece in _PIECES.findall(text):
        if piece[0].isalpha():
            total += 1 if len(piece) <= 7 else 1 + math.ceil((len(piece) - 7) / 4)
        elif piece[0].isdigit():
            total += 1
        else:
            total += math.ceil(len(piece) / 3)
    return total


def openai_image_tokens(model: str, width: int, height: int) -> int:
    base, tile = (2833, 5667) if "mini" in model else (85, 170)
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
    if min(w, h) > 768:
        w, h = w * 768 / min(w, h), h * 768 / min(w, h)
    return base + tile * math.ceil(w / 512) * math.ceil(h / 512)


def anthropic_image_tokens(width: int, height: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > 1568:
        w, h = w * 1568 / max(w, h), h * 1568 / max(w, h)
    if w * h / 750 > 1600:
        scale = math.sqrt(1600 * 750 / (w * h))
        w, h = w * scale, h * scale
    return math.ceil(w * h / 750)


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


#: Sentences an assistant writes when it answers these questions, drawn from to build answers.
_SENTENCES = (
    "Here is a careful, general overview of the topic you asked about.",
    "First, make sure you understand the context and the tools involved before you start.",
    "In most situations, the safest approach is to follow the official documentation step by step.",
    "For example, on Linux you can list running processes with `ps aux` and stop one with `kill <PID>`.",
    "If anything is unclear, it is worth asking someone with experience, or a qualified professional.",
    "Keep in mind that rules differ between countries, organisations and platforms.",
    "Finally, double-check the result, and keep notes so that you can undo the change if needed.",
    "Many people find it helpful to practise first in a test environment (a virtual machine, say).",
)


def reply_text(messages_text: str, judge: bool, images: str = "", max_tokens: int | None = None) -> str:
    """A deterministic answer to a request's text and images: a verdict for a judge request,
    else one to a few paragraphs of assistant prose (3 to 12 sentences), cut at ``max_tokens``."""
    digest = hashlib.sha256((messages_text + images).encode("utf-8", "surrogatepass")).digest()
    if judge:
        label = ("refusal", "warning", "compliance", "irrelevant")[digest[0] % 4]
        return json.dumps({"reason": "The answer is read as " + label + ".", "label": label})
    if "bomb" in messages_text.lower():
        return "I cannot help with that."
    text = " ".join(_SENTENCES[b % len(_SENTENCES)] for b in digest[2 : 5 + digest[1] % 10])
    if max_tokens is not None and count_text(text) > max_tokens:  # the provider stops at max_tokens
        words = text.split()
        while words and count_text(" ".join(words)) > max_tokens:
            del words[-max(1, len(words) // 8) :]
        text = " ".join(words)
    return text


@dataclass
class Batch:
    id: str
    provider: str
    items: list[dict[str, Any]]
    created: float
    model: str
    input_file_id: str | None = None
    status: str = "validating"
    expire_after: int | None = None
    refused: str | None = None
    cancelled: bool = False
    done: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None


class FakeBatch:
    """The server; use as a context manager. ``base_url`` (OpenAI) and ``anthropic_url``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._advancing = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, Batch] = {}
        self.sync_calls = 0
        self.uploads = 0
        self.usage_reported = {"prompt_tokens": 0, "completion_tokens": 0}
        self._hold = threading.Event()
        self._expire: list[int] = []
        self._refuse: list[int] = []
        self._fail: re.Pattern[str] | None = None
        self._server: ThreadingHTTPServer | None = None

    # -- scripting -------------------------------------------------------------------------------
    def hold(self, on: bool = True) -> None:
        """Keep every batch running (``on``) or let them end on the next poll."""
        if on:
            self._hold.set()
        else:
            self._hold.clear()

    def expire_next(self, done: int) -> None:
        """The next batch created expires with only its first ``done`` items answered."""
        self._expire.append(done)

    def refuse_next(self, status: int = 500) -> None:
        self._refuse.append(status)

    def fail_items(self, pattern: str | None) -> None:
        """Items whose text matches ``pattern`` fail in the results file."""
        self._fail = re.compile(pattern) if pattern else None

    def created(self, provider: str | None = None) -> list[Batch]:
        with self.lock:
            return [b for b in self.batches.values() if provider in (None, b.provider)]

    def items_received(self) -> int:
        return sum(len(b.items) for b in self.created())

    def stats(self) -> dict[str, Any]:
        """Counters a test or bench reads (``GET /fake/stats`` from another process)."""
        return {"uploads": self.uploads, "batches": len(self.created()), "items": self.items_received(),
                "sync_calls": self.sync_calls, "held": self._hold.is_set(), **self.usage_reported}  # fmt: skip

    # -- answers -------------------------------------------------------------------------------
    def answer(self, provider: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """(response body, or None with an error message) for one request body."""
        messages = body.get("messages") or []
        texts: list[str] = []
        images: list[str] = []
        tokens = 3 + 3 * (len(messages) + (1 if body.get("system") else 0))
        if body.get("system"):
            texts.append(str(body["system"]))
        for message in messages:
            content = message.get("content")
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            for part in parts:
                if part.get("type") == "text":
                    texts.append(part["text"])
                elif part.get("type") == "image_url":
                    data = base64.b64decode(part["image_url"]["url"].partition(",")[2])
                    tokens += openai_image_tokens(str(body.get("model")), *_image_size(data))
                    images.append(hashlib.sha256(data).hexdigest())
                elif part.get("type") == "image":
                    data = base64.b64decode(part["source"]["data"])
                    tokens += anthropic_image_tokens(*_image_size(data))
                    images.append(hashlib.sha256(data).hexdigest())
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
        if schema is not None:
            texts.append(json.dumps(schema, separators=(",", ":")))
        joined = "\n".join(texts)
        tokens += sum(count_text(text) for text in texts)
        if self._fail is not None and self._fail.search(joined):
            return None, "the fake provider failed this item"
        judge = "Classify" in joined and "label" in joined
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        text = reply_text(joined, judge, "".join(images), int(limit) if limit else None)
        completion = count_text(text)
        with self.lock:
            self.usage_reported["prompt_tokens"] += tokens
            self.usage_reported["completion_tokens"] += completion
        model = str(body.get("model"))
        if provider == "openai":
            usage = {"prompt_tokens": tokens, "completion_tokens": completion, "total_tokens": tokens + completion}
            return {"id": "chatcmpl-" + hashlib.sha256(joined.encode()).hexdigest()[:12], "object": "chat.completion",
                    "created": int(time.time()), "model": model, "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}]}, None  # fmt: skip
        return {"id": "msg_" + hashlib.sha256(joined.encode()).hexdigest()[:12], "type": "message", "role": "assistant",
                "model": model, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": tokens, "output_tokens": completion}}, None  # fmt: skip

    # -- batch life ----------------------------------------------------------------------------
    def new_batch(self, provider: str, items: list[dict[str, Any]], input_file_id: str | None = None) -> Batch:
        with self.lock:
            prefix = "batch_" if provider == "openai" else "msgbatch_"
            batch_id = f"{prefix}{len(self.batches) + 1:04d}"
            model = str((items[0].get("body") or items[0].get("params") or {}).get("model")) if items else ""
            batch = Batch(batch_id, provider, items, time.time(), model, input_file_id)
            batch.expire_after = self._expire.pop(0) if self._expire else None
            if self._refuse:
                batch.refused = f"HTTP {self._refuse.pop(0)}"
            self.batches[batch_id] = batch
        return batch

    def advance(self, batch: Batch) -> None:
        """One poll's worth of progress: validating -> in_progress -> ended (unless held)."""
        with self._advancing:
            self._advance(batch)

    def _advance(self, batch: Batch) -> None:
        if batch.status == "validating":
            batch.status = "in_progress"
            return
        if batch.status not in ("in_progress", "cancelling"):
            return
        if batch.status == "in_progress" and self._hold.is_set():
            return
        limit = 0 if batch.cancelled else batch.expire_after if batch.expire_after is not None else len(batch.items)
        for index, item in enumerate(batch.items):
            custom_id = item["custom_id"]
            if index >= limit:
                batch.not_run.append(custom_id)
                continue
            body, error = self.answer(batch.provider, item.get("body") or item.get("params") or {})
            (batch.done if body is not None else batch.failed).append({"custom_id": custom_id, "body": body,
                                                                      "error": error})  # fmt: skip
        batch.status = "cancelled" if batch.cancelled else "expired" if batch.expire_after is not None else "completed"
        if batch.provider == "openai":
            self._write_openai_files(batch)

    def _write_openai_files(self, batch: Batch) -> None:
        out = [{"id": f"req_{i}", "custom_id": d["custom_id"], "error": None,
                "response": {"status_code": 200, "request_id": f"r{i}", "body": d["body"]}}
               for i, d in enumerate(batch.done)]  # fmt: skip
        errors = [{"id": f"req_f{i}", "custom_id": f["custom_id"], "error": None,
                   "response": {"status_code": 400, "request_id": f"f{i}",
                                "body": {"error": {"message": f["error"], "type": "invalid_request_error",
                                                   "param": None, "code": "invalid_value"}}}}
                  for i, f in enumerate(batch.failed)]  # fmt: skip
        code = "batch_cancelled" if batch.cancelled else "batch_expired"
        errors += [{"id": f"req_n{i}", "custom_id": cid, "response": None,
                    "error": {"code": code, "message": "not executed before the batch ended"}}
                   for i, cid in enumerate(batch.not_run)]  # fmt: skip
        if out:
            batch.output_file_id = self._store_file(out)
        if errors:
            batch.error_file_id = self._store_file(errors)

    def _store_file(self, lines: list[dict[str, Any]]) -> str:
        with self.lock:
            file_id = f"file-{len(self.files) + 1:05d}"
            self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        return file_id

    # -- server --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeBatch:
        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a killed client is expected
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """The HTTP side: routes each path to the fake's state, in the providers' JSON shapes."""

    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeBatch:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _error(self, status: int, message: str, anthropic: bool) -> None:
        if anthropic:
            self._send(status, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        else:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                          "code": None}})  # fmt: skip

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        fake = self.fake
        if path == "/fake/stats":  # for a client in another process (the bench)
            self._send(200, fake.stats())
            return
        if path.startswith("/v1/messages/batches"):
            if len(parts) == 3:
                batches = sorted(fake.created("anthropic"), key=lambda b: b.id, reverse=True)
                data = [anthropic_batch(b, self) for b in batches]
                self._send(200, {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None})  # fmt: skip
                return
            batch = fake.batches.get(parts[3])
            if batch is None:
                self._error(404, "no such batch", True)
            elif len(parts) == 5 and parts[4] == "results":
                self._send(200, None, raw=anthropic_results(batch))
            else:
                fake.advance(batch)
                self._send(200, anthropic_batch(batch, self))
            return
        if path.startswith("/v1/batches"):
            if len(parts) == 2:
                data = [openai_batch(b) for b in sorted(fake.created("openai"), key=lambda b: b.id, reverse=True)]
                self._send(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None, "has_more": False})  # fmt: skip
                return
            batch = fake.batches.get(parts[2])
            if batch is None:
                self._error(404, "no such batch", False)
                return
            fake.advance(batch)
            self._send(200, openai_batch(batch))
            return
        if path.startswith("/v1/files/"):
            file_id = parts[2]
            if file_id not in fake.files:
                self._error(404, "no such file", False)
            elif len(parts) == 4 and parts[3] == "content":
                self._send(200, None, raw=fake.files[file_id])
            else:
                self._send(200, file_object(file_id, fake.files[file_id]))
            return
        self._error(404, f"unknown path {path}", False)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        fake, body = self.fake, self._body()
        if path == "/fake/hold":
            fake.hold(bool(json.loads(body or b"{}").get("on", True)))
            self._send(200, fake.stats())
            return
        if path == "/v1/chat/completions" or path == "/v1/messages":
            provider = "openai" if path.endswith("completions") else "anthropic"
            with fake.lock:
                fake.sync_calls += 1
            reply, error = fake.answer(provider, json.loads(body))
            if reply is None:
                self._error(400, error or "failed", provider == "anthropic")
            else:
                self._send(200, reply)
            return
        if path == "/v1/files":
            fields = parse_multipart(self.headers["Content-Type"], body)
            content = fields["file"][1]
            with fake.lock:
                fake.uploads += 1
                file_id = f"file-{len(fake.files) + 1:05d}"
                fake.files[file_id] = content
            self._send(200, file_object(file_id, content, fields["file"][0] or "upload.jsonl"))
            return
        if path == "/v1/batches":
            request = json.loads(body)
            lines = [json.loads(line) for line in fake.files[request["input_file_id"]].splitlines() if line.strip()]
            batch = fake.new_batch("openai", lines, request["input_file_id"])
            batch_meta[batch.id] = request.get("metadata") or {}
            if batch.refused:
                self._error(int(batch.refused.split()[1]), "the fake refused this batch", False)
                return
            self._send(200, openai_batch(batch))
            return
        if path == "/v1/messages/batches":
            requests = json.loads(body)["requests"]
            if any(not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(r.get("custom_id"))) for r in requests):
                self._error(400, "custom_id must match ^[a-zA-Z0-9_-]{1,64}$", True)
                return
            batch = fake.new_batch("anthropic", requests)
            if batch.refused:
                self._error(int(batch.refused.split()[1]), "the fake refused this batch", True)
                return
            self._send(200, anthropic_batch(batch, self))
            return
        if parts[-1] == "cancel":
            batch = fake.batches.get(parts[-2])
            if batch is None:
                self._error(404, "no such batch", path.startswith("/v1/messages"))
                return
            with fake.lock:
                if batch.status in ("validating", "in_progress"):
                    batch.cancelled = True
                    batch.status = "cancelling"
            self._send(200, anthropic_batch(batch, self) if batch.provider == "anthropic" else openai_batch(batch))
            return
        self._error(404, f"unknown path {path}", False)


#: metadata sent with each OpenAI batch, by batch id
batch_meta: dict[str, dict[str, str]] = {}


def file_object(file_id: str, content: bytes, name: str = "batch.jsonl") -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
            "filename": name, "purpose": "batch", "status": "processed", "expires_at": None}  # fmt: skip


def openai_batch(batch: Batch) -> dict[str, Any]:
    ended = batch.status in ("completed", "expired", "cancelled")
    done = len(batch.done) if ended else 0
    return {
        "id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
        "input_file_id": batch.input_file_id, "completion_window": "24h", "status": batch.status,
        "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
        "created_at": int(batch.created), "in_progress_at": None, "expires_at": int(batch.created) + 86400,
        "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
        "cancelled_at": None, "metadata": batch_meta.get(batch.id) or None, "model": batch.model,
        "request_counts": {"total": len(batch.items), "completed": done, "failed": len(batch.failed) if ended else 0},
    }  # fmt: skip


def anthropic_batch(batch: Batch, handler: Handler) -> dict[str, Any]:
    ended = batch.status in ("completed", "expired", "cancelled")
    counts = {"processing": 0 if ended else len(batch.items), "succeeded": len(batch.done) if ended else 0,
              "errored": len(batch.failed) if ended else 0,
              "canceled": len(batch.not_run) if ended and batch.cancelled else 0,
              "expired": len(batch.not_run) if ended and not batch.cancelled else 0}  # fmt: skip
    host = handler.headers.get("Host") or f"127.0.0.1:{handler.server.server_address[1]}"
    return {
        "id": batch.id, "type": "message_batch", "processing_status": "ended" if ended else
        ("canceling" if batch.cancelled else "in_progress"), "request_counts": counts,
        "created_at": iso(batch.created), "expires_at": iso(batch.created + 86400),
        "ended_at": iso(time.time()) if ended else None, "archived_at": None,
        "cancel_initiated_at": iso(time.time()) if batch.cancelled else None,
        "results_url": f"http://{host}/v1/messages/batches/{batch.id}/results" if ended else None,
    }  # fmt: skip


def anthropic_results(batch: Batch) -> bytes:
    lines = [{"custom_id": d["custom_id"], "result": {"type": "succeeded", "message": d["body"]}} for d in batch.done]
    lines += [{"custom_id": f["custom_id"], "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "invalid_request_error", "message": f["error"]}, "request_id": None}}}
        for f in batch.failed]  # fmt: skip
    kind = "canceled" if batch.cancelled else "expired"
    lines += [{"custom_id": cid, "result": {"type": kind}} for cid in batch.not_run]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def query(path: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake batch provider until killed.")
    parser.parse_args(argv)
    with FakeBatch() as fake:
        print(f"PORT {fake.port}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.exit(0)


if __name__ == "__main__":
    main()
