"""Resumable, verified HTTP downloads, including Google Drive's confirmation pages.

A download goes to ``NAME.part`` and is renamed only once complete and verified, so an
interrupted run leaves nothing that looks finished; the next run asks the server for the missing
bytes only (``Range``). Google Drive answers a large file's first request with an HTML page
instead of the file; that page's form (or link) is followed as a browser would.

Resuming never splices unknown bytes into a file. Beside ``NAME.part`` a record
(``NAME.part.json``) says which URL its bytes came from, the server's validator (ETag or
Last-Modified, sent back as ``If-Range`` so a changed file is sent whole) and the sha256 of
the bytes written so far, checkpointed every 16 MiB and at the end of every attempt. A part
without a record, or whose bytes no longer match it (a flipped bit, a tail of zeros left by a
crash), is started over. A body cut short is retried and, when it still is, reported as
truncated, also when the server sent no Content-Length (then a zip's missing end shows it).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vscbench.fetch.partial import Partial, truncated_zip, validator_of
from vscbench.images import file_sha256

log = logging.getLogger(__name__)

_MAX_CONFIRM_PAGES = 3


class FetchError(RuntimeError):
    """A download or extraction that cannot go on. The message names the URL or file and what to do."""


class ChecksumError(FetchError):
    """A complete download whose sha256 is not the expected one; the file has been deleted."""


class _Retryable(Exception):
    """A failure worth another attempt: a server error or an answer cut short."""


# --------------------------------------------------------------------------- confirmation pages


class _FormsAndLinks(HTMLParser):
    """Collects forms (action, hidden and named inputs) and link targets from an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self._form: tuple[str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = (values.get("action", ""), {})
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and values.get("name"):
            if values.get("type", "text").lower() not in ("submit", "button", "image"):
                self._form[1][values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def confirmation_url(page: str, base_url: str) -> str | None:
    """The URL a download-confirmation page leads to, or None when the page offers none.

    A form carrying a ``confirm`` input (current Google Drive, posting to
    drive.usercontent.google.com/download) is preferred; a link with ``confirm=`` in its query
    (older Drive pages) comes next. Query parameters already in the form's action are kept.
    """
    parser = _FormsAndLinks()
    parser.feed(page)
    for action, inputs in parser.forms:
        if "confirm" in inputs or "download" in action:
            parts = urlsplit(urljoin(base_url, action or base_url))
            query = dict(parse_qsl(parts.query))
            query.update(inputs)
            return urlunsplit(parts._replace(query=urlencode(query)))
    for href in parser.links:
        if "confirm=" in href:
            return urljoin(base_url, href)
    return None


# --------------------------------------------------------------------------- downloads


def _looks_like_html(response: httpx.Response, first_bytes: bytes) -> bool:
    head = first_bytes.lstrip()[:64].lower()
    return "text/html" in response.headers.get("content-type", "") or head.startswith((b"<!doctype html", b"<html"))


def _range_start_and_total(header: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/200`` -> (100, 200); ``bytes */200`` -> (None, 200)."""
    if not header or not header.startswith("bytes "):
        return None, None
    span, _, total = header[6:].partition("/")
    start = int(span.split("-")[0]) if span and span != "*" else None
    return start, int(total) if total.isdigit() else None


def _http_error(response: httpx.Response, url: str) -> FetchError:
    status = response.status_code
    advice = {
        401: "the server wants credentials; check the URL",
        403: "access is denied; the file may be private, or Google Drive's daily quota is used up "
        "(try again later, or download it in a browser and pass the file's path as the URL)",
        404: "the file is not there; check the URL (options --image-centric-url, --text-centric-url, "
        "--images-url or their VSCBENCH_*_URL variables)",
        429: "too many requests; wait a while and run the command again",
    }.get(status, "run the command again later; if it keeps failing, check the URL")
    return FetchError(f"HTTP {status} {response.reason_phrase} for {url}: {advice}.")


def _stream_once(
    client: httpx.Client, url: str, partial: Partial, progress: Progress, task: TaskID, expect_zip: bool = False
) -> str:
    """One attempt: fetch what the part still misses. Returns the URL that finally served the file."""
    part = partial.path
    for _ in range(_MAX_CONFIRM_PAGES + 1):
        offset = partial.length
        # identity encoding: byte ranges must count bytes of the file, not of a compressed stream
        headers = {"Accept-Encoding": "identity"} | ({"Range": f"bytes={offset}-"} if offset else {})
        if offset and partial.validator:
            headers["If-Range"] = partial.validator  # a changed file comes back whole (200), not spliced
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:
                _, total = _range_start_and_total(response.headers.get("content-range"))
                if total == offset:
                    progress.update(task, total=offset, completed=offset)
                    return url
                partial.reset()  # the partial file is longer than the file: start over
                continue
            if response.status_code in (429, 500, 502, 503, 504):
                raise _Retryable(str(_http_error(response, url)))
            if response.status_code >= 400:
                raise _http_error(response, url)
            chunks = response.iter_bytes()  # as received: a re-chunking buffer would be lost on a drop
            first = next(chunks, b"")
            if _looks_like_html(response, first):
                page = (first + b"".join(chunks)).decode("utf-8", errors="replace")
                next_url = confirmation_url(page, str(response.url))
                if next_url is None:
                    raise FetchError(
                        f"{url} answered with a web page, not the file, and the page has no download "
                        "link (Google Drive shows such a page when its download quota is used up). "
                        "Download the file in a browser and pass its local path as the URL."
                    )
                log.info("following download confirmation page to %s", next_url)
                url = next_url
                continue
            total = None
            if response.status_code == 206:
                start, total = _range_start_and_total(response.headers.get("content-range"))
                if start != offset:
                    partial.reset()  # a server that miscounts ranges: the next attempt starts over
                    raise _Retryable(f"{url} sent bytes from {start}, not from {offset} as asked")
                mode = "ab"
            else:
                partial.reset()  # the server ignored the Range header, or the file changed: start over
                offset, mode = 0, "wb"
                partial.validator = validator_of(response)
            length = response.headers.get("content-length")
            expected = offset + int(length) if length and length.isdigit() else total
            progress.update(task, total=expected, completed=offset)
            with open(part, mode) as handle:
                try:
                    for chunk in _chain(first, chunks):
                        partial.append(handle, chunk)
                        progress.advance(task, len(chunk))
                finally:  # however the attempt ends, the record vouches for what was written
                    handle.flush()
                    partial.save()
            if expected is not None and partial.length < expected:
                raise _Retryable(f"{url} closed the connection after {partial.length:,} of {expected:,} bytes")
            if expected is None and expect_zip and truncated_zip(part):
                raise _Retryable(
                    f"the download was truncated: {url} stopped after {partial.length:,} bytes, with no "
                    "Content-Length to tell the file's size, and the zip it sent has no end"
                )
            return url
    raise FetchError(f"{url} kept answering with confirmation pages; download the file in a browser instead.")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _local_path(url: str) -> Path | None:
    """A URL that names a file on this machine (``file://`` or a plain path), else None."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(parts.path)
    if parts.scheme in ("http", "https"):
        return None
    return Path(url).expanduser()


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    client: httpx.Client | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    show_progress: bool = True,
    expect_zip: bool = False,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present; verify; rename atomically.

    Connection errors and server errors are retried ``retries`` times with exponential backoff,
    each retry resuming where the last stopped. A checksum mismatch deletes the file and raises
    :class:`ChecksumError`; ``expect_zip`` refuses an answer that is not a zip (an error page).
    """
    target = Path(dest)
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    local = _local_path(url)
    partial = Partial(part, url)
    if local is not None:
        if not local.is_file():
            raise FetchError(f"{local} does not exist; give a URL (http/https) or the path of a downloaded file.")
        partial.reset()
        shutil.copyfile(local, part)
    else:
        partial = Partial.resume(part, url)
        own_client = client is None
        if client is None:
            client = httpx.Client(
                follow_redirects=True,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 20.0)),
                headers={"User-Agent": "vscbench-fetch"},
            )
        columns = (
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(),
        )  # fmt: skip
        try:
            with Progress(*columns, console=Console(stderr=True), disable=not show_progress) as progress:
                task = progress.add_task(target.name, total=None)
                for attempt in range(retries + 1):
                    try:
                        url = _stream_once(client, url, partial, progress, task, expect_zip)
                        break
                    except (httpx.TransportError, _Retryable) as exc:
                        reason = _transport_reason(exc, partial)
                        if attempt == retries:
                            raise FetchError(
                                f"could not download {url} after {retries + 1} attempts ({reason}). Check the "
                                f"connection and run the same command again: it resumes from {part}."
                            ) from exc
                        log.warning("download of %s interrupted (%s); retrying", url, reason)
                        time.sleep(backoff * 2**attempt)
        finally:
            if own_client:
                client.close()
    if expect_zip and not zipfile.is_zipfile(part):
        partial.reset()
        raise FetchError(f"{url} did not send a zip file (xlsx and the image archive are zips); check the URL.")
    if sha256:
        actual = file_sha256(part)
        if actual.lower() != sha256.lower():
            partial.reset()
            raise ChecksumError(
                f"{target.name} from {url} has sha256 {actual}, expected {sha256}; the download was "
                f"deleted. Run the command again; if the upstream file changed on purpose, pass its "
                f"checksum with --sha256 {target.name}=HEX."
            )
    _publish(partial, target)
    return target


def _publish(partial: Partial, target: Path) -> None:
    """Give the complete, verified part its final name; its record is no longer needed."""
    os.replace(partial.path, target)
    partial.record.unlink(missing_ok=True)


def _transport_reason(exc: Exception, partial: Partial) -> str:
    """Why an attempt failed, in words: a body cut short says it was truncated."""
    if isinstance(exc, httpx.RemoteProtocolError) and "message body" in str(exc).lower():
        return (f"the download was truncated: the server closed the connection after {partial.length:,} bytes, "
                f"before the end of the file ({exc})")  # fmt: skip
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text and not isinstance(exc, _Retryable) else (text or type(exc).__name__)
