"""The cases of issue 29 for bench/bench_faults.py: faults (a server that stalls, drips or sends
a gzip bomb, SIGTERM with SIGINT ignored, a full disk under report and export, a read-only
store, a 10 MB answer in the report, 4,000 rows sharing an image), bad inputs (each should end in
a clear one-line error, or be honoured), and secrets planted in every place a user may put one.

Every case drives the command line in a subprocess (and the library only where the CLI cannot
reach), so the same file measures an older checkout: ``PYTHONPATH=OLD/src python
bench/bench_faults.py --only ii``. A case returns ``(kind, tried, survived, what)``, kind being
``fault``, ``input`` or ``secret`` (survived: the secret was found nowhere).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from fake_openai import FakeOpenAI, Fault

from hostile import SlowServer, gzip_bomb, release_row, shared_image_release, tiny_release

KEY = "sk-bench-SECRET-0123456789"
ENV = {**os.environ, "ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, "OPENAI_API_KEY": KEY}
CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'vscbench'; from vscbench.cli import main; main()"]
PEAK = (
    "import atexit, sys\n"
    "peak = lambda: next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
    "atexit.register(lambda: print(peak(), file=sys.stderr))\n"
)
MEASURED = [sys.executable, "-c", PEAK + "sys.argv[0] = 'vscbench'\nfrom vscbench.cli import main; main()"]
Case = tuple[str, int, int, str]


def cli(args: list, timeout: float = 120, env: dict | None = None, measured: bool = False) -> tuple[int, str, float]:
    """(exit code, stdout + stderr, seconds); exit code -9 when the command ran past ``timeout``."""
    started = time.monotonic()
    try:
        done = subprocess.run([*(MEASURED if measured else CLI), *args], capture_output=True, timeout=timeout,
                              env=env or ENV)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        return -9, out.decode("utf-8", "replace"), time.monotonic() - started
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace"), time.monotonic() - started


def clear(code: int, output: str, *needles: str) -> bool:
    """An error a user can act on: exit 1 or 2, no traceback, the needles in the message."""
    flat = " ".join(output.split())
    return code in (1, 2) and "Traceback" not in output and all(n in flat for n in needles)


def peak_mb(output: str) -> float:
    try:
        return int(output.rsplit("VmHWM:", 1)[1].split()[0]) / 1024
    except (IndexError, ValueError):
        return float("nan")


def _url(backend: str, url: str) -> str:
    return url + "/v1" if backend in ("openai", "pool") else url


SPECS = {"openai": "openai:fake", "anthropic": "anthropic:claude-test", "google": "google:gemini-test"}


# ---- faults -----------------------------------------------------------------------------------


def stalls(work: Path) -> Case:
    release = tiny_release(work / "release", [release_row()])
    tried = survived = 0
    notes = []
    for backend in ("openai", "anthropic", "google", "pool"):
        with SlowServer("stall") as one, SlowServer("stall") as two:
            urls = [_url(backend, one.url)] + ([_url(backend, two.url)] if backend == "pool" else [])
            spec = SPECS["openai" if backend == "pool" else backend]
            model = ["--model", spec, *(x for u in urls for x in ("--base-url", u))] if backend == "pool" else [
                "--model", f"{spec}@{urls[0]}"]  # fmt: skip
            code, _, seconds = cli(["run", "--data", str(release), "--subset", "image_centric", *model, "--timeout", "1",
                                    "--max-retries", "1", "--store", str(work / f"{backend}.sqlite"), "--allow-errors"],
                                   timeout=45)  # fmt: skip
            posts = one.posts + two.posts
        tried += 1
        survived += code == 0 and seconds < 30 and posts == (4 if backend == "pool" else 2)
        notes.append(f"{backend} {seconds:.0f} s/{posts} tries")
    return "fault", tried, survived, f"stuck server, --timeout 1 --max-retries 1: {', '.join(notes)} (killed at 45 s)"


def drips(work: Path) -> Case:
    release = tiny_release(work / "release", [release_row()])
    tried = survived = 0
    notes = []
    for backend in ("openai", "anthropic", "google", "pool"):
        with SlowServer("drip", interval=0.3) as server:
            url = _url(backend, server.url) + ("," if backend == "pool" else "")
            code, _, seconds = cli(["run", "--data", str(release), "--subset", "image_centric", "--model",
                                    f"{SPECS['openai' if backend == 'pool' else backend]}@{url}", "--timeout", "2",
                                    "--max-retries", "0", "--store", str(work / f"{backend}.sqlite"), "--allow-errors"],
                                   timeout=45)  # fmt: skip
        tried += 1
        survived += code == 0 and seconds < 20
        notes.append(f"{backend} {seconds:.0f} s")
    return "fault", tried, survived, f"a reply that drips a byte every 0.3 s, --timeout 2: {', '.join(notes)}"


def bombs(work: Path) -> Case:
    release = tiny_release(work / "release", [release_row()])
    body = gzip_bomb(2**30)
    tried = survived = 0
    notes = []
    for backend in ("openai", "anthropic", "google"):
        with SlowServer("bomb", body=body) as server:
            code, output, _ = cli(["run", "--data", str(release), "--subset", "image_centric", "--model",
                                   f"{SPECS[backend]}@{_url(backend, server.url)}", "--max-retries", "0", "--store",
                                   str(work / f"{backend}.sqlite"), "--allow-errors"], timeout=180, measured=True)  # fmt: skip
        peak = peak_mb(output)
        tried += 1
        survived += code == 0 and peak < 400 and "larger than" in output
        notes.append(f"{backend} {peak:.0f} MB")
    return "fault", tried, survived, f"gzip reply inflating to 1 GiB, peak RSS: {', '.join(notes)}"


def sigterm_with_sigint_ignored(work: Path) -> Case:
    samples = work / "samples.jsonl"
    samples.write_text("".join(json.dumps({"id": f"s{i}", "subset": "text_centric", "category": "c", "variant": "text",
                                           "label": "safe", "prompt": f"question {i}"}) + "\n" for i in range(40)))  # fmt: skip
    store = work / "runs.sqlite"
    script = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n" + CLI[2]
    with FakeOpenAI(latency=0.3) as fake:
        process = subprocess.Popen([sys.executable, "-c", script, "run", "--data", str(samples), "--model",
                                    f"openai:fake@{fake.base_url}", "--run", "r", "--store", str(store), "--concurrency",
                                    "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)  # fmt: skip
        deadline = time.monotonic() + 30
        while len(fake.completions()) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
            ended = True
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            ended = False
    status = sqlite3.connect(store).execute("SELECT status FROM runs WHERE name = 'r'").fetchone()
    ok = ended and status is not None and status[0] == "interrupted"
    return "fault", 1, int(ok), f"SIGTERM to `run &` (SIGINT ignored): ended {ended}, status {status and status[0]}"


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv.pop(1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv[0] = "vscbench"
    from vscbench.cli import main
    main()
""")


