"""Fault cases of issues 11 and 29, each tried against the real library or CLI and local fake servers.

For every case the table says how many times it was tried, how many tries ended as promised
(survived: the run finished or stopped with a one-line reason, the file was left untouched,
the bomb was refused...) and how much was lost (answers that were received but are not in
the store, or calls sent twice, or bytes written that should not have been). The cases of issue
29 (``bench/faults_ii.py``: stalls, drips, gzip bombs, SIGTERM, full disks, bad inputs, planted
secrets) follow, and a summary: kinds of fault tried / survived, bad inputs / clear errors,
secrets planted / found. Figures only, nothing asserted; a few minutes on two cores.

    python bench/bench_faults.py [--trials 3] [--only ii]
    PYTHONPATH=OLD_CHECKOUT/src python bench/bench_faults.py   # the same cases against older code
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fake_openai import FakeOpenAI, Fault

from hostile import (
    openai_completion_bytes,
    release_row,
    tiny_release,
    write_bomb_png,
    write_truncated_png,
    zip_bomb,
)

try:
    from vscbench.engine.runner import run_samples_sync
except ImportError:  # the layout before issue 25, to measure an older checkout
    from vscbench.runner import run_samples_sync  # type: ignore[no-redef]
from vscbench.models.base import Generation, ModelSpec, load_model
from vscbench.schema import Sample
from vscbench.store import Store, StoreError

CLI = [sys.executable, "-c", "from vscbench.cli import main; main()"]
#: The CLI, printing its own peak RSS at exit (VmHWM: ru_maxrss would carry the parent's over exec).
MEASURED_CLI = [sys.executable, "-c", (
    "import atexit, sys\n"
    "peak = lambda: next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
    "atexit.register(lambda: print(peak(), file=sys.stderr))\n"
    "from vscbench.cli import main; main()"
)]  # fmt: skip
Result = tuple[int, int, int, str]  # tried, survived, lost, what was measured


def samples(n: int, prefix: str = "question") -> list[Sample]:
    return [Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe",
                   prompt=f"{prefix} {i}") for i in range(n)]  # fmt: skip


def stored(path: Path, run: str) -> int:
    with Store(path) as store:
        return sum(1 for _, response in store.run_items(run) if response is not None)


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


# ---- a run must always finish --------------------------------------------------------------------


def unstorable_answers(work: Path, trials: int) -> Result:
    bodies = [b'"half \\ud83d"', b'"nul \\u0000 inside"', b'"caf\xe9 \xff"']
    tried = survived = lost = 0
    for trial in range(trials):
        with FakeOpenAI() as fake:
            for i, body in enumerate(bodies):
                fake.fail(f"question {i}", Fault.raw(openai_completion_bytes(body)), times=None)
            store = work / f"unstorable{trial}.sqlite"
            summary = run_samples_sync(load_model(f"openai:fake@{fake.base_url}", max_retries=0), samples(12),
                                       Store(store), run_name="r")  # fmt: skip
        tried += 12
        survived += summary.ok
        lost += 12 - stored(store, "r")
    return tried, survived, lost, "answers with lone surrogates, NUL, invalid UTF-8 (stored as U+FFFD, noted)"


def hostile_error_text(work: Path, trials: int) -> Result:
    hostile = "bad [/x] \x1b]0;owned\x07\x1b[2J [bold]x[/bold]"
    release = tiny_release(work / "hostile-release", [release_row()])
    tried = survived = 0
    for trial in range(trials):
        with FakeOpenAI() as fake:
            fake.fail(None, Fault("status", 400, code="bad", message=hostile), times=None)
            done = subprocess.run([*CLI, "run", "--data", str(release), "--subset", "image_centric", "--model",
                                   f"openai:fake@{fake.base_url}", "--store", str(work / f"hostile{trial}.sqlite"),
                                   "--max-retries", "0"],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        tried += 1
        output = done.stdout + done.stderr
        survived += done.returncode == 1 and "\x1b" not in output and "Traceback" not in output and "[/x]" in output
    return tried, survived, 0, "400s whose message holds [/x] and escape sequences: run summary printed escaped"


def disk_full(work: Path, trials: int) -> Result:
    tried = survived = lost = 0
    for trial in range(trials):
        path = work / f"full{trial}.sqlite"
        store = Store(path)
        received = []

        class Filling:
            """Fills the store's disk after its fifth call."""

            max_batch_size = 1
            spec = ModelSpec("scripted", "filling")

            def __init__(self, store: Store, received: list[int]) -> None:
                self.store, self.received = store, received

            async def generate(self, requests):
                self.received.append(1)
                if len(self.received) == 5:
                    db = self.store.database.connection if hasattr(self.store, "database") else self.store._db
                    pages = db.execute("PRAGMA page_count").fetchone()[0]
                    db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
                return [Generation("ok", text="x" * 4000) for _ in requests]

            async def aclose(self):
                pass

        try:
            run_samples_sync(Filling(store, received), samples(20), store, run_name="r", concurrency=1)
        except StoreError as exc:
            survived += "disk is full" in str(exc) and "\n" not in str(exc)
        store.close()
        tried += 1
        lost += max(0, (len(received) - 1) - stored(path, "r"))  # the call that hit the full disk is not kept
    return tried, survived, lost, "disk full mid-run: one StoreError naming the store; answers before kept"


