"""The HTTP client under every API backend's SDK: bounded replies, a deadline per attempt, text
that parses, and a base URL's query kept out of the path.

The SDKs (openai, anthropic, google-genai) each drive an httpx-style ``AsyncClient`` (``httpx``
or its fork ``httpx2``, whichever the installed SDK is built on) and read every reply whole.
Left alone, that client:

- waits as long as bytes keep coming: its timeouts are per read, so a server that sends one byte
  every few seconds holds a call for ever;
- inflates a gzip reply without limit: 1.5 MB on the wire can become 1.5 GB in memory;
- hands the SDK bytes that are not UTF-8, and the SDK throws the whole answer away;
- appends the API path after a base URL's query (``/v1?api-key=K`` + ``/chat/completions``).

:func:`guarded_client` builds the SDK's client class with ``send`` wrapped, so whichever way the
SDK sends (streamed or not), each attempt's reply is read here: within ``deadline_s`` seconds
from the request (else the flavour's ``ReadTimeout``, which the SDK retries and then reports as a
timeout), decompressed here in chunks up to :data:`MAX_REPLY_BYTES` (else :class:`ReplyTooLarge`),
its invalid UTF-8 replaced by U+FFFD (noted in the call's :class:`~vscbench.models.http.CallLog`),
and the base URL's query parameters added to every request's own query.
"""

from __future__ import annotations

import asyncio
import importlib
import zlib
from collections.abc import Sequence
from typing import Any

from vscbench.models.http import current_call_log, event_hooks

#: The most bytes a reply may hold once decompressed. Answers and judge verdicts are kilobytes;
#: this leaves room for the longest, and keeps a compressed bomb from taking the machine.
MAX_REPLY_BYTES = 16 * 2**20

#: Content encodings decoded here (and the only ones asked for).
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

#: Replies whose body is text for the SDK to parse (their invalid UTF-8 is repaired).
_TEXT_TYPES = ("json", "text/")


class ReplyTooLarge(Exception):
    """A reply body past :data:`MAX_REPLY_BYTES` once decompressed; the call fails, named."""


class ReplyRefused(Exception):
    """A reply the client cannot read safely (an encoding it did not ask for)."""


class _Body:
    """Bytes of one reply body as they are decoded, refused past ``limit``."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.encoding = encoding
        steps = [step.strip().lower() for step in encoding.split(",") if step.strip() not in ("", "identity")]
        if len(steps) > 1 or (steps and steps[0] not in _DECODERS):
            raise ReplyRefused(f"the reply is in content-encoding {encoding!r}, which was not asked for")
        self._inflater = zlib.decompressobj(_DECODERS[steps[0]]) if steps else None
        self._raw_deflate = steps == ["deflate"]

    def _append(self, piece: bytes) -> None:
        self.data += piece
        if len(self.data) > self.limit:
            raise ReplyTooLarge(f"the reply is larger than {self.limit // 2**20} MiB once decompressed; refused")

    def feed(self, chunk: bytes) -> None:
        if self._inflater is None:
            self._append(chunk)
            return
        try:
            pending = chunk
            while pending:
                self._append(self._inflater.decompress(pending, self.limit - len(self.data) + 1))
                pending = self._inflater.unconsumed_tail
        except zlib.error:
            if not (self._raw_deflate and not self.data):
                raise
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # deflate without its zlib header
            self._raw_deflate = False
            self.feed(chunk)

    def finish(self) -> bytes:
        if self._inflater is not None:
            self._append(self._inflater.flush())
        return bytes(self.data)


def _repaired(body: bytes, content_type: str) -> bytes:
    """``body`` as valid UTF-8 when it is text for the SDK to parse, with the repair noted."""
    if not any(kind in content_type for kind in _TEXT_TYPES):
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - body.count("\ufffd".encode())
    log = current_call_log()
    if log is not None:
        log.repairs.append(f"reply body repaired: {replaced} invalid UTF-8 sequence(s) replaced by U+FFFD")
    return text.encode("utf-8")


def _flavour(base: type) -> str:
    """The httpx flavour (``httpx`` or ``httpx2``) a client class is built on."""
    for cls in base.__mro__:
        root = cls.__module__.split(".")[0]
        if root.startswith("httpx"):
            return root
    raise TypeError(f"{base.__name__} is not an httpx client class")


def guarded_client(
    base: type,
    *,
    deadline_s: float,
    extra_query: Sequence[tuple[str, str]] = (),
    max_reply_bytes: int = MAX_REPLY_BYTES,
    **options: Any,
) -> Any:
    """An instance of ``base`` (an SDK's httpx-style ``AsyncClient`` class) whose every reply is
    read within ``deadline_s`` seconds of its request, decoded into at most ``max_reply_bytes``,
    and repaired to UTF-8; ``extra_query`` is added to every request's query. The call-log
    event hooks are installed unless ``options`` names its own."""
    flavour = importlib.import_module(_flavour(base))

    class GuardedClient(base):
        async def send(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
            if extra_query:
                request.url = request.url.copy_merge_params(list(extra_query))
            request.headers["accept-encoding"] = "gzip, deflate"
            try:
                async with asyncio.timeout(deadline_s):
                    response = await super().send(request, stream=True, **kwargs)
                    try:
                        body = _Body(response.headers.get("content-encoding", ""), max_reply_bytes)
                        async for chunk in response.aiter_raw():
                            body.feed(chunk)
                        content = body.finish()
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise flavour.ReadTimeout(f"no complete reply within {deadline_s:g} s", request=request) from None
            except (ReplyTooLarge, ReplyRefused) as exc:  # as the SDK expects a transport failure to look
                raise flavour.DecodingError(str(exc), request=request) from exc
            content = _repaired(content, response.headers.get("content-type", ""))
            dropped = ("content-encoding", "content-length", "transfer-encoding")
            headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
            return flavour.Response(
                response.status_code, headers=headers, content=content, request=request,
                extensions=response.extensions, history=list(response.history),
            )  # fmt: skip

    GuardedClient.__name__ = f"Guarded{base.__name__}"
    options.setdefault("event_hooks", event_hooks())
    return GuardedClient(**options)
