"""Re-running a finished 4,050-request run: how long it takes, and proof that nothing is sent.

The first run fills a fresh store against a fake server (no latency); the re-run (a new Store
and an empty in-memory hash cache, as in a new process) must send zero requests, which the
server's own counter shows. Target: re-run < 3 s. A CLI re-run in a subprocess is timed too.
Prints figures only.

    python bench/bench_resume.py [--requests 4050]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_throughput import REQUESTS, FakeServerProcess, workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args()

    from vscbench.engine.runner import run_samples_sync
    from vscbench.models.base import load_model
    from vscbench.store import Store

    samples = workload(args.requests)
    store_path = Path(tempfile.mkdtemp()) / "store.sqlite"
    with FakeServerProcess(latency=0.0) as server:
        spec = f"openai:fake@{server.base_url}"
        started = time.perf_counter()
        first = run_samples_sync(load_model(spec), samples, Store(store_path), run_name="r", concurrency=64)
        first_s = time.perf_counter() - started
        served_after_first = server.served()

        started = time.perf_counter()
        again = run_samples_sync(load_model(spec), samples, Store(store_path), run_name="r", concurrency=64)
        rerun_s = time.perf_counter() - started
        served_after_rerun = server.served()

        release = samples[0].image_path.parents[2]
        command = [sys.executable, "-c", "from vscbench.cli import main; main()", "run", "--data", str(release),
                   "--model", spec, "--store", str(store_path), "--run", "cli", "--json"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)  # fills the CLI's run (4,038 samples)
        served_before_cli = server.served()
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        cli_s = time.perf_counter() - started
        served_by_cli = server.served() - served_before_cli

    print(f"first run: {first.sent} sent, {first.ok} ok in {first_s:.2f} s (server served {served_after_first})")
    print(f"re-run (library, new Store): {again.sent} sent, {again.cached} cached in {rerun_s:.2f} s; "
          f"server received {served_after_rerun - served_after_first} requests (target: 0, < 3 s)")  # fmt: skip
    print(f"re-run (CLI subprocess, imports + data load included): {cli_s:.2f} s; server received {served_by_cli}")


if __name__ == "__main__":
    main()
