"""What every HTTP backend needs beyond its SDK: reasons in words, server waits, safe replies.

The provider SDKs (openai, anthropic, google-genai) retry and parse; they do not say in words
why a connection failed (a reset reads ``ReadError:`` with nothing after it), they give up on a
long ``Retry-After`` without saying how long the server asked to wait, and one invalid UTF-8
byte in a reply body makes them throw the whole answer away. This module fills those gaps for
every backend alike:

- :func:`connection_reason` -- "connection reset by server", "the server closed the connection
  without replying", "could not connect (connection refused)"...;
- :class:`CallLog` (one per call, through a context variable) and :func:`event_hooks` -- the
  HTTP attempts of a call and the waits servers asked for, and a stop to the SDK's retries when a
  server asks to wait longer than the call may (``x-should-retry: false``, which the SDKs obey);
- :func:`public_url` and :func:`url_query` -- a base URL as it may be shown and stored (no
  ``user:password@``, no secret query parameter such as ``?api-key=``), and the query the
  client must add to each request instead of appending the API path after it;
- :func:`strip_credentials` -- any text with credentials removed, so they never reach a
  store, a run name or a log. (:mod:`vscbench.models.transport` builds the SDKs' HTTP client.)
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import errno
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vscbench.safe_text import is_secret_name, redact_secrets, repair


@dataclass
class CallLog:
    """What the HTTP layer saw during one backend call (all its SDK retries)."""

    max_wait_s: float | None = None
    attempts: int = 0
    waits_asked: list[float] = field(default_factory=list)
    refused_wait: float | None = None
    """A wait the server asked for that was longer than ``max_wait_s`` (no retry was made)."""
    repairs: list[str] = field(default_factory=list)

    def note(self, generation_text: str | None) -> tuple[str | None, str | None]:
        """The answer text made storable (:func:`vscbench.safe_text.repair`), and one note on
        every repair made to the reply, or None."""
        text, note = repair(generation_text)
        notes = self.repairs + ([note] if note else [])
        return text, "; ".join(notes) if notes else None

    def wait_reason(self) -> str:
        """Words on the waits servers asked for, for an error reason ('' when none)."""
        if self.refused_wait is not None:
            return (
                f"; the server asked to wait {self.refused_wait:g} s before a retry (Retry-After), longer than "
                f"the {self.max_wait_s:g} s this call may wait, so it was not retried: run again later, or with "
                "lower --concurrency"
            )
        if self.waits_asked:
            return f"; the server asked to wait {self.waits_asked[-1]:g} s (Retry-After)"
        return ""


_current: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar("vscbench_http_call", default=None)


def current_call_log() -> CallLog | None:
    """The call log of the backend call this task is making, if any."""
    return _current.get()


@contextlib.contextmanager
def call_log(max_wait_s: float | None = None) -> Iterator[CallLog]:
    """A fresh :class:`CallLog` for the requests made inside the block (in this task)."""
    log = CallLog(max_wait_s=max_wait_s)
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a reply asks for: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return float(millis) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


async def _on_request(request: Any) -> None:
    log = _current.get()
    if log is not None:
        log.attempts += 1


async def _on_response(response: Any) -> None:
    log = _current.get()
    if log is None or response.status_code not in (429, 503, 529):
        return
    wait = retry_after_seconds(response.headers)
    if wait is None:
        return
    log.waits_asked.append(wait)
    if log.max_wait_s is not None and wait > log.max_wait_s:
        log.refused_wait = wait
        response.headers["x-should-retry"] = "false"  # the SDK would wait, or give up unsaid


def event_hooks() -> dict[str, list[Any]]:
    """httpx event hooks that fill the current :class:`CallLog`."""
    return {"request": [_on_request], "response": [_on_response]}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_reason(exc: BaseException) -> str:
    """Why a connection failed, in words (the type name kept in brackets for searching)."""
    chain = _chain(exc)
    names = [type(e).__name__ for e in chain]
    texts = " ".join(str(e) for e in chain).lower()
    first = next((name for name in names if not name.startswith("API")), names[0])  # past the SDK's wrapper
    refused = next((e for e in chain if type(e).__name__ in ("ReplyTooLarge", "ReplyRefused")), None)
    if refused is not None:  # raised by vscbench.models.transport: its message says it all
        return f"{refused} ({type(refused).__name__})"
    if any(isinstance(e, ConnectionResetError) or getattr(e, "errno", None) == errno.ECONNRESET for e in chain) or (
        "reset by peer" in texts
    ):
        return f"connection reset by server ({first})"
    if "RemoteProtocolError" in names and "without sending a response" in texts:
        return f"the server closed the connection without replying ({first})"
    if "RemoteProtocolError" in names or "ServerDisconnectedError" in names:
        return f"the server closed the connection mid-reply ({first}: {chain[-1]})"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in texts:
        return f"could not connect: connection refused ({first})"
    if "ConnectError" in names or "ClientConnectorError" in names:
        return f"could not connect to the server: nothing answered at that address ({first})"
    if any("Timeout" in name for name in names):
        return f"timed out ({first})"
    if "ReadError" in names or "WriteError" in names:
        return f"the connection broke while {'reading the reply' if 'ReadError' in names else 'sending'} ({first})"
    detail = str(chain[-1]).strip()
    return f"{first}: {detail}" if detail else first


def strip_credentials(text: str, known: tuple[str | None, ...] = ()) -> str:
    """``text`` with every credential removed: the ``known`` secrets (the API key in use), the
    ``user:password@`` and secret query parameters of URLs, and anything shaped like a key
    (:func:`vscbench.safe_text.redact_secrets`)."""
    return redact_secrets(text, known)


def split_credentials(url: str) -> tuple[str, bool]:
    """``(url without user:password@ and secret query parameters, whether it had any)``."""
    clean = public_url(url)
    return clean, clean != url


def public_url(url: str) -> str:
    """``url`` as it may be shown, stored and keyed: without ``user:password@`` and without the
    query parameters that hold a credential (``api-key``, ``key``, ``token``, ``sig``...); other
    parameters (``api-version``) stay, since they choose what the server does."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _secret_param(k)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def _secret_param(name: str) -> bool:
    return is_secret_name(name) or name.lower() in ("key", "code", "sig", "sas")


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a URL (its ``user:password`` and the values of its secret query
    parameters), for redacting them from text that quotes them in another form."""
    if not url:
        return []
    secrets: list[str] = []
    for one in url.split(","):
        parts = urlsplit(one)
        userinfo = parts.netloc.rpartition("@")[0]
        secrets += [userinfo, *userinfo.split(":")] if userinfo else []
        secrets += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _secret_param(k) and v]
    return secrets


def url_query(url: str | None) -> tuple[str | None, list[tuple[str, str]]]:
    """``(url without its query, the query's parameters)``: the SDKs append their API path to a
    base URL, so a query must travel as parameters of each request instead."""
    if not url:
        return url, []
    parts = urlsplit(url)
    if not parts.query:
        return url, []
    return urlunsplit(parts._replace(query="", fragment="")), parse_qsl(parts.query, keep_blank_values=True)
