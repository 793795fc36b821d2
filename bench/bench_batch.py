"""Provider batch execution: client work per batched call, memory while building and parsing the
JSONL, and the issue's "done when" run. Prints figures only; the fake provider
(``tests/fake_batch.py``) runs in its own process.

Phases (each in a fresh subprocess, so its peak RSS is its own):

- ``build``: encode N requests (the placeholder release's prompts and images, topped up to N)
  with the OpenAI batch adapter into a JSONL file, as the executor builds a batch;
- ``parse``: stream-parse an output file of N result lines into stored-response records;
- ``pipeline``: ``run_samples`` on a ``BatchExecutor`` against the local provider, N requests in
  batches of 5,000 (upload, create, poll, download, parse, store); "calls per second of client
  work" is N over the client process's CPU seconds (user + system), so waiting is not counted.

``--done-when``: a 4,050-sample run plus its LLM judge through ``vscbench run --execution batch``;
SIGKILL after the model's batches are submitted, a rerun that must send no model request again,
answers compared with a synchronous run's, cost per run with the batch discount, and the
dry run's estimate against the provider's counts.

    python bench/bench_batch.py [--requests 20000] [--phase all|build|parse|pipeline] [--done-when]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def rss_mb() -> float:
    """The current resident set size, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Provider:
    """``python tests/fake_batch.py`` in a subprocess."""

    def __enter__(self) -> Self:
        self.process = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_batch.py")], stdout=subprocess.PIPE,
                                        text=True)  # fmt: skip
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/fake/stats") as reply:
            return json.loads(reply.read())

    def hold(self, on: bool) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/fake/hold", json.dumps({"on": on}).encode())
        urllib.request.urlopen(request).read()

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def workload(count: int) -> list[Any]:
    """The placeholder release's 4,050 samples (real prompts, generated images), topped up to
    ``count`` with copies whose prompts say which copy they are (so every request is distinct)."""
    from vscbench.benchmarks.vscbench import load_vscbench
    from vscbench.testing.placeholder import make_placeholder_release

    root = make_placeholder_release(Path(tempfile.mkdtemp(prefix="vscbench-bench-")) / "release")
    samples = load_vscbench(root, warn=False).samples
    out = list(samples)
    while len(out) < count:
        base = samples[len(out) % len(samples)]
        copy = len(out) // len(samples)
        out.append(base.model_copy(update={"id": f"{base.id}/copy{copy}", "prompt": f"{base.prompt} (copy {copy})"}))
    return out[:count]


def requests_for(count: int) -> dict[str, Any]:
    from vscbench.engine.runner import plan_run
    from vscbench.store import Store

    with Store(":memory:") as scratch:
        return plan_run("openai:gpt-4o-mini@http://127.0.0.1:9/v1", workload(count), scratch).todo


def phase_build(count: int) -> dict[str, Any]:
    from vscbench.models.base import load_model
    from vscbench.models.batch_api import batch_api_for

    todo = requests_for(count)
    base_rss, started_cpu, started = rss_mb(), cpu_s(), time.perf_counter()
    model = load_model("openai:gpt-4o-mini@http://127.0.0.1:9/v1")
    api = batch_api_for(model)
    items = list(todo.items())
    path = Path(tempfile.mkdtemp()) / "batch.jsonl"

    async def build() -> int:
        size = 0
        with path.open("wb") as handle:
            for start in range(0, len(items), 32):
                lines = await asyncio.gather(*(api.encode(key, request) for key, request in items[start : start + 32]))
                for line in lines:
                    handle.write(line + b"\n")
                    size += len(line) + 1
        await model.aclose()
        return size

    size = asyncio.run(build())
    return {"phase": "build", "requests": len(items), "seconds": round(time.perf_counter() - started, 2),
            "cpu_s": round(cpu_s() - started_cpu, 2), "per_s": round(len(items) / (cpu_s() - started_cpu), 1),
            "jsonl_mb": round(size / 2**20, 1), "rss_before_mb": round(base_rss, 1), "peak_rss_mb": round(peak_mb(), 1)}  # fmt: skip


