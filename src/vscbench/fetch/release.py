"""Fetch the VSCBench release: two spreadsheets and one image archive, and unpack it safely.

The downloads themselves (resume, Drive confirmation pages, checksums) live in
:mod:`vscbench.fetch.download`. The image archive's inner layout is not documented, so the two
image folders are found wherever they sit in it, and no member may land outside the
destination, and no archive may inflate past a size or compression-ratio limit (a zip bomb):
both are checked on every member before the first byte is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import zipfile
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from vscbench.benchmarks.vscbench import IMAGE_CENTRIC_DIR, IMAGE_CENTRIC_FILE, TEXT_CENTRIC_DIR, TEXT_CENTRIC_FILE
from vscbench.fetch.download import ChecksumError, FetchError, confirmation_url, download
from vscbench.images import file_sha256

__all__ = [
    "ChecksumError", "FetchError", "Source", "UnsafeArchiveError", "confirmation_url", "default_sources",
    "describe_release", "download", "extract_image_folders", "fetch_release", "plan_extraction",
]  # fmt: skip

log = logging.getLogger(__name__)

UPSTREAM_RAW = "https://raw.githubusercontent.com/jiahuigeng/VSCBench/main"
DRIVE_IMAGES_ID = "1U6l3XvoInLJeQTMcmjySADvmwUs3ifnG"
DRIVE_IMAGES_URL = f"https://drive.google.com/uc?export=download&id={DRIVE_IMAGES_ID}"
IMAGES_ARCHIVE = "vscbench_images.zip"
IMAGE_FOLDERS = (IMAGE_CENTRIC_DIR, TEXT_CENTRIC_DIR)
MANIFEST = ".vscbench-fetch.json"

#: Known sha256 of the upstream files, by local name. Empty on purpose: the upstream files could
#: not be downloaded where this was written, and a made-up checksum would refuse the real file.
KNOWN_SHA256: dict[str, str] = {}

#: Environment variables that override the default URL of each file.
URL_ENV = {
    IMAGE_CENTRIC_FILE: "VSCBENCH_IMAGE_CENTRIC_URL",
    TEXT_CENTRIC_FILE: "VSCBENCH_TEXT_CENTRIC_URL",
    IMAGES_ARCHIVE: "VSCBENCH_IMAGES_URL",
}
_JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db"}

#: The most bytes an archive may inflate to. The release's images take about a gigabyte; this
#: leaves room for a much larger mirror and still refuses an archive that would fill a disk.
MAX_EXTRACT_BYTES = 32 * 2**30
#: The most a member may inflate per compressed byte. Images are compressed already (a ratio
#: near 1); deflate of constant data reaches ~1000, the mark of a zip bomb.
MAX_COMPRESSION_RATIO = 100
#: Members smaller than this are not held to the ratio (a tiny text file may compress well).
_RATIO_FLOOR = 2**20


class UnsafeArchiveError(FetchError):
    """An archive member would land outside the destination (absolute, ``..``, symbolic link)."""


@dataclass(frozen=True)
class Source:
    """One file of the release: its name under the destination, where to get it, its checksum."""

    name: str
    url: str
    sha256: str | None = None
    archive: bool = False


def default_sources(
    urls: Mapping[str, str | None] | None = None,
    sha256: Mapping[str, str] | None = None,
    images: bool = True,
    env: Mapping[str, str] | None = None,
) -> list[Source]:
    """The release's files: explicit ``urls`` win over the environment, which wins over upstream."""
    env = os.environ if env is None else env
    urls = urls or {}
    checksums = {**KNOWN_SHA256, **(sha256 or {})}
    upstream = {
        IMAGE_CENTRIC_FILE: f"{UPSTREAM_RAW}/{IMAGE_CENTRIC_FILE}",
        TEXT_CENTRIC_FILE: f"{UPSTREAM_RAW}/{TEXT_CENTRIC_FILE}",
        IMAGES_ARCHIVE: DRIVE_IMAGES_URL,
    }
    sources = []
    for name, fallback in upstream.items():
        if name == IMAGES_ARCHIVE and not images:
            continue
        url = urls.get(name) or env.get(URL_ENV[name]) or fallback
        sources.append(Source(name, url, checksums.get(name), archive=name == IMAGES_ARCHIVE))
    return sources


# --------------------------------------------------------------------------- safe extraction


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "contains '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def _size_problems(archive: zipfile.ZipFile, max_bytes: int, max_ratio: float) -> list[str]:
    """Why the archive would inflate too far: members past the ratio, or a total past the limit."""
    problems = []
    total = 0
    for info in archive.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > max_ratio:
            problems.append(
                f"{info.filename!r} inflates {info.compress_size:,} bytes to {info.file_size:,} "
                f"(ratio {ratio:,.0f}, limit {max_ratio:g})"
            )
    if total > max_bytes:
        problems.append(f"its members inflate to {total:,} bytes, past the limit of {max_bytes:,}")
    return problems


