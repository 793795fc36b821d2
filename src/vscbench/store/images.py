"""The ``image_hashes`` table: each image file's sha256 by path, size and modification time, so
a re-run hashes only the images that changed."""

from __future__ import annotations

from collections.abc import Iterable

from vscbench.store.database import Database

ImageHashRow = tuple[str, int, int, str]
"""(path, mtime_ns, size, sha256)"""


class ImageHashes:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[ImageHashRow]:
        rows: list[ImageHashRow] = self.db.query("SELECT path, mtime_ns, size, sha256 FROM image_hashes")
        return rows

    def put(self, entries: Iterable[ImageHashRow]) -> None:
        rows = list(entries)
        if rows:
            with self.db.write() as db:
                db.executemany("INSERT OR REPLACE INTO image_hashes VALUES (?, ?, ?, ?)", rows)
