"""`data fetch`: downloads from a local HTTP server (Range, Drive confirmation pages, dropped
connections, errors), checksums, safe extraction of the image archive, and the CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

import vscbench.fetch.download as download_module
from vscbench.benchmarks.vscbench import (
    IMAGE_CENTRIC_DIR,
    IMAGE_CENTRIC_FILE,
    TEXT_CENTRIC_DIR,
    TEXT_CENTRIC_FILE,
    load_vscbench,
)
from vscbench.cli import app
from vscbench.fetch.release import (
    IMAGES_ARCHIVE,
    MANIFEST,
    ChecksumError,
    FetchError,
    Source,
    UnsafeArchiveError,
    confirmation_url,
    default_sources,
    download,
    extract_image_folders,
    fetch_release,
)
from vscbench.testing.placeholder import write_placeholder

DRIVE_FORM = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{base}/drive/download" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="{name}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="0f3c-uuid"></form>
</body></html>"""
DRIVE_LINK = """<html><body><p>Too large to scan.</p>
<a id="uc-download-link" href="/legacy/uc?export=download&amp;confirm=AbC9&amp;id={name}">Download anyway</a>
</body></html>"""
QUOTA_PAGE = (
    "<!DOCTYPE html><html><body><p>Too many users have viewed or downloaded this file recently.</p></body></html>"
)


class FileServer:
    """Serves byte strings at several routes and records every request it answered."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.dropped: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def record(self, handler: BaseHTTPRequestHandler, status: int, sent: int) -> None:
        self.requests.append(
            {"path": handler.path, "range": handler.headers.get("Range"), "status": status, "sent": sent}
        )

    def reply(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, **headers: str
    ) -> None:
        self.record(handler, status, len(body))  # before answering: the client may finish first
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    def serve_file(self, handler: BaseHTTPRequestHandler, name: str, honour_range: bool = True) -> None:
        if name not in self.files:
            self.reply(handler, 404, b"not found", "text/plain")
            return
        data = self.files[name]
        spec = handler.headers.get("Range")
        if spec and honour_range:
            start = int(spec.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.reply(handler, 416, b"", "text/plain", Content_Range=f"bytes */{len(data)}")
                return
            self.reply(handler, 206, data[start:], "application/zip",
                       Content_Range=f"bytes {start}-{len(data) - 1}/{len(data)}")  # fmt: skip
            return
        self.reply(handler, 200, data, "application/zip")

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route, _, name = url.path.lstrip("/").partition("/")
        if route == "files":
            self.serve_file(handler, name)
        elif route == "norange":
            self.serve_file(handler, name, honour_range=False)
        elif route == "drop":
            if name not in self.dropped:  # first request: promise everything, send half, hang up
                self.dropped.add(name)
                data = self.files[name]
                self.record(handler, 200, len(data) // 2)
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(data)))
                handler.send_header("Content-Type", "application/zip")
                handler.end_headers()
                handler.wfile.write(data[: len(data) // 2])
                handler.wfile.flush()
                handler.close_connection = True
            else:
                self.serve_file(handler, name)
        elif route == "drive" and name == "uc":
            page = DRIVE_FORM.format(base=self.base, name=query["id"])
            self.reply(handler, 200, page.encode(), "text/html; charset=utf-8")
        elif route == "drive" and name == "download":
            if query.get("confirm") == "t" and query.get("uuid") == "0f3c-uuid" and query.get("export") == "download":
                self.serve_file(handler, query["id"])
            else:
                self.reply(handler, 400, b"bad confirmation", "text/plain")
        elif route == "legacy":
            if query.get("confirm") == "AbC9":
                self.serve_file(handler, query["id"])
            else:
                self.reply(handler, 200, DRIVE_LINK.format(name=query["id"]).encode(), "text/html")
        elif route == "quota":
            self.reply(handler, 200, QUOTA_PAGE.encode(), "text/html")
        else:
            self.reply(handler, 404, b"not found", "text/plain")


@pytest.fixture
def server():
    files = FileServer()
    files.thread.start()
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()


def payload(size: int = 200_000) -> bytes:
    """Deterministic bytes that are also a valid zip header is not needed here: plain downloads."""
    return hashlib.sha256(b"seed").digest() * (size // 32)


def build_archive(path: Path, release: Path, top: str = "VSCBench") -> Path:
    """The release's two image folders nested under ``top``, with macOS junk beside them."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{top}/", b"")
        for folder in (IMAGE_CENTRIC_DIR, TEXT_CENTRIC_DIR):
            for file in sorted((release / folder).rglob("*")):
                if file.is_file():
                    archive.write(file, f"{top}/{file.relative_to(release).as_posix()}")
        archive.writestr(f"__MACOSX/{top}/{IMAGE_CENTRIC_DIR}/drugs/._junk.png", b"\x00\x05\x16\x07")
        archive.writestr(f"{top}/{IMAGE_CENTRIC_DIR}/.DS_Store", b"junk")
    return path