def phase_parse(count: int) -> dict[str, Any]:
    from vscbench.engine.calls import to_response
    from vscbench.models.base import load_model
    from vscbench.models.batch_api import batch_api_for

    path = Path(tempfile.mkdtemp()) / "output.jsonl"
    with path.open("w") as handle:
        for index in range(count):
            body = {"id": f"c{index}", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                                 "content": f"Answer {index}: " + "a careful answer about the topic " * 12}}],
                    "usage": {"prompt_tokens": 8600, "completion_tokens": 80, "total_tokens": 8680}}  # fmt: skip
            line = {"id": f"r{index}", "custom_id": f"{index:064x}", "error": None,
                    "response": {"status_code": 200, "request_id": f"q{index}", "body": body}}  # fmt: skip
            handle.write(json.dumps(line) + "\n")
    api = batch_api_for(load_model("openai:gpt-4o-mini@http://127.0.0.1:9/v1"))
    base_rss, started_cpu, started = rss_mb(), cpu_s(), time.perf_counter()
    parsed = 0
    with path.open() as handle:
        for text in handle:
            item = api.item(json.loads(text))  # type: ignore[attr-defined]
            assert item.generation is not None
            to_response(item.custom_id, "s", "openai:gpt-4o-mini", item.generation, 0.0)
            parsed += 1
    return {"phase": "parse", "lines": parsed, "seconds": round(time.perf_counter() - started, 2),
            "per_s": round(parsed / (cpu_s() - started_cpu), 1), "jsonl_mb": round(path.stat().st_size / 2**20, 1),
            "rss_before_mb": round(base_rss, 1), "peak_rss_mb": round(peak_mb(), 1)}  # fmt: skip


def phase_pipeline(count: int) -> dict[str, Any]:
    from vscbench.engine.batch import BatchExecutor, BatchSettings
    from vscbench.engine.runner import run_samples
    from vscbench.models.base import load_model
    from vscbench.store import Store

    samples = workload(count)
    with Provider() as provider, tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "s.sqlite") as store:
        model = load_model(f"openai:gpt-4o-mini@{provider.base_url}")
        executor = BatchExecutor(model, BatchSettings(max_requests=5000, poll_s=0.2))
        base_rss, started_cpu, started = rss_mb(), cpu_s(), time.perf_counter()

        async def go() -> Any:
            try:
                return await run_samples(executor, samples, store, run_name="bench")
            finally:
                await model.aclose()

        summary = asyncio.run(go())
        client_cpu = cpu_s() - started_cpu
        return {"phase": "pipeline", "requests": summary.sent, "ok": summary.ok, "batches": executor.stats,
                "seconds": round(time.perf_counter() - started, 2), "client_cpu_s": round(client_cpu, 2),
                "per_s_client_work": round(summary.sent / client_cpu, 1), "rss_before_mb": round(base_rss, 1),
                "peak_rss_mb": round(peak_mb(), 1)}  # fmt: skip


def vscbench(*args: Any, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from vscbench.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=3600)  # fmt: skip