def _store_with_long_answers(work: Path) -> Path:
    store = work / "long.sqlite"
    samples = work / "long.jsonl"
    samples.write_text("".join(json.dumps({"id": f"s{i}", "subset": "text_centric", "category": "c", "variant": "text",
                                           "label": "safe" if i % 2 else "unsafe", "prompt": f"question {i} " * 300})
                               + "\n" for i in range(60)))  # fmt: skip
    code, output, _ = cli(["run", "--data", str(samples), "--model", "scripted:keyword", "--run", "r", "--judge",
                           "offline", "--store", str(store)])  # fmt: skip
    assert code == 0, output[-1000:]
    return store


def full_disk(work: Path) -> Case:
    store = _store_with_long_answers(work)
    tried = survived = 0
    for command, name in ((["runs", "export", "r"], "r.jsonl"), (["runs", "export", "r", "--format", "csv"], "r.csv"),
                          (["report", "--run", "r", "--no-thumbnails"], "r.html")):  # fmt: skip
        out = work / "out" / name
        out.parent.mkdir(exist_ok=True)
        out.write_text("previous good file\n")
        done = subprocess.run([sys.executable, "-c", FULL_DISK, str(48 * 1024), *command, "--out", str(out), "--store",
                               str(store)], capture_output=True, text=True, timeout=120, env=ENV)  # fmt: skip
        tried += 1
        survived += clear(done.returncode, done.stdout + done.stderr) and out.read_text() == "previous good file\n"
    return "fault", tried, survived, "disk full while report / runs export write: previous file kept, one line"