@pytest.fixture(scope="module")
def release_archive(release_template, tmp_path_factory) -> Path:
    return build_archive(tmp_path_factory.mktemp("archive") / "images.zip", release_template)


def test_fetch_release_through_drive_confirmation_loads(server, release_template, release_archive, tmp_path):
    for name in (IMAGE_CENTRIC_FILE, TEXT_CENTRIC_FILE):
        server.files[name] = (release_template / name).read_bytes()
    server.files["images.zip"] = release_archive.read_bytes()
    xlsx_sha = hashlib.sha256(server.files[IMAGE_CENTRIC_FILE]).hexdigest()
    sources = [
        Source(IMAGE_CENTRIC_FILE, f"{server.base}/files/{IMAGE_CENTRIC_FILE}", sha256=xlsx_sha),
        Source(TEXT_CENTRIC_FILE, f"{server.base}/files/{TEXT_CENTRIC_FILE}"),
        Source(IMAGES_ARCHIVE, f"{server.base}/drive/uc?export=download&id=images.zip", archive=True),
    ]
    dest = tmp_path / "data"
    fetch_release(dest, sources, show_progress=False, backoff=0)

    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [IMAGE_CENTRIC_FILE, TEXT_CENTRIC_FILE, IMAGE_CENTRIC_DIR, TEXT_CENTRIC_DIR, MANIFEST]
    )  # no top folder, no __MACOSX, archive removed, no .part left
    assert not (dest / IMAGE_CENTRIC_DIR / "drugs" / "._junk.png").exists()
    assert [r["path"].split("?")[0] for r in server.requests][-2:] == ["/drive/uc", "/drive/download"]
    fetched, expected = load_vscbench(dest, warn=False), load_vscbench(release_template, warn=False)
    assert [s.id for s in fetched.samples] == [s.id for s in expected.samples]
    assert fetched.report.counts() == expected.report.counts()
    some = fetched.samples[0]
    assert some.image_path.read_bytes() == (release_template / some.image_path.relative_to(dest)).read_bytes()

    answered = len(server.requests)
    fetch_release(dest, sources, show_progress=False)  # everything present and verified: no request
    assert len(server.requests) == answered
    (dest / TEXT_CENTRIC_FILE).write_bytes(b"PK corrupted")  # no known checksum, but recorded one differs
    fetch_release(dest, sources, show_progress=False)
    assert [r["path"] for r in server.requests[answered:]] == [f"/files/{TEXT_CENTRIC_FILE}"]
    assert (dest / TEXT_CENTRIC_FILE).read_bytes() == server.files[TEXT_CENTRIC_FILE]


def test_resume_sends_range_and_receives_only_the_rest(server, tmp_path):
    data = payload()
    server.files["big.bin"] = data
    target = tmp_path / "big.bin"
    with pytest.raises(FetchError, match="resumes from"):  # the first run is cut off half way
        download(f"{server.base}/drop/big.bin", target, show_progress=False, retries=0)
    half = len(data) // 2
    assert (tmp_path / "big.bin.part").stat().st_size == half
    server.requests.clear()
    download(f"{server.base}/drop/big.bin", target, show_progress=False)
    assert server.requests == [
        {"path": "/drop/big.bin", "range": f"bytes={half}-", "status": 206, "sent": len(data) - half}
    ]
    assert target.read_bytes() == data
    assert not (tmp_path / "big.bin.part").exists() and not list(tmp_path.glob("*.json"))


def test_dropped_connection_is_retried_from_where_it_stopped(server, tmp_path):
    data = payload()
    server.files["big.bin"] = data
    target = download(f"{server.base}/drop/big.bin", tmp_path / "big.bin", show_progress=False, backoff=0)
    assert target.read_bytes() == data
    first, second = server.requests
    assert first["range"] is None and first["sent"] == len(data) // 2
    assert second["range"] == f"bytes={len(data) // 2}-" and second["sent"] == len(data) - len(data) // 2


def test_server_ignoring_range_restarts_and_416_means_complete(server, tmp_path, monkeypatch):
    data = payload()
    server.files["big.bin"] = data
    (tmp_path / "a.bin.part").write_bytes(b"stale bytes from some other file")
    download(f"{server.base}/norange/big.bin", tmp_path / "a.bin", show_progress=False)
    assert (tmp_path / "a.bin").read_bytes() == data

    def killed_before_the_rename(partial, target):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # complete, but never renamed
        patch.setattr(download_module, "_publish", killed_before_the_rename)
        with pytest.raises(KeyboardInterrupt):
            download(f"{server.base}/files/big.bin", tmp_path / "b.bin", show_progress=False)
    download(f"{server.base}/files/big.bin", tmp_path / "b.bin", show_progress=False)
    assert server.requests[-1]["status"] == 416
    assert (tmp_path / "b.bin").read_bytes() == data


