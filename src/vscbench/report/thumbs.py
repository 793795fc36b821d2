"""Small JPEG thumbnails for the HTML report, one per distinct image, shared by every run.

Five runs over the same 4,050 samples show the same images: a thumbnail is made once per image
*content* (the SHA-256 of the file, as in the request cache keys), so duplicates inside the
benchmark and the same sample in several runs all point at one embedded copy. Files are hashed
through :class:`~vscbench.engine.requests.ImageHashCache` (seeded from the store, so a stored run's
images are usually not read twice) and decoded in worker threads (Pillow releases the GIL while
decoding), with a progress callback for long reports; a cache folder keyed by content hash lets
the next report skip decoding altogether.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from vscbench.engine.requests import ImageHashCache
from vscbench.images import load_rgb

Progress = Callable[[int, int], None]
"""Called with (done, total) as thumbnails are made."""

DEFAULT_SIDE = 80
"""Side of a square thumbnail in pixels: readable in a table row, ~2 KB as JPEG. A thumbnail
has the area of this square, not its longest side: a typography image (1024 x 146) becomes
212 x 30, whose text can be read, not 80 x 11."""

#: Longest side of any thumbnail, however wide or tall the image.
_MOST_STRETCH = 3


def _longest_side(path: str | Path, side: int) -> int:
    """The longest side that gives the image the area of a ``side`` x ``side`` square (at most
    :data:`_MOST_STRETCH` times ``side``). Reads the header only."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
    if width <= 0 or height <= 0:
        return side
    longest = max(width, height) * (side * side / (width * height)) ** 0.5
    return max(side, min(round(longest), _MOST_STRETCH * side))


def thumbnail_jpeg(path: str | Path, max_side: int = DEFAULT_SIDE, quality: int = 70) -> bytes | None:
    """A small JPEG of the image, of the area of a ``max_side`` square (its longest side longer
    for a wide or tall image); ``None`` when the file is missing or unreadable."""
    try:
        image = load_rgb(path, max_side=_longest_side(path, max_side))
    except (OSError, ValueError):
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def thumbnail_data_url(path: str | Path, max_side: int = DEFAULT_SIDE, quality: int = 70) -> str | None:
    """A small JPEG of the image as a ``data:`` URL; ``None`` when the file is missing or unreadable."""
    jpeg = thumbnail_jpeg(path, max_side, quality)
    return None if jpeg is None else _data_url(jpeg)


def _cached_jpeg(path: str, digest: str, max_side: int, cache_dir: Path | None) -> bytes | None:
    """The thumbnail of one image, read from ``cache_dir`` when an earlier report made it (the
    file name is the content hash, so a changed image never reuses a stale thumbnail)."""
    cached = cache_dir / digest[:2] / f"{digest}-area{max_side}.jpg" if cache_dir else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    jpeg = thumbnail_jpeg(path, max_side)
    if cached is not None and jpeg is not None:
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.part")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(jpeg)
            os.replace(partial, cached)  # never a half-written thumbnail, even with two reports at once
        except OSError:
            pass  # a read-only cache folder only costs speed
    return jpeg


@dataclass
class ThumbnailSet:
    """Thumbnails by image file: :meth:`index` gives a path's position in :attr:`urls`, or ``None``.

    Paths whose files have the same content share one position.
    """

    urls: list[str] = field(default_factory=list)
    by_path: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def index(self, path: str | os.PathLike[str] | None) -> int | None:
        return None if path is None else self.by_path.get(os.fspath(path))

    @property
    def total_bytes(self) -> int:
        return sum(len(url) for url in self.urls)


def _hash(cache: ImageHashCache, path: str) -> str | None:
    try:
        return cache.sha256(path)
    except OSError:
        return None


def build_thumbnails(
    paths: Iterable[str | os.PathLike[str]],
    max_side: int = DEFAULT_SIDE,
    hashes: ImageHashCache | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ThumbnailSet:
    """One thumbnail per distinct image content among ``paths`` (missing files are listed in
    :attr:`ThumbnailSet.unreadable`, not raised: a report of a run whose data folder moved is
    still worth having). With ``cache_dir``, thumbnails made once are reused by later reports."""
    cache = Path(cache_dir) if cache_dir is not None else None
    hashes = hashes or ImageHashCache()
    unique = list(dict.fromkeys(os.fspath(p) for p in paths))
    workers = workers or min(8, (os.cpu_count() or 2))
    result = ThumbnailSet()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(lambda p: _hash(hashes, p), unique))
        first_path: dict[str, str] = {}
        for path, digest in zip(unique, digests):
            if digest is None:
                result.unreadable.append(path)
            else:
                first_path.setdefault(digest, path)
        ordered = list(first_path.items())
        position: dict[str, int] = {}
        done = 0
        made = pool.map(lambda item: _cached_jpeg(item[1], item[0], max_side, cache), ordered)
        for (digest, _), jpeg in zip(ordered, made):
            done += 1
            if progress:
                progress(done, len(ordered))
            if jpeg is None:
                continue
            position[digest] = len(result.urls)
            result.urls.append(_data_url(jpeg))
    for path, digest in zip(unique, digests):
        if digest is None:
            continue
        if digest in position:
            result.by_path[path] = position[digest]
        elif path == first_path.get(digest):
            result.unreadable.append(path)
    return result
