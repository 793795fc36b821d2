"""Runs that must finish, stop or share honestly (issue 11): unstorable text from any backend,
a refused key or unknown model, a disk that fills up mid-run, two processes on one store, and
SIGTERM. Local fake servers, tiny inputs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Fault

from vscbench.engine.runner import run_samples_sync
from vscbench.models.base import Generation, ModelSpec
from vscbench.models.openai import OpenAIModel
from vscbench.schema import Request, Sample
from vscbench.store import Store, StoreError

REPO = Path(__file__).resolve().parents[1]


def samples(n: int) -> list[Sample]:
    return [
        Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe", prompt=f"question {i}")
        for i in range(n)
    ]


class Scripted:
    """A backend in this process whose answers (or side effects) a test writes."""

    max_batch_size = 1

    def __init__(self, answer) -> None:
        self.spec = ModelSpec("scripted", "hostile")
        self.answer = answer
        self.calls = 0

    async def generate(self, requests: list[Request]) -> list[Generation]:
        self.calls += 1
        return [self.answer(self.calls, request) for request in requests]

    async def aclose(self) -> None:
        pass


def test_unstorable_text_from_any_backend_does_not_stop_the_run(tmp_path: Path) -> None:
    model = Scripted(lambda n, r: Generation("ok", text=f"answer {r.sample_id} \ud800\x00 end"))
    store = Store(tmp_path / "runs.sqlite")
    summary = run_samples_sync(model, samples(4), store, run_name="r", concurrency=2)
    assert (summary.ok, summary.error) == (4, 0)
    assert store.run_info("r").status == "complete"
    for _, response in store.run_items("r"):
        assert response.text.endswith("\ufffd\ufffd end") and "replaced by U+FFFD" in response.error


@pytest.mark.parametrize(
    ("fault", "advice"),
    [
        (Fault("status", 401, code="invalid_api_key", message="Incorrect API key provided: sk-bad***"), "API key"),
        (Fault("status", 404, code="model_not_found", message="The model `nope` does not exist"), "model"),
        (Fault("status", 403, code="unsupported_country", message="Country not supported"), "access was denied"),
    ],
    ids=["401", "404", "403"],
)
def test_a_fatal_provider_error_stops_after_the_first_few_calls(tmp_path: Path, fault: Fault, advice: str) -> None:
    with FakeOpenAI() as fake:
        fake.fail(None, fault, times=None)
        model = OpenAIModel(ModelSpec("openai", "nope", fake.base_url), max_retries=0)
        store = Store(tmp_path / "runs.sqlite")
        summary = run_samples_sync(model, samples(100), store, run_name="r", concurrency=4)
        sent = len(fake.completions())
    assert sent <= 3 + 4  # the limit, plus the calls already in flight
    assert summary.stopped and f"HTTP {fault.status}" in summary.stopped and advice in summary.stopped
    assert summary.error == sent and summary.sent == sent
    assert store.run_info("r").status == "incomplete"


def test_a_success_between_fatal_errors_keeps_the_run_going(tmp_path: Path) -> None:
    def answer(n: int, request: Request) -> Generation:
        return Generation("error", error="HTTP 404: no such thing") if n % 2 else Generation("ok", text="fine")

    model = Scripted(answer)
    summary = run_samples_sync(model, samples(12), Store(tmp_path / "runs.sqlite"), run_name="r", concurrency=1)
    assert summary.stopped is None and model.calls == 12


def test_a_disk_filling_up_mid_run_stops_with_one_error_and_keeps_the_answers(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = Store(path)

    def answer(n: int, request: Request) -> Generation:
        if n == 4:  # the disk fills up: nothing more fits
            pages = store.database.connection.execute("PRAGMA page_count").fetchone()[0]
            store.database.connection.execute(f"PRAGMA max_page_count = {pages}")
        return Generation("ok", text="x" * 5000)

    with pytest.raises(StoreError) as caught:
        run_samples_sync(Scripted(answer), samples(10), store, run_name="r", concurrency=1)
    message = str(caught.value)
    assert str(path) in message and "disk is full" in message and "Answers already received are kept" in message
    store.close()
    with Store(path) as reopened:
        assert sum(1 for _, response in reopened.run_items("r") if response is not None) == 3


RUNNER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from vscbench.models.base import load_model
    from vscbench.engine.runner import LocalExecutor, run_samples
    from vscbench.schema import Sample
    from vscbench.store import Store

    url, store_path, n, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    samples = [Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe",
                      prompt=f"question {i}") for i in range(n)]
    executor = LocalExecutor(load_model(f"openai:fake@{url}", max_retries=0), concurrency=4, lease_s=5, poll_s=0.2)
    print("started", flush=True)
    summary = asyncio.run(run_samples(executor, samples, Store(store_path), run_name=run))
    print("sent", summary.sent, flush=True)
    """
)


def _run_process(url: str, store: Path, n: int, run: str, ignore_sigint: bool = False) -> subprocess.Popen:
    """The runner in a process of its own; ``ignore_sigint`` has it ignore SIGINT, as a command
    started with ``&`` in a script does."""
    script = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n" if ignore_sigint else "") + RUNNER_SCRIPT
    return subprocess.Popen(
        [sys.executable, "-c", script, url, str(store), str(n), run],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


def test_two_processes_on_one_store_do_not_send_the_same_calls(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    Store(store).close()
    with FakeOpenAI(latency=0.15) as fake:
        first = _run_process(fake.base_url, store, 24, "a")
        time.sleep(0.3)
        second = _run_process(fake.base_url, store, 24, "b")
        outputs = [process.communicate(timeout=120) for process in (first, second)]
        prompts = Counter(request.prompt for request in fake.completions())
    for process, (out, err) in zip((first, second), outputs):
        assert process.returncode == 0, err
    assert len(prompts) == 24 and max(prompts.values()) == 1, prompts  # every call sent exactly once
    sent = [int(out.split("sent")[1]) for out, _ in outputs]
    assert sum(sent) == 24 and min(sent) > 0  # both did part of the work
    with Store(store) as shared:
        assert {shared.run_info(name).status for name in ("a", "b")} == {"complete"}


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["default", "sigint_ignored"])
def test_sigterm_ends_a_run_like_ctrl_c(tmp_path: Path, ignore_sigint: bool) -> None:
    store = tmp_path / "runs.sqlite"
    with FakeOpenAI(latency=0.3) as fake:
        process = _run_process(fake.base_url, store, 40, "r", ignore_sigint)
        deadline = time.monotonic() + 30
        while len(fake.completions()) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode != 0 and "sent" not in out
    with Store(store) as reopened:
        info = reopened.run_info("r")
        assert info.status == "interrupted", (info.status, err[-500:])
        assert 0 < sum(info.counts.values()) < 40  # the answers received before are kept
    assert json.dumps(info.counts)