def read_only_report(work: Path) -> Case:
    from vscbench.report.build import write_store_report
    from vscbench.store import Store

    release = tiny_release(work / "release", [release_row()])
    store = work / "ro.sqlite"
    _code, output, _ = cli(["run", "--data", str(release), "--model", "scripted:keyword", "--run", "r", "--judge",
                           "offline", "--store", str(store)])  # fmt: skip
    try:
        with Store(store, read_only=True) as opened:
            write_store_report(opened, work / "ro.html", ["r"])
        ok = (work / "ro.html").is_file()
    except Exception as exc:
        ok, output = False, f"{type(exc).__name__}"
    return "fault", 1, int(ok), f"report of a store opened read-only: {'written' if ok else output[:60]}"


def long_text(work: Path) -> Case:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_report_text import TAB_TIME, build
    from playwright.sync_api import sync_playwright

    page_path = build(work, 2_000_000, 10_000_000)
    chromium = os.environ.get("VSCBENCH_CHROMIUM") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(180_000)
        page.goto(page_path.as_uri())
        page.wait_for_selector("html[data-ready='1']")
        seconds = [page.evaluate(TAB_TIME, tab) / 1000 for tab in ("samples-view", "twins-view", "versus-view")]
        browser.close()
    ok = max(seconds) < 2
    times = ", ".join(f"{s:.1f}" for s in seconds)
    return "fault", 1, int(ok), f"2M-character prompt + 10 MB answer: Samples, Twins, Run vs run tabs in {times} s"


def shared_images(work: Path) -> Case:
    root = shared_image_release(work / "release", 4000)
    code, output, seconds = cli(["data", "check", str(root), "--json", "--no-decode"], timeout=600, measured=True)
    peak = peak_mb(output)
    ok = code in (0, 1) and peak < 500
    return "fault", 1, int(ok), f"data check, 4,000 rows sharing six images: peak {peak:.0f} MB, {seconds:.0f} s"


# ---- bad inputs -------------------------------------------------------------------------------

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "lolololololololololololololololol">'
    + b"".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10))
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
    b'<c r="A1" t="inlineStr"><is><t>&l9;</t></is></c></row></sheetData></worksheet>'
)