def test_legacy_confirmation_link_is_followed(server, tmp_path):
    server.files["big.bin"] = payload()
    target = download(f"{server.base}/legacy/uc?id=big.bin", tmp_path / "big.bin", show_progress=False)
    assert target.read_bytes() == server.files["big.bin"]
    assert "confirm=AbC9" in server.requests[-1]["path"]


def test_confirmation_url_from_current_drive_page():
    page = DRIVE_FORM.format(base="https://drive.usercontent.google.com", name="1U6l3X")
    url = confirmation_url(page, "https://drive.google.com/uc?export=download&id=1U6l3X")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("drive.usercontent.google.com", "/drive/download")
    assert parse_qs(parts.query) == {"id": ["1U6l3X"], "export": ["download"], "confirm": ["t"], "uuid": ["0f3c-uuid"]}
    assert confirmation_url(QUOTA_PAGE, "https://drive.google.com/uc") is None


def test_checksum_mismatch_is_refused_and_nothing_left(server, tmp_path):
    server.files["big.bin"] = payload()
    with pytest.raises(ChecksumError, match="expected 0000"):
        download(f"{server.base}/files/big.bin", tmp_path / "big.bin", sha256="0" * 64, show_progress=False)
    assert list(tmp_path.iterdir()) == []
    good = hashlib.sha256(server.files["big.bin"]).hexdigest()
    download(f"{server.base}/files/big.bin", tmp_path / "big.bin", sha256=good, show_progress=False)
    assert (tmp_path / "big.bin").is_file()


def test_http_errors_and_pages_without_link_are_clear(server, tmp_path):
    with pytest.raises(FetchError, match=r"HTTP 404 .*/files/absent\.zip.*check the URL"):
        download(f"{server.base}/files/absent.zip", tmp_path / "x.zip", show_progress=False)
    with pytest.raises(FetchError, match="no download link.*browser"):
        download(f"{server.base}/quota/uc", tmp_path / "x.zip", show_progress=False)
    server.files["notzip.bin"] = b"plain text, not an archive"
    with pytest.raises(FetchError, match="did not send a zip"):
        download(f"{server.base}/files/notzip.bin", tmp_path / "x.zip", show_progress=False, expect_zip=True)
    assert list(tmp_path.iterdir()) == []


def _zip_with(path: Path, name: str, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{IMAGE_CENTRIC_DIR}/drugs/fine.png", b"png")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd" if symlink else b"evil")
    return path


