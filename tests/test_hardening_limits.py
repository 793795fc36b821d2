"""Limits every API backend keeps (issue 29): the same --timeout and retry budget for openai,
anthropic, google and a pool, a reply that drips one byte at a time ends at the deadline, and a
gzip reply that inflates to a gigabyte is refused in bounded memory. Real SDKs against servers
on 127.0.0.1 that stall, drip or bomb."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hostile import SlowServer, gzip_bomb, release_row, tiny_release
from vscbench.cli import app
from vscbench.models.base import load_model
from vscbench.schema import Message, Request
from vscbench.store import Store

KEY = "sk-test-SECRET-0123456789"
SPECS = {"openai": "openai:fake", "anthropic": "anthropic:claude-test", "google": "google:gemini-test"}


@pytest.fixture(autouse=True)
def keys(monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def url_for(backend: str, url: str) -> str:
    return url + "/v1" if backend in ("openai", "pool") else url


@pytest.mark.parametrize("backend", ["openai", "anthropic", "google", "pool"])
def test_every_backend_gets_the_timeout_and_the_retry_budget(tmp_path: Path, backend: str) -> None:
    release = tiny_release(tmp_path / "release", [release_row()])  # six identical images: one call
    with SlowServer("stall") as first, SlowServer("stall") as second:
        spec = SPECS["openai" if backend == "pool" else backend]
        urls = [url_for(backend, first.url)] + ([url_for(backend, second.url)] if backend == "pool" else [])
        args = ["run", "--data", str(release), "--subset", "image_centric", "--model", f"{spec}@{urls[0]}",
                "--timeout", "1", "--max-retries", "1", "--store", str(tmp_path / "runs.sqlite"), "--run", "r",
                "--allow-errors"]  # fmt: skip
        if backend == "pool":
            args[6] = spec
            args[7:7] = [item for url in urls for item in ("--base-url", url)]
        started = time.monotonic()
        result = CliRunner().invoke(app, args)
        elapsed = time.monotonic() - started
        posts = first.posts + second.posts
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "runs.sqlite") as store:
        (error,) = {response.error for _, response in store.run_items("r") if response}
    assert "timed out" in error, error
    # a try and one retry of one second each, not the SDK's default of 10 minutes
    assert posts == (4 if backend == "pool" else 2), (posts, error)
    assert elapsed < 30, elapsed


def ask() -> Request:
    return Request(sample_id="s", messages=[Message.user("hi")])


@pytest.mark.parametrize("backend", ["openai", "anthropic", "google", "pool"])
async def test_a_dripping_reply_ends_at_the_deadline(backend: str) -> None:
    with SlowServer("drip", interval=0.2) as server:
        spec = SPECS["openai" if backend == "pool" else backend]
        url = url_for(backend, server.url) + ("," if backend == "pool" else "")
        model = load_model(f"{spec}@{url}", timeout=1.0, max_retries=0)
        started = time.monotonic()
        (answer,) = await model.generate([ask()])
        elapsed = time.monotonic() - started
        await model.aclose()
    assert answer.outcome == "error" and "timed out" in answer.error, answer
    assert elapsed < 6, elapsed  # each byte came within the read timeout; the attempt's deadline ended it


BOMB_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from vscbench.models.base import load_model
    from vscbench.schema import Message, Request

    async def main():
        model = load_model(sys.argv[1], max_retries=0, timeout=30.0)
        (answer,) = await model.generate([Request(sample_id="s", messages=[Message.user("hi")])])
        await model.aclose()
        return answer

    answer = asyncio.run(main())
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(json.dumps({"outcome": answer.outcome, "error": answer.error, "peak_kb": int(peak.split()[1])}))
    """
)


@pytest.mark.parametrize("backend", ["openai", "anthropic", "google"])
def test_a_gzip_bomb_is_refused_in_bounded_memory(backend: str) -> None:
    with SlowServer("bomb", body=gzip_bomb(2**30)) as server:
        done = subprocess.run(
            [sys.executable, "-c", BOMB_SCRIPT, f"{SPECS[backend]}@{url_for(backend, server.url)}"],
            capture_output=True, text=True, timeout=120,
            env={**__import__("os").environ, "ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "error" and "larger than" in result["error"], result
    assert result["peak_kb"] < 400_000, result  # the body inflates to 1 GiB