def plan_extraction(
    archive: zipfile.ZipFile, max_bytes: int | None = None, max_ratio: float | None = None
) -> dict[str, list[tuple[zipfile.ZipInfo, tuple[str, ...]]]]:
    """Map each image folder to its members and their paths inside that folder.

    Every member is checked first (paths, and sizes against ``max_bytes`` and ``max_ratio``,
    by default :data:`MAX_EXTRACT_BYTES` and :data:`MAX_COMPRESSION_RATIO`), so an unsafe
    archive is refused before anything is written. Where a folder appears under several
    parents, the copy with the most files is used.
    """
    limit = MAX_EXTRACT_BYTES if max_bytes is None else max_bytes
    too_big = _size_problems(archive, limit, MAX_COMPRESSION_RATIO if max_ratio is None else max_ratio)
    if too_big:
        raise UnsafeArchiveError(
            f"the archive {archive.filename} would inflate too far to be extracted safely (a zip bomb?): "
            f"{'; '.join(too_big[:3])}; nothing was extracted. Get the archive from the official source."
        )
    unsafe = [(info.filename, why) for info in archive.infolist() if (why := _unsafe_reason(info))]
    if unsafe:
        listed = "; ".join(f"{name!r} {why}" for name, why in unsafe[:5])
        raise UnsafeArchiveError(
            f"the archive {archive.filename} holds {len(unsafe)} member(s) that would be written outside "
            f"the destination ({listed}); nothing was extracted. Get the archive from the official source."
        )
    found: dict[str, dict[tuple[str, ...], list]] = defaultdict(lambda: defaultdict(list))
    for info in archive.infolist():
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p and p != ".")
        if info.is_dir() or not parts or any(p in _JUNK_NAMES for p in parts) or parts[-1].startswith("._"):
            continue
        for depth, part in enumerate(parts[:-1]):
            if part in IMAGE_FOLDERS:
                found[part][parts[:depth]].append((info, parts[depth + 1 :]))
                break
    plan = {}
    for folder, by_parent in found.items():
        parent, members = max(by_parent.items(), key=lambda item: len(item[1]))
        if len(by_parent) > 1:
            log.warning(
                "%s appears %d times in the archive; using %s/", folder, len(by_parent), "/".join(parent + (folder,))
            )
        plan[folder] = members
    return plan


def extract_image_folders(
    archive_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = None,
) -> dict[str, int]:
    """Extract the two image folders from the archive directly under ``dest``; return file counts.

    Files are written to a staging folder inside ``dest`` first, then moved into place, replacing
    an existing folder of the same name only once its new copy is complete. An archive that
    would inflate past ``max_bytes`` or ``max_ratio`` (see :func:`plan_extraction`), or past the
    free space of ``dest``, is refused before anything is written; no member is written past the
    size it declares.
    """
    root = Path(dest)
    staging = root / ".vscbench-extract"
    try:
        with zipfile.ZipFile(archive_path) as archive:
            plan = plan_extraction(archive, max_bytes, max_ratio)
            needed = sum(info.file_size for members in plan.values() for info, _ in members)
            free = shutil.disk_usage(root).free
            if needed > free:
                raise FetchError(
                    f"extracting {archive_path} needs {needed:,} bytes but {root} has {free:,} free; "
                    "free some space (or choose another --dest) and run the command again"
                )
            if not plan:
                tops = sorted({i.filename.split("/")[0] for i in archive.infolist()})[:10]
                raise FetchError(
                    f"{archive_path} holds neither {IMAGE_CENTRIC_DIR}/ nor {TEXT_CENTRIC_DIR}/ "
                    f"(its top-level entries: {', '.join(tops) or 'none'}); is it the VSCBench image archive?"
                )
            shutil.rmtree(staging, ignore_errors=True)
            for folder, members in plan.items():
                for info, inner in members:
                    out = staging.joinpath(folder, *inner)
                    if not out.resolve().is_relative_to(staging.resolve()):
                        raise UnsafeArchiveError(f"{info.filename!r} would be written outside {root}")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as source, open(out, "wb") as sink:
                        _copy_bounded(source, sink, info)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise FetchError(f"{archive_path} is not a readable zip archive ({exc}); delete it and fetch again.") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-extracted is left behind
        raise
    for folder in plan:
        final = root / folder
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging / folder, final)
    shutil.rmtree(staging, ignore_errors=True)
    missing = [f for f in IMAGE_FOLDERS if f not in plan]
    if missing:
        log.warning("the archive holds no %s/ folder", " or ".join(missing))
    return {folder: len(members) for folder, members in plan.items()}