@pytest.mark.parametrize(
    ("member", "symlink", "reason"),
    [
        (f"{IMAGE_CENTRIC_DIR}/../../evil.png", False, "contains '..'"),
        ("/tmp/vscbench-evil.png", False, "absolute path"),
        (f"{TEXT_CENTRIC_DIR}/search/link.png", True, "symbolic link"),
    ],
)
def test_unsafe_archive_is_refused_before_writing(tmp_path, member, symlink, reason):
    archive = _zip_with(tmp_path / "evil.zip", member, symlink)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_image_folders(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.png").exists()


def test_folders_found_at_any_depth(tmp_path):
    image = tmp_path / "a.png"
    write_placeholder(image)
    archive = tmp_path / "nested.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(image, f"release/v1/{TEXT_CENTRIC_DIR}/search/d_0_x.png")
        zf.write(image, f"{IMAGE_CENTRIC_DIR}/drugs/safe.png")
        zf.write(image, f"old/{IMAGE_CENTRIC_DIR}/stale.png")  # a smaller second copy is ignored
        zf.write(image, f"{IMAGE_CENTRIC_DIR}/drugs/unsafe.png")
    dest = tmp_path / "dest"
    dest.mkdir()
    counts = extract_image_folders(archive, dest)
    assert counts == {TEXT_CENTRIC_DIR: 1, IMAGE_CENTRIC_DIR: 2}
    assert (dest / TEXT_CENTRIC_DIR / "search" / "d_0_x.png").read_bytes() == image.read_bytes()
    assert sorted(p.name for p in (dest / IMAGE_CENTRIC_DIR / "drugs").iterdir()) == ["safe.png", "unsafe.png"]
    assert sorted(p.name for p in dest.iterdir()) == [IMAGE_CENTRIC_DIR, TEXT_CENTRIC_DIR]


def test_default_sources_env_and_explicit_urls():
    env = {"VSCBENCH_IMAGES_URL": "https://mirror.example/images.zip"}
    by_name = {s.name: s for s in default_sources(env=env)}
    assert by_name[IMAGE_CENTRIC_FILE].url.startswith("https://raw.githubusercontent.com/jiahuigeng/VSCBench/main/")
    assert by_name[IMAGES_ARCHIVE].url == "https://mirror.example/images.zip" and by_name[IMAGES_ARCHIVE].archive
    explicit = default_sources({IMAGES_ARCHIVE: "file:///x.zip"}, {TEXT_CENTRIC_FILE: "ab" * 32}, env=env)
    assert {s.name: s.url for s in explicit}[IMAGES_ARCHIVE] == "file:///x.zip"
    assert {s.name: s.sha256 for s in explicit}[TEXT_CENTRIC_FILE] == "ab" * 32
    assert IMAGES_ARCHIVE not in {s.name for s in default_sources(images=False, env={})}
    assert "1U6l3XvoInLJeQTMcmjySADvmwUs3ifnG" in {s.name: s.url for s in default_sources(env={})}[IMAGES_ARCHIVE]


def test_cli_fetch_spreadsheets_and_reports(server, release_template, tmp_path, monkeypatch):
    for name in (IMAGE_CENTRIC_FILE, TEXT_CENTRIC_FILE):
        server.files[name] = (release_template / name).read_bytes()
    monkeypatch.setenv("VSCBENCH_TEXT_CENTRIC_URL", f"{server.base}/files/{TEXT_CENTRIC_FILE}")
    runner = CliRunner()
    dest = tmp_path / "cli"
    result = runner.invoke(app, [
        "data", "fetch", "--dest", str(dest), "--no-images", "-q",
        "--image-centric-url", f"{server.base}/files/{IMAGE_CENTRIC_FILE}",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "vscbench data check" in result.output and TEXT_CENTRIC_DIR in result.output
    assert (dest / TEXT_CENTRIC_FILE).read_bytes() == server.files[TEXT_CENTRIC_FILE]

    bad = runner.invoke(app, ["data", "fetch", "--dest", str(dest), "--sha256", "nonsense"])
    assert bad.exit_code == 2 and "NAME=HEX" in bad.output
    missing = runner.invoke(app, ["data", "fetch", "--dest", str(tmp_path / "m"), "--no-images", "-q", "--force",
                                  "--image-centric-url", f"{server.base}/files/nope.xlsx"])  # fmt: skip
    assert missing.exit_code == 2 and "HTTP 404" in missing.output


def test_local_path_as_url(release_template, tmp_path):
    target = download(str(release_template / IMAGE_CENTRIC_FILE), tmp_path / "x.xlsx", expect_zip=True)
    assert target.read_bytes() == (release_template / IMAGE_CENTRIC_FILE).read_bytes()
    with pytest.raises(FetchError, match="does not exist"):
        download(os.fspath(tmp_path / "absent.zip"), tmp_path / "y.zip")


def test_kept_archive_is_reused_and_unsafe_archive_removed(server, tmp_path):
    image = tmp_path / "a.png"
    write_placeholder(image)
    good, evil = tmp_path / "good.zip", _zip_with(tmp_path / "evil.zip", "../../outside.png")
    with zipfile.ZipFile(good, "w") as zf:
        zf.write(image, f"top/{IMAGE_CENTRIC_DIR}/drugs/x.png")
        zf.write(image, f"top/{TEXT_CENTRIC_DIR}/search/y.png")
    server.files.update({"good.zip": good.read_bytes(), "evil.zip": evil.read_bytes()})
    dest = tmp_path / "dest"
    source = Source(IMAGES_ARCHIVE, f"{server.base}/files/good.zip", archive=True)
    fetch_release(dest, [source], keep_archive=True, show_progress=False)
    assert (dest / IMAGES_ARCHIVE).read_bytes() == good.read_bytes()
    shutil.rmtree(dest / TEXT_CENTRIC_DIR)
    answered = len(server.requests)
    fetch_release(dest, [source], keep_archive=True, show_progress=False)  # archive verified by the manifest
    assert len(server.requests) == answered
    assert (dest / TEXT_CENTRIC_DIR / "search" / "y.png").is_file()

    bad = Source(IMAGES_ARCHIVE, f"{server.base}/files/evil.zip", archive=True)
    with pytest.raises(UnsafeArchiveError, match="outside the destination"):
        fetch_release(tmp_path / "other", [bad], show_progress=False)
    assert not (tmp_path / "other" / IMAGES_ARCHIVE).exists() and not (tmp_path / "outside.png").exists()
