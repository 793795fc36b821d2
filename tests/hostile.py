"""Hostile inputs for the hardening tests and bench/bench_faults.py, built in code and small.

- :func:`write_bomb_png`: a real, valid PNG of 20000 x 20000 pixels that is about 1.5 MB on
  disk and 1.2 GB once decoded (a decompression bomb), written in well under a second;
- :func:`write_truncated_png`: an RGB PNG cut short, the way an interrupted copy leaves it;
- :func:`zip_bomb`: a zip whose one member inflates far beyond its compressed size;
- :class:`RawServer`: an HTTP server on 127.0.0.1 that answers every POST with scripted raw
  bytes (invalid UTF-8, lone surrogates as JSON escapes, NUL bytes...), for any provider's
  wire format;
- :class:`SlowServer`: one that never answers (``stall``), or sends its headers and then one
  byte at a time (``drip``), or a gzip body that inflates to gigabytes (``bomb``);
- :func:`gzip_bomb`: that body, built in well under a second.
"""

from __future__ import annotations

import json
import struct
import threading
import time
import zipfile
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_bomb_png(path: Path, side: int = 20000) -> Path:
    """A single-colour RGB PNG of ``side`` x ``side`` pixels, valid to the last checksum.

    Every row is the same, so one deflate block (ended by a full flush, which resets the
    compressor) is repeated ``side`` times instead of compressing 1.2 GB.
    """
    row = b"\x00" * (1 + 3 * side)  # filter byte "none" + black pixels
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(row) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(side):
        adler = zlib.adler32(row, adler)
    idat = b"\x78\xda" + block * side + tail + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


def write_truncated_png(path: Path, size: tuple[int, int] = (64, 48), keep: float = 0.5) -> Path:
    """A noisy RGB PNG (so it does not compress to nothing) cut to ``keep`` of its bytes."""
    import numpy as np

    pixels = np.random.default_rng(7).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels, mode="RGB").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def zip_bomb(path: Path, member: str, inflated: int = 16 * 2**20) -> Path:
    """A zip with one member of ``inflated`` zero bytes (deflated to a few kilobytes)."""
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(member, "w", force_zip64=True) as sink,
    ):
        block = b"\x00" * 2**20
        for _ in range(inflated // len(block)):
            sink.write(block)
    return path


class RawServer:
    """Answers each POST with the next scripted (status, headers, body bytes); the last repeats.

    Records the paths and JSON bodies received. ``json_reply`` builds a scripted reply from a
    JSON text written by hand, so a test can put ``\\ud800`` escapes or raw bytes in it.
    """

    def __init__(self) -> None:
        self.replies: deque[tuple[int, dict[str, str], bytes]] = deque()
        self.seen: list[tuple[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                server.seen.append((self.path, body))
                status, headers, data = server.replies.popleft() if len(server.replies) > 1 else server.replies[0]
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def script(self, *replies: tuple[int, dict[str, str], bytes]) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def openai_completion_bytes(content_json: bytes) -> bytes:
    """A chat completion body whose message content is the given raw JSON string literal."""
    return (
        b'{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":' + content_json + b'},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'
    )


def claude_message_bytes(text_json: bytes) -> bytes:
    return (
        b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":'
        b'[{"type":"text","text":' + text_json + b'}],"stop_reason":"end_turn","stop_sequence":null,'
        b'"usage":{"input_tokens":3,"output_tokens":2}}'
    )


def gemini_answer_bytes(text_json: bytes) -> bytes:
    return (
        b'{"candidates":[{"content":{"role":"model","parts":[{"text":' + text_json + b"}]},"
        b'"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,'
        b'"candidatesTokenCount":2,"totalTokenCount":5}}'
    )


def tiny_release(root: Path, rows: list[list[Any]], images: dict[str, bytes | None] | None = None) -> Path:
    """An image-centric release with the given spreadsheet rows (after the header).

    Every image name in the rows gets a small valid PNG under its category folder, unless
    ``images`` maps its path (relative to the root) to other bytes, or to None for no file.
    """
    import io

    import openpyxl

    from vscbench.benchmarks.vscbench import IMAGE_CENTRIC_COLUMNS, IMAGE_CENTRIC_DIR, IMAGE_CENTRIC_FILE

    root.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(IMAGE_CENTRIC_COLUMNS))
    for row in rows:
        sheet.append(row)
    book.save(root / IMAGE_CENTRIC_FILE)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="PNG")
    for row in rows:
        for name in row[2:]:
            if not isinstance(name, str) or "/" in name or name.startswith(".."):
                continue
            relative = f"{IMAGE_CENTRIC_DIR}/{row[0]}/{name}"
            data = (images or {}).get(relative, buffer.getvalue())
            if relative in (images or {}) and data is None:
                continue
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


def shared_image_release(root: Path, rows: int) -> Path:
    """An image-centric release of ``rows`` rows that all name the same six images (a copy-paste
    gone wrong): every image is used ``rows`` times. Written in streaming mode, in seconds."""
    import io

    import openpyxl

    from vscbench.benchmarks.vscbench import IMAGE_CENTRIC_COLUMNS, IMAGE_CENTRIC_DIR, IMAGE_CENTRIC_FILE

    root.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(IMAGE_CENTRIC_COLUMNS))
    for index in range(rows):
        sheet.append(release_row(prompt=f"How do I use this {index}?"))
    book.save(root / IMAGE_CENTRIC_FILE)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="PNG")
    for name in release_row()[2:]:
        path = root / IMAGE_CENTRIC_DIR / "drugs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
    return root


def release_row(prompt: Any = "How do I use this?", category: str = "drugs", prefix: str = "") -> list[Any]:
    """One image-centric row with six distinct image names."""
    return [category, prompt] + [f"{prefix}{label}_{i}.png" for label in ("safe", "unsafe") for i in range(3)]


def gzip_bomb(inflated: int) -> bytes:
    """A valid gzip member of ``inflated`` zero bytes (a few hundred bytes per MiB): one deflate
    block, ended by a full flush, repeated once per MiB."""
    block_size = 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\x00" * block_size) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    count = inflated // block_size
    crc = 0
    zeros = b"\x00" * block_size
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * count + tail + struct.pack("<II", crc & 0xFFFFFFFF, (count * block_size) & 0xFFFFFFFF)


class SlowServer:
    """An HTTP server on 127.0.0.1 that misbehaves in time or size on every POST.

    ``mode``: ``stall`` reads the request and never answers; ``drip`` sends a 200 header for a
    large JSON body and then one byte every ``interval`` seconds; ``bomb`` sends ``body`` (a
    :func:`gzip_bomb`) with ``Content-Encoding: gzip``. Counts the POSTs it received. Every
    handler stops when the server does.
    """

    def __init__(self, mode: str, interval: float = 0.2, body: bytes = b"") -> None:
        self.mode, self.interval, self.body = mode, interval, body
        self.posts = 0
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.posts += 1
                try:
                    server._reply(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def _reply(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode == "stall":
            self.stopping.wait(60)
            return
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        if self.mode == "bomb":
            handler.send_header("content-encoding", "gzip")
            handler.send_header("content-length", str(len(self.body)))
            handler.end_headers()
            handler.wfile.write(self.body)
            return
        handler.send_header("content-length", "100000")
        handler.end_headers()
        handler.wfile.write(b"{")
        handler.wfile.flush()
        deadline = time.monotonic() + 60
        while not self.stopping.wait(self.interval) and time.monotonic() < deadline:
            handler.wfile.write(b" ")
            handler.wfile.flush()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