def lock_timeout(work: Path, trials: int) -> Result:
    tried = survived = 0
    for trial in range(trials):
        path = work / f"locked{trial}.sqlite"
        store = Store(path, timeout=0.2)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            run_samples_sync(load_model("scripted:keyword"), samples(4), store, run_name="r")
        except StoreError as exc:
            survived += "stayed locked" in str(exc)
        finally:
            other.execute("ROLLBACK")
            other.close()
        tried += 1
    return tried, survived, 0, "store locked by another process past the timeout: one StoreError"


def _subprocess_run(url: str, store: Path, n: int, run: str) -> subprocess.Popen:
    script = textwrap.dedent("""
        import asyncio, sys
        from vscbench.models.base import load_model
        try:
            from vscbench.engine.runner import LocalExecutor, run_samples
        except ImportError:  # an older checkout
            from vscbench.runner import LocalExecutor, run_samples
        from vscbench.schema import Sample
        from vscbench.store import Store
        url, path, n, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        samples = [Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe",
                          prompt=f"question {i}") for i in range(n)]
        executor = LocalExecutor(load_model(f"openai:fake@{url}", max_retries=0), concurrency=4, lease_s=5, poll_s=0.2)
        summary = asyncio.run(run_samples(executor, samples, Store(path), run_name=run))
        print("sent", summary.sent, flush=True)
    """)
    return subprocess.Popen([sys.executable, "-c", script, url, str(store), str(n), run],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def signals(work: Path, trials: int, which: int) -> Result:
    tried = survived = lost = 0
    for trial in range(trials):
        path = work / f"signal{which}-{trial}.sqlite"
        with FakeOpenAI(latency=0.2) as fake:
            process = _subprocess_run(fake.base_url, path, 40, "r")
            while len(fake.completions()) < 8 and process.poll() is None:
                time.sleep(0.02)
            process.send_signal(which)
            process.communicate(timeout=60)
            with Store(path) as store:
                status = store.run_info("r").status
                answered = {s.prompt for s, response in store.run_items("r") if response is not None}
            asked_before = Counter(r.prompt for r in fake.completions())
            resumed = _subprocess_run(fake.base_url, path, 40, "r")
            resumed.communicate(timeout=120)
            asked = Counter(r.prompt for r in fake.completions())
        tried += 1
        complete = stored(path, "r") == 40
        expected = "interrupted" if which == signal.SIGTERM else "running"
        survived += status == expected and complete
        # lost: answers stored before the signal that the resumed run asked again (in-flight ones may be)
        lost += sum(1 for prompt in answered if asked[prompt] > asked_before[prompt])
    name = "SIGTERM" if which == signal.SIGTERM else "SIGKILL"
    what = f"{name} mid-run, then resume: status {expected}, complete after; lost = stored answers asked again"
    return tried, survived, lost, what


def shared_store(work: Path, trials: int) -> Result:
    tried = survived = lost = 0
    for trial in range(trials):
        path = work / f"shared{trial}.sqlite"
        Store(path).close()
        with FakeOpenAI(latency=0.1) as fake:
            first = _subprocess_run(fake.base_url, path, 24, "a")
            time.sleep(0.2)
            second = _subprocess_run(fake.base_url, path, 24, "b")
            first.communicate(timeout=120)
            second.communicate(timeout=120)
            asked = Counter(r.prompt for r in fake.completions())
        tried += 24
        survived += sum(1 for n in asked.values() if n == 1)
        lost += sum(n - 1 for n in asked.values())
    return tried, survived, lost, "two `run` processes, one store and model: lost = calls sent twice"


# ---- say when it failed ------------------------------------------------------------------------


def fatal_key(work: Path, trials: int) -> Result:
    tried = survived = lost = 0
    for trial in range(trials):
        with FakeOpenAI() as fake:
            fake.fail(None, Fault("status", 401, code="invalid_api_key", message="Incorrect API key"), times=None)
            summary = run_samples_sync(load_model(f"openai:fake@{fake.base_url}", max_retries=0), samples(100),
                                       Store(work / f"fatal{trial}.sqlite"), run_name="r", concurrency=8)  # fmt: skip
            sent = len(fake.completions())
        tried += 1
        survived += bool(summary.stopped) and sent <= 11
        lost += sent  # paid calls that failed
    return tried, survived, lost, "HTTP 401 on every call, 100 samples: lost = failed calls sent (limit 3 + in flight)"


def long_retry_after(work: Path, trials: int) -> Result:
    tried = survived = 0
    for trial in range(trials):
        with FakeOpenAI() as fake:
            fake.fail(None, Fault.rate_limit(retry_after=3600), times=None)
            started = time.monotonic()
            summary = run_samples_sync(load_model(f"openai:fake@{fake.base_url}", max_retries=4), samples(1),
                                       Store(work / f"wait{trial}.sqlite"), run_name="r")  # fmt: skip
            elapsed = time.monotonic() - started
        tried += 1
        reason = summary.top_errors[0][0] if summary.top_errors else ""
        survived += "asked to wait 3600 s" in reason and elapsed < 5 and len(fake.completions()) == 1
    return tried, survived, 0, "429 with Retry-After 3600: reported with the wait, not retried, not slept"


def connection_resets(work: Path, trials: int) -> Result:
    tried = survived = 0
    for trial in range(trials):
        with FakeOpenAI() as fake:
            fake.fail(None, Fault.reset(), times=None)
            summary = run_samples_sync(load_model(f"openai:fake@{fake.base_url}", max_retries=1), samples(2),
                                       Store(work / f"reset{trial}.sqlite"), run_name="r")  # fmt: skip
        tried += 2
        survived += sum(n for reason, n in summary.top_errors if "connection reset by server" in reason)
    return tried, survived, 0, "TCP resets: the reason says 'connection reset by server'"


# ---- images and data files ---------------------------------------------------------------------


def image_bombs(work: Path, trials: int) -> Result:
    bomb = write_bomb_png(work / "bomb.png")
    cut = write_truncated_png(work / "cut.png")
    release = tiny_release(work / "bomb-release", [release_row()], {
        "vscbench_image_centric_images/drugs/safe_0.png": bomb.read_bytes(),
        "vscbench_image_centric_images/drugs/unsafe_0.png": cut.read_bytes(),
    })  # fmt: skip
    tried = survived = 0
    peak_kb = 0
    for trial in range(trials):
        with FakeOpenAI() as fake:
            done = subprocess.run([*MEASURED_CLI, "run", "--data", str(release), "--subset", "image_centric", "--model",
                                   f"openai:fake@{fake.base_url}", "--store", str(work / f"bomb{trial}.sqlite"),
                                   "--allow-errors", "--json"],
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            sent = len(fake.completions())
        peak_kb = max(peak_kb, int(done.stderr.rsplit("VmHWM:", 1)[-1].split()[0]))
        with Store(work / f"bomb{trial}.sqlite") as store:
            responses = [r for _, r in store.run_items(next(i.name for i in store.list_runs())) if r]
        errors = [r.error for r in responses if r.outcome == "error"]
        answered = sum(r.outcome == "ok" for r in responses)  # the 4 good images (identical: one call)
        named = any("safe_0.png" in e and "20000x20000" in e for e in errors) and any(
            "unsafe_0.png" in e and "truncated" in e for e in errors
        )
        tried += 1
        survived += done.returncode == 0 and answered == 4 and sent == 1 and named and peak_kb < 1_000_000
    what = (f"a 20000x20000 PNG bomb and a truncated PNG in a CLI run: refused per sample, named; "
            f"peak RSS {peak_kb / 1024:.0f} MB")  # fmt: skip
    return tried, survived, 0, what


def zip_bombs(work: Path, trials: int) -> Result:
    from vscbench.fetch.release import UnsafeArchiveError, extract_image_folders

    tried = survived = lost = 0
    for trial in range(trials):
        archive = zip_bomb(work / f"zipbomb{trial}.zip", "vscbench_image_centric_images/drugs/huge.png")
        dest = work / f"zipdest{trial}"
        dest.mkdir()
        try:
            extract_image_folders(archive, dest)
        except UnsafeArchiveError:
            survived += 1
        tried += 1
        lost += sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    return tried, survived, lost, "zip bomb (16 MiB from 16 KiB): refused before writing; lost = bytes written"


def corrupt_parts(work: Path, trials: int) -> Result:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from vscbench.fetch.release import FetchError, download

    data = hashlib.sha256(b"x").digest() * 10_000
    buffer = work / "file.zip"
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.bin", data)
    payload = buffer.read_bytes()
    state = {"drop": True}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            start = int((self.headers.get("Range") or "bytes=0-").removeprefix("bytes=").split("-")[0])
            body = payload[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state["drop"]:
                state["drop"] = False
                self.wfile.write(body[: len(body) // 2])
                return
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/file.zip"
    tried = survived = 0
    for trial in range(trials):
        target = work / f"dl{trial}.zip"
        state["drop"] = True
        try:
            download(url, target, retries=0, show_progress=False)
        except FetchError:
            pass
        part = target.with_name(target.name + ".part")
        raw = bytearray(part.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # a flipped bit on disk
        part.write_bytes(bytes(raw))
        download(url, target, show_progress=False, expect_zip=True)
        tried += 1
        survived += target.read_bytes() == payload
    server.shutdown()
    what = "corrupt .part (a flipped bit): detected and restarted; lost = files spliced"
    return tried, survived, trials - survived, what


def foreign_stores(work: Path, trials: int) -> Result:
    tried = survived = 0
    for trial in range(trials):
        folder = work / f"foreign{trial}"
        folder.mkdir()
        (folder / "notes.csv").write_text("a,b\n1,2\n")
        other = sqlite3.connect(folder / "places.sqlite")
        other.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        other.commit()
        other.close()
        before = fingerprint(folder)
        for name in ("notes.csv", "places.sqlite"):
            try:
                Store(folder / name)
            except StoreError:
                survived += 1
            tried += 1
        survived -= 0 if fingerprint(folder) == before else 2
    return tried, survived, 0, "a CSV and another program's database as --store: refused, left byte for byte"


def outside_paths(work: Path, trials: int) -> Result:
    from vscbench.benchmarks.vscbench import load_vscbench

    secret = work / "secret" / "key.png"
    secret.parent.mkdir(exist_ok=True)
    write_truncated_png(secret, keep=1.0)
    tried = survived = lost = 0
    for trial in range(trials):
        row = release_row()
        row[2], row[3] = str(secret), "../../../secret/key.png"
        root = tiny_release(work / f"outside{trial}", [row])
        folder = root / "vscbench_image_centric_images" / "drugs"
        (folder / "unsafe_2.png").unlink()
        os.symlink(secret, folder / "unsafe_2.png")
        data = load_vscbench(root, warn=False)
        leaked = sum(1 for s in data.samples if s.image_path and Path(s.image_path).resolve() == secret.resolve())
        tried += 3
        survived += 3 - leaked
        lost += leaked
    return tried, survived, lost, "absolute, '..' and symlinked image paths out of the data folder: never read or sent"


def formulas(work: Path, trials: int) -> Result:
    tried = survived = 0
    for trial in range(trials):
        path = work / f"csv{trial}.sqlite"
        with Store(path) as store:
            items = [Sample(id=f"s{i}", subset="text_centric", category=c, variant="text", label="safe", prompt="p")
                     for i, c in enumerate(("=1+1", "+cmd", "-2", "@x"))]  # fmt: skip
            from vscbench.schema import Response, RunSpec

            store.start_run(RunSpec(name="r", model="m"), [(s, f"k{i}") for i, s in enumerate(items)])
            store.put_responses([Response(key=f"k{i}", sample_id=f"s{i}", model="m", outcome="ok",
                                          text='=HYPERLINK("http://e")') for i in range(4)])  # fmt: skip
            store.export("r", work / f"r{trial}.csv", format="csv")
        for row in csv.DictReader((work / f"r{trial}.csv").open(encoding="utf-8")):
            tried += 2
            survived += sum(not row[c].startswith(("=", "+", "-", "@")) for c in ("category", "text"))
    return tried, survived, 0, "CSV export cells starting with = + - @: neutralised"


def credentials(work: Path, trials: int) -> Result:
    tried = survived = 0
    for trial in range(trials):
        path = work / f"creds{trial}.sqlite"
        with FakeOpenAI() as fake:
            model = load_model(f"openai:fake@http://alice:s3cret@127.0.0.1:{fake.port}/v1", max_retries=0)
            run_samples_sync(model, samples(3), Store(path))
        tried += 1
        survived += all(b"s3cret" not in p.read_bytes() for p in work.glob(f"creds{trial}.sqlite*"))
    return tried, survived, 0, "user:password@ in the base URL: used to connect, absent from the store"


CASES: list[tuple[str, Callable[[Path, int], Result]]] = [
    ("unstorable answer text", unstorable_answers),
    ("markup/escapes in errors", hostile_error_text),
    ("disk full mid-run", disk_full),
    ("store locked too long", lock_timeout),
    ("SIGTERM mid-run", lambda w, t: signals(w, t, signal.SIGTERM)),
    ("SIGKILL mid-run", lambda w, t: signals(w, t, signal.SIGKILL)),
    ("two runs, one store", shared_store),
    ("refused API key", fatal_key),
    ("Retry-After 3600", long_retry_after),
    ("connection reset", connection_resets),
    ("image bomb + truncated", image_bombs),
    ("zip bomb", zip_bombs),
    ("corrupt .part", corrupt_parts),
    ("foreign --store file", foreign_stores),
    ("image path out of data", outside_paths),
    ("CSV formula injection", formulas),
    ("credentials in URL", credentials),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2, help="tries per case")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    from faults_ii import cases as issue_29_cases
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from vscbench.testing.placeholder import make_placeholder_release

    console = Console(width=200)
    table = Table(title=f"Fault cases (issue 11), {args.trials} tries each", title_justify="left")
    for column in ("case", "tried", "survived", "lost", "seconds", "what was checked"):
        table.add_column(column, justify="left" if column in ("case", "what was checked") else "right")
    second = Table(title="Cases of issue 29", title_justify="left")
    for column in ("case", "kind", "tried", "as promised", "seconds", "what was checked"):
        second.add_column(column, justify="left" if column in ("case", "kind", "what was checked") else "right")
    totals = {"fault": [0, 0], "input": [0, 0], "secret": [0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        release = make_placeholder_release(Path(tmp) / "release")
        everything = [(name, case, False) for name, case in CASES] + [(n, c, True) for n, c in issue_29_cases(release)]
        for index, (name, case, new) in enumerate(everything):
            if args.only and args.only not in name:
                continue
            work = Path(tmp) / f"case{index}"
            work.mkdir()
            started = time.perf_counter()
            if new:
                try:
                    kind, tried, survived, what = case(work)
                except Exception as exc:  # a case that crashes is a finding, not the end of the table
                    kind, tried, survived, what = "fault", 1, 0, f"CRASHED: {type(exc).__name__}: {exc}"
                totals[kind][0] += tried
                totals[kind][1] += survived
                took = f"{time.perf_counter() - started:.1f}"
                second.add_row(*(Text(c) for c in (name, kind, str(tried), str(survived), took, what)))
                continue
            try:
                tried, survived, lost, what = case(work, args.trials)
            except Exception as exc:
                tried, survived, lost, what = 0, 0, 0, f"CRASHED: {type(exc).__name__}: {exc}"
            totals["fault"][0] += 1  # one kind of fault, survived when every try was ("lost" is its own figure)
            totals["fault"][1] += tried > 0 and survived == tried
            cells = (name, str(tried), str(survived), str(lost), f"{time.perf_counter() - started:.1f}", what)
            table.add_row(*(Text(cell) for cell in cells))  # Text: '[/x]' in a description is not markup
    console.print(table)
    console.print(second)
    summary = Table(title="Summary", title_justify="left")
    for column in ("", "tried", "as promised", "not"):
        summary.add_column(column, justify="left" if not column else "right")
    for kind, label, missed in (("fault", "kinds of fault (survived)", "failed"),
                                ("input", "bad inputs (clear error or honoured)", "unclear"),
                                ("secret", "secrets planted (found nowhere)", "found")):  # fmt: skip
        tried, survived = totals[kind]
        summary.add_row(label, str(tried), str(survived), f"{tried - survived} {missed}")
    console.print(summary)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