def _copy_bounded(source, sink, info: zipfile.ZipInfo) -> None:
    """Copy one member, refusing to write more than it declared (a forged header)."""
    written = 0
    while block := source.read(1 << 20):
        written += len(block)
        if written > info.file_size:
            raise UnsafeArchiveError(f"{info.filename!r} inflates past the {info.file_size:,} bytes it declares")
        sink.write(block)


# --------------------------------------------------------------------------- the release


def _read_manifest(root: Path) -> dict:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(root: Path, manifest: dict) -> None:
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, root / MANIFEST)


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _usable_copy(target: Path, source: Source, manifest: dict, say) -> bool:
    """Whether ``target`` can be kept: it matches the known (or recorded) checksum, or, with no
    checksum to compare, it is at least a complete zip. A kept unverified file gets recorded."""
    if not target.is_file():
        return False
    recorded = manifest.get(source.name, {})
    expected = source.sha256 or (recorded.get("sha256") if recorded.get("url") == source.url else None)
    actual = file_sha256(target)
    if expected:
        if actual == expected.lower():
            say(f"[green]skip[/green] {source.name}: already downloaded and verified")
            return True
        say(f"[yellow]replace[/yellow] {source.name}: its sha256 is not the expected one")
        return False
    if zipfile.is_zipfile(target):
        say(f"[yellow]keep[/yellow] {source.name}: present, no checksum known to verify it")
        manifest[source.name] = {"url": recorded.get("url"), "sha256": actual}
        return True
    return False


def fetch_release(
    dest: str | os.PathLike[str],
    sources: Sequence[Source] | None = None,
    *,
    force: bool = False,
    keep_archive: bool = False,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    show_progress: bool = True,
) -> Path:
    """Download the release into ``dest`` (default sources: :func:`default_sources`); return ``dest``.

    A file already there whose sha256 matches the known or recorded checksum is skipped, and so
    are image folders already extracted; ``force`` downloads everything again. The checksums of
    downloaded files are recorded in ``dest/.vscbench-fetch.json`` so a later run can verify them.
    """
    root = Path(dest).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(root)
    say = Console(stderr=True, quiet=not show_progress).print
    for source in default_sources() if sources is None else sources:
        target = root / source.name
        if source.archive and not force and all(_has_files(root / f) for f in IMAGE_FOLDERS):
            say(f"[green]skip[/green] {', '.join(IMAGE_FOLDERS)}: already extracted (--force to fetch again)")
            continue
        if force or not _usable_copy(target, source, manifest, say):
            if force:
                target.with_name(target.name + ".part").unlink(missing_ok=True)
            say(f"[bold]fetch[/bold] {escape(source.name)} from {escape(source.url)}")
            download(
                source.url, target, sha256=source.sha256, retries=retries, backoff=backoff,
                timeout=timeout, show_progress=show_progress, expect_zip=True,
            )  # fmt: skip
            manifest[source.name] = {"url": source.url, "sha256": file_sha256(target), "bytes": target.stat().st_size}
            _write_manifest(root, manifest)
        if source.archive:
            try:
                counts = extract_image_folders(target, root)
            except UnsafeArchiveError:
                target.unlink()
                manifest.pop(source.name, None)
                _write_manifest(root, manifest)
                raise
            manifest["images"] = {"from": source.name, "files": counts}
            if not keep_archive:
                target.unlink()
            say("[bold]extracted[/bold] " + ", ".join(f"{n} files to {f}/" for f, n in counts.items()))
    _write_manifest(root, manifest)
    return root


def describe_release(root: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(path, what is there) for each part of a release folder, for the end-of-fetch summary."""
    base = Path(root)
    rows = []
    for name in (IMAGE_CENTRIC_FILE, TEXT_CENTRIC_FILE, IMAGES_ARCHIVE):
        path = base / name
        if path.is_file():
            rows.append((str(path), f"{path.stat().st_size:,} bytes"))
        elif name != IMAGES_ARCHIVE:
            rows.append((str(path), "missing"))
    for folder in IMAGE_FOLDERS:
        path = base / folder
        if path.is_dir():
            per_dir = Counter(p.parent.name for p in path.rglob("*") if p.is_file())
            detail = ", ".join(f"{k} {v}" for k, v in sorted(per_dir.items()))
            rows.append((str(path) + "/", f"{sum(per_dir.values())} images ({detail})"))
        else:
            rows.append((str(path) + "/", "missing"))
    return rows
