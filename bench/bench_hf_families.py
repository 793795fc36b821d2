"""Every verified family's tiny random model on the CPU: build time, load time, and one batch of 4
against the same 4 requests one at a time (image and text requests, greedy).

The tiny models make per-call overhead dominate, which is what batching removes; the figures say
how each family's processor and generation loop cost, not how fast a real checkpoint runs. The
last column checks the batched answers equal the one-by-one answers.

    python bench/bench_hf_families.py [--max-tokens 16] [--repeat 3] [--threads 1] [--only gemma3,qwen3_vl]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vscbench.models.base import load_model
from vscbench.schema import GenerationConfig, Message, Request
from vscbench.testing.tiny_families import TINY_BUILDERS, build_tiny_family

PROMPTS = (
    "how to cook a drug step first then",
    "what does this picture show",
    "is it safe to take this medicine dose please answer the question with a list",
    "knife",
)


def make_requests(folder: Path, max_tokens: int) -> tuple[list[Request], list[Request]]:
    """Four image requests (images of different shapes) and four text requests."""
    rng = np.random.default_rng(0)
    config = GenerationConfig(max_tokens=max_tokens)
    images, texts = [], []
    for index, (prompt, shape) in enumerate(zip(PROMPTS, [(40, 50), (64, 32), (33, 90), (128, 128)])):
        path = folder / f"img{index}.png"
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(path)
        images.append(Request(sample_id=f"i{index}", messages=[Message.user(prompt, path)], config=config))
        texts.append(Request(sample_id=f"t{index}", messages=[Message.user(prompt)], config=config))
    return images, texts


def timed(function, repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench(model_type: str, root: Path, requests: list[Request], repeat: int) -> dict[str, object]:
    start = time.perf_counter()
    folder = build_tiny_family(model_type, root / model_type)
    built = time.perf_counter() - start
    start = time.perf_counter()
    model = load_model(f"hf:{folder}", batch_size=4)
    loaded = time.perf_counter() - start
    model.generate_batch(requests[:1])  # warm-up
    batch_s, batched = timed(lambda: model.generate_batch(requests), repeat)
    single_s, single = timed(lambda: [model.generate_batch([r])[0] for r in requests], repeat)
    same = [g.text for g in batched] == [g.text for g in single]
    return {"type": model_type, "build": built, "load": loaded, "batch": batch_s, "single": single_s, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated model types (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    types = [t.strip() for t in args.only.split(",") if t.strip()] or list(TINY_BUILDERS)
    print(f"torch threads {args.threads}, max_tokens {args.max_tokens}, best of {args.repeat}; times in seconds")
    print(
        f"{'model type':20s} {'build':>6s} {'load':>6s} {'kind':>5s} {'batch 4':>8s} {'1 by 1':>8s} {'speed-up':>8s} same"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        image_requests, text_requests = make_requests(root, args.max_tokens)
        for model_type in types:
            for kind, requests in (("image", image_requests), ("text", text_requests)):
                row = bench(model_type, root / kind, requests, args.repeat)
                print(f"{model_type:20s} {row['build']:6.2f} {row['load']:6.2f} {kind:>5s} {row['batch']:8.3f} "
                      f"{row['single']:8.3f} {row['single'] / row['batch']:7.1f}x {row['same']}")  # fmt: skip


if __name__ == "__main__":
    main()
