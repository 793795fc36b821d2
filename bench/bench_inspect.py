"""`inspect eval vscbench/all` next to `vscbench run`: one workload, one server, one run.

The workload: 4,050 requests, 80 % of them with a small image (the placeholder release's samples,
topped up with re-asked copies, some asked as text only), written once as a JSONL export that
both sides load. The server: tests/fake_openai.py in its own process, answering every call after
a fixed latency (200 ms). Each side runs in a fresh Python process of its own, at 64 calls in
flight, driven as its command drives it:

- vscbench: load the export, then ``run_samples`` (store, image encoding, a Rich progress bar),
  as bench_throughput.py drives `vscbench run`;
- Inspect: build the ``vscbench/all`` task on the export, then ``inspect_ai.eval`` with the
  ``openai-api`` provider, ``max_connections=64``, its .eval log written as usual; once without
  scoring (the same work as the run) and once scored by our offline judge.

Printed per side: setup (loading, building the task), engine (the run / the eval call), the
whole process, the calls the server saw; then the ratios. Ideal = requests x latency / concurrency.

    python bench/bench_inspect.py [--requests 4050] [--concurrency 64] [--latency 0.2] [--image-share 0.8]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_throughput import FakeServerProcess, workload


def mixed_workload(count: int, image_share: float) -> list:
    """``count`` distinct requests of which ``image_share`` carry an image; the others ask their question as text."""
    samples = workload(count)
    wanted = round(count * image_share)
    with_image = sum(1 for s in samples if s.image_path is not None)
    out, seen = [], set()
    for sample in samples:
        if sample.image_path is not None and with_image > wanted:
            sample = sample.model_copy(update={"image_path": None, "id": sample.id + "/as-text",
                                               "prompt": f"{sample.prompt} (asked without the image, {sample.id})"})  # fmt: skip
            with_image -= 1
        if (sample.prompt, sample.image_path) in seen:  # the release asks a few things twice: keep every call distinct
            sample = sample.model_copy(update={"prompt": f"{sample.prompt} ({sample.id})"})
        seen.add((sample.prompt, sample.image_path))
        out.append(sample)
    return out


def side_vscbench(data: Path, base_url: str, concurrency: int, work: Path) -> dict:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from vscbench.benchmarks.samples import load_samples
    from vscbench.engine.runner import run_samples_sync
    from vscbench.models.base import load_model
    from vscbench.store import Store

    started = time.perf_counter()
    samples = load_samples(data, warn=False).samples
    store = Store(work / "store.sqlite")
    model = load_model(f"openai:fake-model@{base_url}")
    setup = time.perf_counter() - started
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("run", total=len(samples))
        began = time.perf_counter()
        summary = run_samples_sync(model, samples, store, run_name="bench", concurrency=concurrency,
                                   progress=lambda p: bar.update(task, completed=p.done))  # fmt: skip
        engine = time.perf_counter() - began
    return {"setup_s": setup, "engine_s": engine, "answered": summary.ok, "samples": len(samples)}


def side_inspect(data: Path, base_url: str, concurrency: int, work: Path, score: bool) -> dict:
    from inspect_ai import eval as inspect_eval

    from vscbench.inspect import vscbench_task

    started = time.perf_counter()
    task = vscbench_task(str(data))
    setup = time.perf_counter() - started
    began = time.perf_counter()
    (log,) = inspect_eval(task, model="openai-api/bench/fake-model", model_base_url=base_url, max_connections=concurrency,
                          log_dir=str(work / "logs"), display="none", score=score)  # fmt: skip
    engine = time.perf_counter() - began
    answered = sum(1 for s in log.samples if s.output and s.output.completion and not s.error)
    return {
        "setup_s": setup,
        "engine_s": engine,
        "answered": answered,
        "samples": len(log.samples),
        "status": log.status,
    }


def run_side(side: str, data: Path, base_url: str, concurrency: int, work: Path) -> dict:
    """One side in a fresh process; its figures, with the whole process's wall time."""
    command = [sys.executable, __file__, "--side", side, "--data", str(data), "--base-url", base_url,
               "--concurrency", str(concurrency), "--work", str(work / side.replace(" ", "-"))]  # fmt: skip
    env = {**os.environ, "BENCH_API_KEY": "EMPTY"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"side {side} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["answered"] != figures["samples"]:
        raise SystemExit(f"side {side}: {figures['answered']}/{figures['samples']} answered")
    return {**figures, "process_s": wall}


SIDES = ("vscbench run", "inspect eval --no-score", "inspect eval + offline judge")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4050)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--image-share", type=float, default=0.8)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # a child: run one side, print its figures as the last line
        args.work.mkdir(parents=True, exist_ok=True)
        if args.side == "vscbench run":
            figures = side_vscbench(args.data, args.base_url, args.concurrency, args.work)
        else:
            figures = side_inspect(args.data, args.base_url, args.concurrency, args.work, score="offline" in args.side)
        print(json.dumps(figures))
        return

    from vscbench.benchmarks.export import export_samples

    work = Path(tempfile.mkdtemp(prefix="vscbench-bench-inspect-"))
    samples = mixed_workload(args.requests, args.image_share)
    data = export_samples(samples, "jsonl", work / "workload.jsonl", absolute_paths=True, show_progress=False)
    images = sum(1 for s in samples if s.image_path is not None)
    results: dict[str, dict] = {}
    with FakeServerProcess(args.latency) as server:
        for side in SIDES:
            before = server.served()
            results[side] = run_side(side, data, server.base_url, args.concurrency, work)
            results[side]["calls"] = server.served() - before
    ideal = args.requests * args.latency / args.concurrency
    print(f"requests={len(samples)} with image={images} ({images / len(samples):.0%}) concurrency={args.concurrency} "
          f"latency={args.latency * 1000:.0f} ms ideal={ideal:.2f} s")  # fmt: skip
    print(f"{'':30} {'setup s':>8} {'engine s':>9} {'process s':>10} {'calls':>6} {'engine/ideal':>12}")
    for side, r in results.items():
        print(f"{side:30} {r['setup_s']:8.2f} {r['engine_s']:9.2f} {r['process_s']:10.2f} {r['calls']:6d} "
              f"{r['engine_s'] / ideal:12.2f}")  # fmt: skip
    ours = results["vscbench run"]
    for side in SIDES[1:]:
        r = results[side]
        print(f"ratio {side} / vscbench run: engine {r['engine_s'] / ours['engine_s']:.2f}x, "
              f"process {r['process_s'] / ours['process_s']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
