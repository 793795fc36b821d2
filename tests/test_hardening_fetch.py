"""`data fetch` against hostile archives and broken downloads (issue 11): zip bombs, a corrupt
`.part` left by an earlier run, and a download cut short by a server that never said its length."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hostile import zip_bomb
from vscbench.benchmarks.vscbench import IMAGE_CENTRIC_DIR, TEXT_CENTRIC_DIR
from vscbench.fetch.partial import RECORD_SUFFIX
from vscbench.fetch.release import (
    IMAGES_ARCHIVE,
    FetchError,
    Source,
    UnsafeArchiveError,
    download,
    extract_image_folders,
    fetch_release,
)


class Server:
    """Serves ``files`` with Range support at /files/NAME; at /nolength/NAME without a
    Content-Length, closing the connection after ``cut`` bytes (the whole file when None) on
    the first ``cuts`` requests; at /chunked/NAME with chunked encoding, dropping the last chunk."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.cut: int | None = None
        self.cuts = 1
        self.etag = '"v1"'
        self.drop_files = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                route, _, name = self.path.lstrip("/").partition("/")
                data = outer.files[name]
                spec = self.headers.get("Range")
                start = int(spec.removeprefix("bytes=").split("-")[0]) if spec else 0
                outer.requests.append({"route": route, "range": spec, "if_range": self.headers.get("If-Range")})
                if route == "files":
                    if_range = self.headers.get("If-Range")
                    if if_range is not None and if_range != outer.etag:
                        start = 0  # the file changed: send it whole (RFC 9110 13.1.5)
                    body = data[start:]
                    outer.requests[-1]["status"] = 206 if start else 200
                    self.send_response(206 if start else 200)
                    if start:
                        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("ETag", outer.etag)
                    self.end_headers()
                    if outer.drop_files:
                        outer.drop_files = False
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(body)
                elif route == "nolength":  # ignores Range, like many simple servers
                    cutting = outer.cut is not None and outer.cuts > 0
                    outer.cuts -= cutting
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: outer.cut] if cutting else data)
                    self.close_connection = True
                elif route == "chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = data[: len(data) // 2]
                    self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
                    self.wfile.flush()
                    self.close_connection = True  # no terminating chunk: the body is cut short

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def server():
    files = Server()
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()