def done_when() -> None:
    from vscbench.store import Store

    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-0000"}
    folder = Path(tempfile.mkdtemp())
    root = folder / "samples.jsonl"  # the 4,038 samples the real metadata yields, topped up to 4,050
    root.write_text("".join(sample.model_dump_json() + "\n" for sample in workload(4050)))
    store, sync_store = folder / "batch.sqlite", folder / "sync.sqlite"
    with Provider() as provider:
        model = f"openai:gpt-4o-mini@{provider.base_url}"
        base = ["run", "--data", root, "--model", model, "--judge", model, "--run", "full"]
        dry = json.loads(vscbench(*base, "--store", store, "--dry-run", "--json", env=env).stdout)
        provider.hold(True)
        args = [*base, "--store", store, "--execution", "batch", "--batch-requests", 1000, "--batch-poll", 0.2]
        process = subprocess.Popen([sys.executable, "-c", "from vscbench.cli import main; main()", *map(str, args)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        started = time.perf_counter()
        while True:
            time.sleep(0.5)
            if store.exists():
                with Store(store) as opened:
                    batches = opened.batches.list()
                    if (
                        batches
                        and sum(b.requests for b in batches if b.status == "submitted") >= dry["models"]["calls"]
                    ):
                        break
            if process.poll() is not None or time.perf_counter() - started > 1800:
                raise SystemExit(f"the batch run never submitted: {process.stderr.read() if process.stderr else ''}")
        submit_s = time.perf_counter() - started
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = provider.stats()
        provider.hold(False)
        started = time.perf_counter()
        rerun = vscbench(*args, "--json", env=env)
        rerun_s = time.perf_counter() - started
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        summary = json.loads(rerun.stdout)[0]
        after = provider.stats()
        started = time.perf_counter()
        synced = vscbench(*base, "--store", sync_store, "--concurrency", 16, "--json", env=env)
        sync_s = time.perf_counter() - started
        assert synced.returncode == 0, synced.stderr[-2000:]
    with Store(store) as batched, Store(sync_store) as reference:
        rows = [(r.key, r.outcome, r.text, r.usage) for _, r in batched.run_items("full") if r is not None]
        same_answers = rows == [(r.key, r.outcome, r.text, r.usage) for _, r in reference.run_items("full") if r]
        judge = batched.judges()[0]
        same_verdicts = {k: v.label for k, v in batched.get_verdicts(judge).items()} == {
            k: v.label for k, v in reference.get_verdicts(judge).items()
        }
    listed = {}
    for path in (store, sync_store):
        for row in json.loads(vscbench("runs", "list", "--store", path, "--json", env=env).stdout):
            listed[path.stem] = row
    model_in = killed["prompt_tokens"]  # nothing answered before the kill: all tokens are after it
    reported_in = after["prompt_tokens"] - model_in
    print(json.dumps({
        "samples": summary["samples"], "unique_requests": summary["unique"], "answers_ok": summary["ok"],
        "submit_before_kill_s": round(submit_s, 1), "rerun_collect_and_judge_s": round(rerun_s, 1),
        "sync_run_with_judge_s": round(sync_s, 1),
        "at_kill": killed, "after_rerun": after,
        "rerun_model_batches_submitted": summary["executor"]["batches_submitted"],
        "rerun_batches_resumed": summary["executor"]["batches_resumed"],
        "new_items_after_kill": after["items"] - killed["items"], "sync_calls_in_batch_runs": killed["sync_calls"],
        "answers_equal_sync_run": same_answers, "verdicts_equal_sync_run": same_verdicts,
        "cost_batch_run": {k: listed["batch"][k] for k in ("cost_usd", "input_tokens", "output_tokens", "batch_calls")},
        "cost_sync_run": {k: listed["sync"][k] for k in ("cost_usd", "input_tokens", "output_tokens", "batch_calls")},
        "dry_run": {k: dry[k] for k in ("calls", "input_tokens", "output_tokens", "cost_usd", "cost_usd_batch")},
        "dry_run_input_vs_reported": f"{dry['input_tokens']} vs {reported_in} ({dry['input_tokens'] / reported_in - 1:+.1%})",
    }, indent=1))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--phase", default="all", choices=["all", "build", "parse", "pipeline"])
    parser.add_argument("--done-when", action="store_true", help="the 4,050-sample batch run with its judge")
    options = parser.parse_args()
    if options.done_when:
        done_when()
        return
    if options.phase == "all":
        for phase in ("build", "parse", "pipeline"):
            subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--requests", str(options.requests)], check=True
            )
        return
    run = {"build": phase_build, "parse": phase_parse, "pipeline": phase_pipeline}[options.phase]
    print(json.dumps(run(options.requests)))


if __name__ == "__main__":
    main()
