"""`vscbench run` end to end in subprocesses: kill -9 and resume, two writers, dry runs, `runs`."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_openai import FakeOpenAI

from vscbench.benchmarks.vscbench import load_vscbench
from vscbench.engine.requests import select_samples
from vscbench.engine.runner import plan_run
from vscbench.models.base import load_model
from vscbench.schema import GenerationConfig
from vscbench.store import Store

CLI = [sys.executable, "-c", "from vscbench.cli import main; main()"]


def vscbench(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def stored_keys(path: Path) -> set[str]:
    with Store(path) as store:
        return {key for (key,) in store.database.query("SELECT key FROM responses WHERE outcome = 'ok'")}


def request_signatures(spec: str, release: Path, limit: int) -> dict[str, str]:
    """response key -> the exact messages the backend sends for it (to identify server requests)."""
    samples = select_samples(load_vscbench(release, warn=False).samples, limit=limit, seed=0)
    model = load_model(spec, api_key="sk-unused")
    with Store(":memory:") as scratch:
        plan = plan_run(spec, samples, scratch, GenerationConfig())

    async def bodies() -> dict[str, str]:
        return {key: json.dumps((await model.request_body(r))["messages"]) for key, r in plan.todo.items()}

    return asyncio.run(bodies())


def test_killed_run_resumes_without_repeating_answered_calls(tmp_path: Path, release_template: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    with FakeOpenAI(latency=0.2) as fake:
        spec = f"openai:fake@{fake.base_url}"
        args = ("run", "--data", release_template, "--model", spec, "--limit", 32, "--concurrency", 4,
                "--store", store_path, "--run", "r", "--max-retries", 0)  # fmt: skip
        process = vscbench(*args)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not store_path.exists() or len(stored_keys(store_path)) < 8):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        answered_before = stored_keys(store_path)
        first_requests = len(fake.completions())
        fake.clear()
        assert 8 <= len(answered_before) < 32, "the kill should land mid-run"

        finish(vscbench(*args))
        resent = [json.dumps(r.body["messages"]) for r in fake.completions()]

    signatures = request_signatures(spec, release_template, 32)
    with Store(store_path) as store:
        items = list(store.run_items("r"))
        assert len(items) == 32 and all(r is not None and r.outcome == "ok" for _, r in items)
        rows = store.database.query("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses")[0]
    assert rows[0] == rows[1] == len(signatures)  # exactly one stored response per key
    expected = {signatures[key] for key in signatures if key not in answered_before}
    assert sorted(resent) == sorted(expected)  # only unanswered calls were sent, each once
    assert first_requests + len(resent) >= len(signatures)


def test_two_processes_share_one_store(tmp_path: Path, release_template: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    with FakeOpenAI(latency=0.02) as fake:
        args = ("run", "--data", release_template, "--model", f"openai:fake@{fake.base_url}", "--limit", 60,
                "--concurrency", 8, "--store", store_path, "--run", "shared")  # fmt: skip
        first, second = vscbench(*args), vscbench(*args)
        finish(first)
        finish(second)
        other = vscbench("run", "--data", release_template, "--model", "scripted:keyword", "--limit", 60,
                         "--store", store_path)  # fmt: skip
        finish(other)
    with Store(store_path) as store:
        assert store.database.query("PRAGMA integrity_check") == [("ok",)]
        total, distinct = store.database.query("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses")[0]
        assert total == distinct
        for run in ("shared", "keyword"):
            items = list(store.run_items(run))
            assert len(items) == 60 and all(r is not None and r.outcome == "ok" for _, r in items)
        assert store.database.query("SELECT COUNT(*) FROM run_items WHERE run = 'shared'") == [(60,)]


def test_dry_run_counts_and_runs_commands(tmp_path: Path, release_template: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    base = ("run", "--data", release_template, "--model", "scripted:keyword", "--subset", "image_centric",
            "--variant", "slot_0", "--store", store_path, "--json")  # fmt: skip
    done = json.loads(finish(vscbench(*base, "--limit", 20)))[0]
    assert (done["sent"], done["ok"], done["run"]) == (done["unique"], 20 - done["blocked"] - done["error"], "keyword")

    again = json.loads(finish(vscbench(*base, "--limit", 20, "--dry-run")))["runs"][0]
    assert (again["cached"], again["would_send"]) == (done["unique"], 0)
    estimate = json.loads(finish(vscbench(*base, "--dry-run")))
    wider = estimate["runs"][0]
    assert estimate["calls"] == wider["would_send"] and estimate["cost_usd"] == 0.0  # a local model costs nothing
    samples = select_samples(load_vscbench(release_template, warn=False).samples, "image_centric", ["slot_0"])
    assert wider["samples"] == len(samples) and wider["cached"] == done["unique"]
    assert wider["would_send"] == wider["unique"] - done["unique"]
    with Store(store_path) as store:  # dry runs wrote nothing
        assert [info.name for info in store.list_runs()] == ["keyword"]
        assert store.database.query("SELECT COUNT(*) FROM responses") == [(done["unique"],)]

    listed = json.loads(finish(vscbench("runs", "list", "--store", store_path, "--json")))
    assert [(r["run"], r["items"], r["missing"], r["status"]) for r in listed] == [("keyword", 20, 0, "complete")]
    shown = json.loads(finish(vscbench("runs", "show", "keyword", "--store", store_path, "--json")))
    assert shown["spec"]["limit"] == 20 and shown["spec"]["variants"] == ["slot_0"]
    finish(vscbench("runs", "export", "keyword", "--out", tmp_path / "k.csv", "--format", "csv", "--store", store_path))
    with (tmp_path / "k.csv").open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 20 and {row["outcome"] for row in exported} <= {"ok", "blocked", "error"}
    missing = vscbench("runs", "show", "nope", "--store", store_path)
    _, err = missing.communicate(timeout=60)
    assert missing.returncode == 2 and "no run named 'nope'" in err