def _with_member(xlsx: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(xlsx) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(xlsx, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def broken_workbooks(work: Path) -> Case:
    tried = handled = 0
    for kind in ("truncated", "entity_bomb"):
        root = tiny_release(work / kind, [release_row()])
        xlsx = root / "vscbench_image_centric.xlsx"
        sheet = zipfile.ZipFile(xlsx).read("xl/worksheets/sheet1.xml")
        _with_member(xlsx, "xl/worksheets/sheet1.xml", sheet[: len(sheet) // 2] if kind == "truncated" else ENTITY_BOMB)
        code, output, _ = cli(["data", "check", str(root)])
        tried += 1
        handled += code == 1 and "Traceback" not in output and "unreadable_file" in output
        code, output, _ = cli(["run", "--data", str(root), "--model", "scripted:keyword", "--store",
                               str(work / f"{kind}.sqlite")])  # fmt: skip
        tried += 1
        handled += clear(code, output, "vscbench_image_centric.xlsx")
    return "input", tried, handled, "malformed XML and an entity bomb in an .xlsx: data check and run"


def _dry_runs(output: str) -> list[dict]:
    """The runs of `run --dry-run --json`: a list before issue 27, then under "runs" of the estimate."""
    printed = json.loads(output)
    return printed["runs"] if isinstance(printed, dict) else printed


def options_and_config(work: Path, release: Path) -> Case:
    store = ["--store", str(work / "s.sqlite")]
    base = ["run", "--data", str(release), "--model", "scripted:keyword", *store]
    checks: list[tuple[str, Callable[[int, str], bool], list[str]]] = [
        ("-B varients=", lambda c, o: clear(c, o, "varients", "did you mean"), [*base, "-B", "varients=typography"]),
        ("-B variants= honoured", lambda c, o: c == 0 and _dry_runs(o)[0]["samples"] == 450,
         [*base, "-B", "variants=typography", "-B", "subset=text_centric", "--dry-run", "--json"]),
        ("--variant typo", lambda c, o: clear(c, o, "typography"), [*base, "--variant", "typografy"]),
        ("--category typo", lambda c, o: clear(c, o, "homonyms"), [*base, "--category", "homonym"]),
        ("--subset text-only", lambda c, o: c == 0 and _dry_runs(o)[0]["samples"] == 450,
         [*base, "--subset", "text-only", "--dry-run", "--json"]),
        ("--subset typo", lambda c, o: clear(c, o, "text_centric"), [*base, "--subset", "text_centrc"]),
    ]  # fmt: skip
    # files in the flat layout, which every version reads (sections came with issue 25)
    configs = {
        "[benchmark_options] typo": ((f'models = ["scripted:keyword"]\ndata = "{release}"\n'
                                     "[benchmark_options]\nstrickt = false\n"), ("strickt",)),
        "rule value typo": (f'models = ["scripted:keyword"]\ndata = "{release}"\nrule = "papr"\n',
                            ("did you mean 'paper'",)),
        "max-tokens spelt as the option": ((f'models = ["scripted:keyword"]\ndata = "{release}"\nlimit = 4\n'
                                           "max-tokens = 100\n"), ()),
    }  # fmt: skip
    tried = handled = 0
    for _, check, args in checks:
        code, output, _ = cli(args)
        tried += 1
        handled += bool(check(code, output))
    for index, (name, (text, needles)) in enumerate(configs.items()):
        path = work / f"exp{index}.toml"
        path.write_text(text)
        code, output, _ = cli(["run", "--config", str(path), *store])
        tried += 1
        handled += code == 0 if not needles else clear(code, output, *needles)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
    )
    path = work / "bomb.yaml"
    csv_file = work / "x.csv"
    csv_file.write_text("id,prompt,type,label\n1,hi,homonyms,safe\n")
    path.write_text("models: [scripted:keyword]\nbenchmark: xstest\ndata: " + str(csv_file) + "\n"
                    "benchmark_options:\n" + "".join(f"  {line}\n" for line in bomb.splitlines()))  # fmt: skip
    code, output, _ = cli(["run", "--config", str(path), *store], timeout=120)
    tried += 1
    handled += clear(code, output)
    return "input", tried, handled, "benchmark options, variants, categories, subsets, config keys and values"


def text_that_is_not_text(work: Path) -> Case:
    store = ["--store", str(work / "s.sqlite")]
    rows = work / "surrogate.jsonl"
    rows.write_text(json.dumps({"id": "s1", "subset": "text_centric", "category": "c", "variant": "text",
                                "label": "safe", "prompt": "half \ud800 an emoji"}) + "\n")  # fmt: skip
    tried = handled = 0
    code, output, _ = cli(["run", "--data", str(rows), "--model", "scripted:keyword", *store])
    tried += 1
    handled += clear(code, output, "surrogate.jsonl") and "codec can't" not in output
    release = tiny_release(work / "release", [release_row()])
    code, output, _ = cli(["run", "--data", str(release), "--model", "scripted:keyword", "--system-prompt",
                           os.fsdecode(b"be safe \xff"), *store])  # fmt: skip
    tried += 1
    handled += clear(code, output, "--system-prompt") and "codec can't" not in output
    import pyarrow as pa
    import pyarrow.parquet as pq

    wrong = work / "parquet.jsonl"
    pq.write_table(pa.table({"id": ["s0"], "prompt": ["hello"]}), wrong)
    code, output, _ = cli(["run", "--data", str(wrong), "--model", "scripted:keyword", *store])
    tried += 1
    handled += clear(code, output, "parquet.jsonl") and "codec can't" not in output
    config = work / "escapes.toml"
    config.write_text(f'models = ["scripted:keyword"]\nrun_name = "evil\\u001b]0;owned\\u0007\\u001b[2J"\n'
                      f'data = "{release}"\n')  # fmt: skip
    cli(["run", "--config", str(config), *store])
    code, output, _ = cli(["runs", "list", *store])
    tried += 1
    handled += "\x1b" not in output and "evil" in output
    return "input", tried, handled, "lone surrogate in JSONL, bad byte in --system-prompt, parquet as .jsonl, escapes"


def keys_before_calls(work: Path, release: Path) -> Case:
    env = {k: v for k, v in ENV.items() if k != "OPENAI_API_KEY"}
    tried = handled = 0
    with FakeOpenAI() as fake:
        code, output, _ = cli(["run", "--data", str(release), "--model", f"openai:fake@{fake.base_url}", "--limit", "4",
                               "--judge", "openai:gpt-4o-mini", "--store", str(work / "s.sqlite")], env=env)  # fmt: skip
        sent = len(fake.completions())
    tried += 1
    handled += clear(code, output, "OPENAI_API_KEY") and sent == 0
    code, output, _ = cli(["quickstart", "--model", "openai:gpt-4o-mini", "--data", str(release), "--store",
                           str(work / "q.sqlite")], env=env)  # fmt: skip
    tried += 1
    handled += clear(code, output, "OPENAI_API_KEY") and "running" not in output
    return "input", tried, handled, "a missing key, the LLM judge's and quickstart's: refused before any call"


# ---- secrets ----------------------------------------------------------------------------------


def secrets(work: Path, release: Path) -> Case:
    planted = {
        "-M api_key": "sk-optionSECRET0123456789abcdef", "Authorization header": "tok-headerSECRET0123456789",
        "x-api-key header": "xkey-headerSECRET9876543210", "?api-key= in the URL": "querySECRET0123456789",
        "password in the URL": "urlSECRETpw42", "judge api_key": "sk-judgeSECRET0123456789abcdef",
        "server echoing Basic auth": base64.b64encode(b"alice:echoedSECRET").decode(),
    }  # fmt: skip
    store = work / "leaky.sqlite"
    with FakeOpenAI() as fake:
        fake.fail(None, Fault("status", 400, code="bad",
                              message=f"rejected Authorization: Basic {planted['server echoing Basic auth']}"), times=2)  # fmt: skip
        url = f"http://bob:{planted['password in the URL']}@127.0.0.1:{fake.port}/v1?api-key={planted['?api-key= in the URL']}"
        config = work / "leaky.toml"
        config.write_text(  # the flat layout, which every version reads
            f'models = ["openai:fake-model@{url}"]\ndata = "{release}"\nsubset = "text_centric"\nlimit = 6\n'
            f'judges = ["offline"]\n[execution]\nmax_retries = 0\n[model_options]\napi_key = "{planted["-M api_key"]}"\n'
            f'[model_options.default_headers]\nAuthorization = "Bearer {planted["Authorization header"]}"\n'
            f'"x-api-key" = "{planted["x-api-key header"]}"\n[judge_options]\napi_key = "{planted["judge api_key"]}"\n'
        )  # fmt: skip
        outputs = [cli(["run", "--config", str(config), "--store", str(store), "--run", "leaky", "--allow-errors"])[1]]
    for args in (["runs", "show", "leaky"], ["runs", "show", "leaky", "--json"], ["score", "--run", "leaky"],
                 ["runs", "export", "leaky", "--out", str(work / "r.jsonl")],
                 ["runs", "export", "leaky", "--out", str(work / "r.csv"), "--format", "csv"],
                 ["report", "--run", "leaky", "--out", str(work / "r.html")],
                 ["export-inspect", "--run", "leaky", "--out", str(work / "r.json")]):  # fmt: skip
        outputs.append(cli([*args, "--store", str(store)])[1])
    blobs = [text.encode() for text in outputs]
    blobs += [p.read_bytes() for p in work.iterdir() if p.is_file() and p.suffix != ".toml"]
    found = [name for name, secret in planted.items() if any(secret.encode() in blob for blob in blobs)]
    line_key = {**ENV, "OPENAI_API_KEY": "sk-firstPART0123456789\nsecondPART987654"}
    with FakeOpenAI() as fake:
        _, output, _ = cli(["run", "--data", str(release), "--model", f"openai:fake@{fake.base_url}", "--limit", "2",
                            "--store", str(work / "line.sqlite")], env=line_key)  # fmt: skip
    if "secondPART" in output or any(b"secondPART" in p.read_bytes() for p in work.glob("line.sqlite*")):
        found.append("second line of a key")
    tried = len(planted) + 1
    return (
        "secret",
        tried,
        tried - len(found),
        "found: " + (", ".join(found) or "none") + " (store, show, export, score, report, Inspect log, errors)",
    )


def cases(release: Path) -> list[tuple[str, Callable[[Path], Case]]]:
    """The issue-29 cases with their names (``release``: a placeholder release folder)."""
    return [
        ("ii stuck server", stalls),
        ("ii dripping reply", drips),
        ("ii gzip bomb", bombs),
        ("ii SIGTERM, SIGINT ignored", sigterm_with_sigint_ignored),
        ("ii full disk on outputs", full_disk),
        ("ii report, read-only store", read_only_report),
        ("ii long text in report", long_text),
        ("ii rows sharing images", shared_images),
        ("ii broken workbooks", broken_workbooks),
        ("ii options and config", lambda work: options_and_config(work, release)),
        ("ii text that is not text", text_that_is_not_text),
        ("ii keys before calls", lambda work: keys_before_calls(work, release)),
        ("ii secrets", lambda work: secrets(work, release)),
    ]
