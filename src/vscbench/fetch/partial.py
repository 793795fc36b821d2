"""A download's ``NAME.part`` and its record: which URL its bytes came from, the server's
validator, and the sha256 of the bytes written so far (checkpointed every 16 MiB and at the end
of every attempt). A part whose bytes no longer match their record, or that has none, is
started over instead of being spliced into the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("vscbench.fetch.download")

#: The record of a ``NAME.part`` is ``NAME.part`` + this suffix.
RECORD_SUFFIX = ".json"
#: How often (in bytes written) the record of a part is brought up to date.
_CHECKPOINT_BYTES = 16 * 2**20


@dataclass
class Partial:
    """A ``.part`` file and what is known of its bytes: where they came from, the server's
    validator, and a running sha256 over them, saved as a record beside the file."""

    path: Path
    url: str
    hasher: Any = field(default_factory=hashlib.sha256)
    length: int = 0
    validator: str | None = None
    unsaved: int = 0

    @property
    def record(self) -> Path:
        return self.path.with_name(self.path.name + RECORD_SUFFIX)

    def reset(self) -> None:
        """Forget every byte: the next write starts the file over."""
        self.path.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)
        self.hasher, self.length, self.validator, self.unsaved = hashlib.sha256(), 0, None, 0

    def save(self) -> None:
        record = {"url": self.url, "validator": self.validator, "length": self.length,
                  "sha256": self.hasher.hexdigest()}  # fmt: skip
        tmp = self.record.with_name(self.record.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.record)
        self.unsaved = 0

    def append(self, handle: Any, chunk: bytes) -> None:
        handle.write(chunk)
        self.hasher.update(chunk)
        self.length += len(chunk)
        self.unsaved += len(chunk)
        if self.unsaved >= _CHECKPOINT_BYTES:
            handle.flush()  # the record never vouches for bytes still in a buffer
            self.save()

    @classmethod
    def resume(cls, path: Path, url: str) -> Partial:
        """The part as an earlier run left it, checked against its record; started over (with
        a warning) when there is no record, it names another URL, or the bytes do not match."""
        partial = cls(path, url)
        if not path.exists():
            partial.record.unlink(missing_ok=True)
            return partial
        try:
            record = json.loads(partial.record.read_text())
            length, expected = int(record["length"]), str(record["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            record, length, expected = None, 0, ""
        reason = None
        if record is None or record.get("url") != url:
            reason = "there is no record of where its bytes came from"
        elif path.stat().st_size < length:
            reason = "it is shorter than its record says"
        else:
            with open(path, "rb") as handle:
                left = length
                while left and (block := handle.read(min(left, 1 << 20))):
                    partial.hasher.update(block)
                    left -= len(block)
            if partial.hasher.hexdigest() != expected:
                reason = "its bytes do not match their record (the file is corrupt)"
        if reason:
            log.warning("%s: %s; downloading it again from the start", path, reason)
            partial.reset()
            return partial
        os.truncate(path, length)  # bytes past the last checkpoint are not vouched for
        partial.length, partial.validator = length, record.get("validator")
        return partial


def validator_of(response: httpx.Response) -> str | None:
    """A validator ``If-Range`` accepts: a strong ETag, else Last-Modified."""
    etag = response.headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("last-modified")


def truncated_zip(path: Path) -> bool:
    """A file that starts like a zip but lacks a zip's end (its central directory)."""
    with open(path, "rb") as handle:
        starts_like_zip = handle.read(4) == b"PK\x03\x04"
    return starts_like_zip and not zipfile.is_zipfile(path)
