"""Throughput of one model behind 1 vs 3 OpenAI-compatible servers (a pool), each server with a
fixed latency and a concurrency cap, as a vLLM replica has (it batches at most so many sequences).

Each fake server runs in its own process and answers at most ``--cap`` requests at a time, each
after ``--latency`` seconds; more requests queue in the server. So one server tops out at
cap / latency requests/s whatever the client sends, and only more replicas go faster:

(a) 1 server,  client concurrency = cap
(b) 1 server,  client concurrency = 3 x cap  (control: more client concurrency alone does not help)
(c) 3 servers, a pool with concurrency cap per endpoint (3 x cap in all)
(d) 3 servers, a pool with 3 x cap per endpoint (9 x cap in all; matches (b) per server)

Prints requests/s and the scaling ratios (c)/(a) and (d)/(b), like for like (ideal: 3.0).
Figures only; nothing asserted.

    python bench/bench_pool.py [--requests 300] [--latency 0.2] [--cap 4]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def serve(latency: float, cap: int) -> None:
    """Run one capped fake server in this process until killed (``--serve``)."""
    from fake_openai import FakeOpenAI, default_reply

    slots = threading.BoundedSemaphore(cap)

    def capped_reply(body: dict) -> str:
        with slots:  # at most `cap` requests are "generating" at once; the rest wait their turn
            time.sleep(latency)
        return default_reply(body)

    fake = FakeOpenAI(latency=0.0, reply=capped_reply, record=False).start()
    print(f"PORT {fake.port}", flush=True)
    threading.Event().wait()


class CappedServer:
    """This script with ``--serve`` in a subprocess; ``base_url`` once it listens."""

    def __init__(self, latency: float, cap: int) -> None:
        self.args = [sys.executable, __file__, "--serve", "--latency", str(latency), "--cap", str(cap)]

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def text_samples(count: int) -> list:
    from vscbench.schema import Sample

    return [Sample(id=f"q{i}", subset="text_centric", category="drugs", variant="text", label="safe",
                   prompt=f"Benchmark question number {i}?") for i in range(count)]  # fmt: skip


async def measure(spec: str, concurrency: int, samples: list) -> tuple[float, int]:
    """requests/s of run_samples (store included) and the calls that ended ``ok``."""
    from vscbench.engine.runner import run_samples
    from vscbench.models.base import load_model
    from vscbench.store import Store

    model = load_model(spec, api_key="sk-bench", timeout=60.0)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "s.sqlite") as store:
        started = time.perf_counter()
        summary = await run_samples(model, samples, store, run_name="bench", concurrency=concurrency)
        elapsed = time.perf_counter() - started
    await model.aclose()
    return summary.sent / elapsed, summary.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds each request takes on a server")
    parser.add_argument("--cap", type=int, default=4, help="requests one server works on at once")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, args.cap)
        return

    samples = text_samples(args.requests)
    ceiling = args.cap / args.latency
    with ExitStack() as stack:
        servers = [stack.enter_context(CappedServer(args.latency, args.cap)) for _ in range(3)]
        cases = [
            ("(a) 1 server, concurrency cap", f"openai:bench@{servers[0].base_url}", args.cap, ceiling),
            ("(b) 1 server, concurrency 3 x cap", f"openai:bench@{servers[0].base_url}", 3 * args.cap, ceiling),
            ("(c) pool of 3, cap per endpoint", "openai:bench@" + ",".join(s.base_url for s in servers),
             3 * args.cap, 3 * ceiling),
            ("(d) pool of 3, 3 x cap per endpoint", "openai:bench@" + ",".join(s.base_url for s in servers),
             9 * args.cap, 3 * ceiling),
        ]  # fmt: skip
        print(f"{args.requests} requests, server latency {args.latency:g} s, {args.cap} at once per server")
        rates = []
        for label, spec, concurrency, ideal in cases:
            rate, ok = asyncio.run(measure(spec, concurrency, samples))
            rates.append(rate)
            print(f"{label:38s} {rate:7.1f} req/s  (ideal {ideal:5.1f}; {ok}/{args.requests} ok)")
    print(
        f"scaling ratio, 3 servers / 1 server: {rates[2] / rates[0]:.2f}x at cap per endpoint (c/a), "
        f"{rates[3] / rates[1]:.2f}x at 3 x cap per endpoint (d/b); ideal 3.00x"
    )
    print(f"control, 3x client concurrency on 1 server: {rates[1] / rates[0]:.2f}x")


if __name__ == "__main__":
    main()
