"""Peak RSS of a 4,050-request run with images (target < 600 MB). Prints figures only.

Two workloads, each in its own process so peaks do not mix: the placeholder release's small
images, and 10 x concurrency of the requests over 1024x768 noise images (realistic upload size: every body
carries a ~2-3 MB base64 PNG) to show what concurrency costs in memory.

    python bench/bench_memory.py [--requests 4050] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_throughput import REQUESTS, FakeServerProcess, workload


def large_images(samples: list, folder: Path, distinct: int = 48) -> list:
    """The samples re-pointed at a few large noise images (distinct prompts keep keys distinct)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for index in range(distinct):
        path = folder / f"noise_{index}.png"
        Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return [s.model_copy(update={"image_path": paths[i % distinct]}) for i, s in enumerate(samples) if s.image_path]


def measure(mode: str, requests: int, concurrency: int) -> dict:
    from vscbench.engine.runner import run_samples_sync
    from vscbench.models.base import load_model
    from vscbench.store import Store

    samples = workload(requests)
    folder = Path(tempfile.mkdtemp())
    if mode == "large":  # the peak depends on the bodies in flight, not on the count: 640 are enough
        samples = large_images(samples, folder)[: max(10 * concurrency, 1)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with FakeServerProcess(latency=0.05) as server:
        started = time.perf_counter()
        summary = run_samples_sync(load_model(f"openai:fake@{server.base_url}"), samples, Store(folder / "s.sqlite"),
                                   run_name="mem", concurrency=concurrency)  # fmt: skip
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "requests": len(samples), "sent": summary.sent, "ok": summary.ok, "elapsed_s": round(elapsed, 1), "errors": summary.top_errors,
            "rss_before_mb": round(before / 1024), "peak_rss_mb": round(peak / 1024)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--mode", choices=["placeholder", "large"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.requests, args.concurrency)))
        return
    for mode in ("placeholder", "large"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--requests", str(args.requests),
                              "--concurrency", str(args.concurrency)], capture_output=True, text=True, check=True)  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{mode:>11}: {result['requests']} requests ({result['ok']} ok) at concurrency {args.concurrency} in "
              f"{result['elapsed_s']} s; peak RSS {result['peak_rss_mb']} MB "
              f"(after set-up {result['rss_before_mb']} MB; target < 600 MB)")  # fmt: skip
        for reason, count in result["errors"]:
            print(f"{'':>13}{count} x {reason}")


if __name__ == "__main__":
    main()