def a_zip(size: int = 300_000) -> bytes:
    """A real zip of incompressible bytes (so a cut anywhere leaves an incomplete archive)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{IMAGE_CENTRIC_DIR}/drugs/a.png", hashlib.sha256(b"x").digest() * (size // 32))
    return buffer.getvalue()


# ---- zip bombs ---------------------------------------------------------------------------------


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.zip", f"{IMAGE_CENTRIC_DIR}/drugs/huge.png")
    assert bomb.stat().st_size < 100_000  # 16 MiB inflated
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match=r"huge\.png.*ratio"):
        extract_image_folders(bomb, dest)
    assert list(dest.iterdir()) == []


def test_archive_larger_than_the_size_limit_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "images.zip"
    archive.write_bytes(a_zip(300_000))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match=r"300,000 bytes.*limit of 100,000"):
        extract_image_folders(archive, dest, max_bytes=100_000)
    assert list(dest.iterdir()) == []
    assert extract_image_folders(archive, dest) == {IMAGE_CENTRIC_DIR: 1}  # the default limit is generous


def test_zip_bomb_fetched_is_deleted_and_reported(tmp_path: Path, server: Server) -> None:
    bomb = zip_bomb(tmp_path / "bomb.zip", f"top/{TEXT_CENTRIC_DIR}/search/huge.png")
    server.files["bomb.zip"] = bomb.read_bytes()
    dest = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="nothing was extracted"):
        fetch_release(
            dest, [Source(IMAGES_ARCHIVE, f"{server.base}/files/bomb.zip", archive=True)], show_progress=False
        )
    assert sorted(p.name for p in dest.iterdir()) == [".vscbench-fetch.json"]


# ---- a corrupt .part ---------------------------------------------------------------------------


def _interrupted(server: Server, tmp_path: Path, data: bytes, name: str = "big.zip") -> Path:
    """Leave NAME.part as an interrupted download leaves it: half the bytes, and their record."""
    server.files[name] = data
    server.drop_files = True
    with pytest.raises(FetchError, match="truncated: the server closed the connection after 150,"):
        download(f"{server.base}/files/{name}", tmp_path / name, retries=0, show_progress=False, expect_zip=True)
    part = tmp_path / f"{name}.part"
    assert part.stat().st_size == len(data) // 2
    server.requests.clear()
    return part


def test_a_clean_part_is_resumed_from_where_it_stopped(tmp_path: Path, server: Server) -> None:
    data = a_zip()
    _interrupted(server, tmp_path, data)
    download(f"{server.base}/files/big.zip", tmp_path / "big.zip", show_progress=False, expect_zip=True)
    assert (tmp_path / "big.zip").read_bytes() == data
    assert [(r["range"], r["if_range"]) for r in server.requests] == [(f"bytes={len(data) // 2}-", '"v1"')]
    assert not list(tmp_path.glob("*.part*"))


@pytest.mark.parametrize("damage", ["flipped", "zeroed_tail", "no_record"])
def test_a_corrupt_part_is_detected_and_restarted_not_spliced(tmp_path: Path, server: Server, damage: str) -> None:
    data = a_zip()
    part = _interrupted(server, tmp_path, data)
    raw = bytearray(part.read_bytes())
    if damage == "flipped":  # a bit flipped on disk, in the middle
        raw[len(raw) // 3] ^= 0xFF
        part.write_bytes(bytes(raw))
    elif damage == "zeroed_tail":  # a crash after the file grew but before its blocks were written
        part.write_bytes(bytes(raw[:-4096]) + b"\x00" * 4096)
    else:  # bytes of unknown origin: no record of what they are
        for record in tmp_path.glob("*.part.*"):
            record.unlink()
    download(f"{server.base}/files/big.zip", tmp_path / "big.zip", show_progress=False, expect_zip=True)
    assert (tmp_path / "big.zip").read_bytes() == data  # never spliced
    assert [r["range"] for r in server.requests] == [None]  # started over


def test_a_part_of_another_version_is_not_spliced(tmp_path: Path, server: Server) -> None:
    """The file changed upstream between two runs: If-Range makes the server send it whole."""
    old, new = a_zip(300_000), a_zip(310_000)
    server.files["big.zip"] = old
    server.drop_files = True  # the first answer promises everything and stops half way
    with pytest.raises(FetchError):
        download(f"{server.base}/files/big.zip", tmp_path / "big.zip", retries=0, show_progress=False)
    assert 0 < (tmp_path / "big.zip.part").stat().st_size < len(old)
    server.files["big.zip"], server.etag = new, '"v2"'
    download(f"{server.base}/files/big.zip", tmp_path / "big.zip", show_progress=False, expect_zip=True)
    assert (tmp_path / "big.zip").read_bytes() == new
    assert server.requests[-1]["if_range"] == '"v1"' and server.requests[-1]["status"] == 200


# ---- truncated without Content-Length ----------------------------------------------------------


def test_truncated_download_without_length_is_reported_as_truncated(tmp_path: Path, server: Server) -> None:
    data = a_zip()
    server.files["big.zip"] = data
    server.cut, server.cuts = len(data) // 3, 99  # every attempt is cut
    with pytest.raises(FetchError, match=r"truncated.*after 100,\d{3} bytes.*no Content-Length") as caught:
        download(f"{server.base}/nolength/big.zip", tmp_path / "big.zip", retries=1, backoff=0,
                 show_progress=False, expect_zip=True)  # fmt: skip
    assert "did not send a zip" not in str(caught.value)
    assert not (tmp_path / "big.zip").exists()


def test_truncated_once_then_complete_is_retried(tmp_path: Path, server: Server) -> None:
    data = a_zip()
    server.files["big.zip"] = data
    server.cut, server.cuts = len(data) // 3, 1
    download(f"{server.base}/nolength/big.zip", tmp_path / "big.zip", retries=2, backoff=0,
             show_progress=False, expect_zip=True)  # fmt: skip
    assert (tmp_path / "big.zip").read_bytes() == data


def test_chunked_body_cut_short_is_reported_as_truncated(tmp_path: Path, server: Server) -> None:
    server.files["big.zip"] = a_zip()
    with pytest.raises(FetchError, match="truncated"):
        download(f"{server.base}/chunked/big.zip", tmp_path / "big.zip", retries=0, show_progress=False)


def test_part_record_is_written_beside_the_part(tmp_path: Path, server: Server) -> None:
    part = _interrupted(server, tmp_path, a_zip())
    assert (part.parent / (part.name + RECORD_SUFFIX)).is_file()
