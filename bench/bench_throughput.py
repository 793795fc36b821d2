"""Throughput of `run_samples` against the SDK's bare floor, at a fixed 200 ms server latency.

(a) floor: a bare loop of ``AsyncOpenAI`` calls under a semaphore, bodies prepared in advance
    (no store, no progress, no image encoding during the run);
(b) ``run_samples`` with the store, a Rich progress bar and image encoding;
(c) ideal: requests x latency / concurrency.
Target: (b) within 1.15x of (a). Prints figures only. The fake server runs in its own process.
The workload helpers here (placeholder workload, server process) are shared by the other
run-engine benchmarks.

    python bench/bench_throughput.py [--requests 4050] [--concurrency 64] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

REQUESTS = 4050
#: Client CPU seconds (this process only; the server runs apart): less sensitive to a busy machine than wall time.
CPU: dict[str, float] = {}


def workload(count: int = REQUESTS) -> list:
    """The placeholder release's samples (real prompts, generated images), topped up to ``count``
    with re-asked copies (distinct prompts, so distinct keys)."""
    from vscbench.benchmarks.vscbench import load_vscbench
    from vscbench.testing.placeholder import make_placeholder_release

    root = make_placeholder_release(Path(tempfile.mkdtemp(prefix="vscbench-bench-")) / "release")
    samples = load_vscbench(root, warn=False).samples
    extra = []
    while len(samples) + len(extra) < count:
        base = samples[len(extra) % len(samples)]
        extra.append(base.model_copy(update={"id": f"{base.id}/again{len(extra)}", "prompt": base.prompt + " (again)"}))
    return (samples + extra)[:count]


class FakeServerProcess:
    """``python tests/fake_openai.py`` in a subprocess; ``base_url`` once started."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "fake_openai.py"), "--latency", str(self.latency), "--no-record"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def served(self) -> int:
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}/fake/stats").json()["served"]

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


async def floor(base_url: str, bodies: list[dict], concurrency: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict) -> None:
        async with gate:
            await client.chat.completions.create(**body)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(body) for body in bodies))
    elapsed = time.perf_counter() - started
    CPU["floor"] = min(CPU.get("floor", float("inf")), time.process_time() - cpu)
    await client.close()
    return elapsed


def engine(base_url: str, samples: list, concurrency: int) -> tuple[float, object]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from vscbench.engine.runner import run_samples_sync
    from vscbench.models.base import load_model
    from vscbench.store import Store

    store = Store(Path(tempfile.mkdtemp()) / "store.sqlite")
    model = load_model(f"openai:fake@{base_url}", max_retries=0)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("run", total=len(samples))
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_samples_sync(model, samples, store, run_name="bench", concurrency=concurrency,
                                   progress=lambda p: bar.update(task, completed=p.done))  # fmt: skip
        elapsed = time.perf_counter() - started
        CPU["engine"] = time.process_time() - cpu
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()

    from vscbench.engine.requests import build_requests
    from vscbench.models.base import load_model

    samples = workload(args.requests)
    with FakeServerProcess(args.latency) as server:
        prepared = load_model(f"openai:fake@{server.base_url}")
        requests = build_requests(samples)

        async def prepare() -> list[dict]:
            return list(await asyncio.gather(*(prepared.request_body(r) for r in requests)))

        bodies = asyncio.run(prepare())
        asyncio.run(floor(server.base_url, bodies[: args.concurrency * 2], args.concurrency))  # warm the server
        # floor measured before and after the engine; the faster one is the floor (2 shared cores are noisy)
        floor_runs = [asyncio.run(floor(server.base_url, bodies, args.concurrency))]
        engine_s, summary = engine(server.base_url, samples, args.concurrency)
        floor_runs.append(asyncio.run(floor(server.base_url, bodies, args.concurrency)))
        floor_s = min(floor_runs)
    ideal_s = args.requests * args.latency / args.concurrency
    print(f"requests={args.requests} concurrency={args.concurrency} latency={args.latency * 1000:.0f} ms")
    print(f"(a) floor  AsyncOpenAI + semaphore : {floor_s:7.2f} s  ({args.requests / floor_s:6.1f} req/s)"
          f"  runs: {', '.join(f'{t:.2f}' for t in floor_runs)}")  # fmt: skip
    print(f"(b) engine run_samples+store+images: {engine_s:7.2f} s  ({args.requests / engine_s:6.1f} req/s)"
          f"  ok={summary.ok} error={summary.error}")  # fmt: skip
    print(
        f"client CPU: floor {CPU['floor']:.2f} s, engine {CPU['engine']:.2f} s "
        f"({1000 * CPU['engine'] / args.requests:.2f} ms per request; engine/floor {CPU['engine'] / CPU['floor']:.2f})"
    )
    print(f"(c) ideal  requests*latency/conc  : {ideal_s:7.2f} s")
    print(f"ratios: engine/floor = {engine_s / floor_s:.3f} (target <= 1.15), floor/ideal = {floor_s / ideal_s:.3f}, "
          f"engine/ideal = {engine_s / ideal_s:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
