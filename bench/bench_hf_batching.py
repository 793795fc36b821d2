"""Throughput of the transformers backend batched (8, 16) against one request at a time.

Runs the tiny random LLaVA on 64 image+text requests of mixed lengths and prints samples per
second and the speed-up ratio. The tiny model makes per-call overhead dominate, which is what
batching removes; real checkpoints on a GPU gain more, on a CPU less.

    python bench/bench_hf_batching.py [--requests 64] [--max-tokens 16] [--model PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vscbench.models.base import load_model
from vscbench.schema import GenerationConfig, Message, Request

WORDS = [
    "how",
    "to",
    "cook",
    "a",
    "drug",
    "step",
    "first",
    "then",
    "what",
    "does",
    "this",
    "picture",
    "show",
    "is",
    "it",
    "safe",
    "to",
    "take",
]


def make_requests(folder: Path, count: int, max_tokens: int) -> list[Request]:
    rng = np.random.default_rng(0)
    requests = []
    for index in range(count):
        image = folder / f"img{index % 16}.png"
        if not image.exists():
            side = int(rng.integers(32, 256))
            Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(image)
        prompt = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 30))))
        requests.append(
            Request(
                sample_id=f"s{index}",
                messages=[Message.user(prompt, image)],
                config=GenerationConfig(max_tokens=max_tokens),
            )
        )
    return requests


def measure(model_dir: Path, requests: list[Request], batch_size: int) -> float:
    """Samples per second with ``batch_size`` requests per ``generate`` call (after a warm-up)."""
    model = load_model(f"hf:{model_dir}", batch_size=batch_size)
    asyncio.run(model.generate(requests[:batch_size]))
    start = time.perf_counter()
    answers = []
    for offset in range(0, len(requests), batch_size):
        answers += asyncio.run(model.generate(requests[offset : offset + batch_size]))
    elapsed = time.perf_counter() - start
    failed = [a.error for a in answers if a.outcome != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    return len(requests) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--model", type=Path, default=None, help="a local model folder (default: tiny LLaVA)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if args.model is None:
            from vscbench.testing.tiny_vlm import build_tiny_llava

            model_dir = build_tiny_llava(folder / "tiny-llava")
        else:
            model_dir = args.model
        requests = make_requests(folder, args.requests, args.max_tokens)
        one_by_one = measure(model_dir, requests, 1)
        print(f"{'batch size':>10}  {'samples/s':>10}  {'vs one-by-one':>13}")
        print(f"{1:>10}  {one_by_one:>10.1f}  {1.0:>12.2f}x")
        for batch_size in (8, 16):
            rate = measure(model_dir, requests, batch_size)
            print(f"{batch_size:>10}  {rate:>10.1f}  {rate / one_by_one:>12.2f}x")


if __name__ == "__main__":
    main()
