"""Steering overhead: steered, gated and unsteered greedy generation time on random-weight models.

The steering hook adds one vector to one block's output per forward pass; a gate (the logistic
probe, or the CAST-style condition vector) also scores each prompt once at prefill. This measures
what each costs end to end (target: under 5 %). Runs are interleaved (plain, steered, per-row,
probe, condition, plain, ...) so a noisy shared CPU affects all settings alike, every run
generates exactly the same number of tokens (``min_new_tokens``) so an earlier EOS cannot
flatter one setting, and both gates let every row through so gated and ungated runs do the same
arithmetic besides the gate itself.

    python bench/bench_steering.py                 # tiny LLaVA, tiny Qwen2-VL, LLaVA 512x8
    python bench/bench_steering.py --repeats 20 --new-tokens 64 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _inputs(processor, batch: int, image_dir: Path):
    from PIL import Image

    words = ["how to cook a drug ?", "what is this image", "please list step first then finally", "is it legal"]
    conversations = []
    for row in range(batch):
        image_path = image_dir / f"bench_{row}.png"
        Image.new("RGB", (32 + 8 * row, 40), (40 * row % 255, 120, 200)).save(image_path)
        image = Image.open(image_path)
        text = words[row % len(words)]
        conversations.append(
            [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]
        )
    return processor.apply_chat_template(
        conversations,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs={"padding": True},
    )


def bench_model(name: str, model, processor, args, image_dir: Path) -> dict[str, float]:
    import torch

    from vscbench.methods.steering import (
        LinearProbe,
        find_text_layers,
        steer,
        text_hidden_size,
    )
    from vscbench.methods.steering.condition import ConditionVector

    processor.tokenizer.padding_side = "left"
    inputs = _inputs(processor, args.batch, image_dir)
    layer = len(find_text_layers(model)) // 2
    hidden = text_hidden_size(model)
    vector = torch.randn(hidden, generator=torch.Generator().manual_seed(0))
    flag_all = LinearProbe(weight=torch.zeros(hidden), bias=10.0)
    condition_all = ConditionVector(direction=vector / vector.norm(), center=torch.zeros(hidden), threshold=-2.0)
    settings = {
        "plain": lambda: torch.no_grad(),
        "steered": lambda: steer(model, vector, layer, alpha=1.5),
        "per-row": lambda: steer(model, vector, layer, alphas=torch.linspace(0, 1.5, args.batch)),
        "probe": lambda: steer(model, vector, layer, alpha=1.5, gate=flag_all),
        "condition": lambda: steer(model, vector, layer, alpha=1.5, gate=condition_all),
    }
    times: dict[str, list[float]] = {key: [] for key in settings}

    def run(setting: str) -> float:
        with settings[setting](), torch.inference_mode():
            start = time.perf_counter()
            model.generate(**inputs, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)
            return time.perf_counter() - start

    for setting in settings:  # warm-up
        run(setting)
    for _ in range(args.repeats):
        for setting in settings:
            times[setting].append(run(setting))
    medians = {key: statistics.median(values) for key, values in times.items()}
    fastest = {key: min(values) for key, values in times.items()}
    plain = medians["plain"]
    print(
        f"\n{name}: hidden {hidden}, {len(find_text_layers(model))} text blocks, steering block {layer}, "
        f"batch {args.batch}, {args.new_tokens} new tokens, {args.repeats} interleaved repeats"
    )
    for key, value in medians.items():
        per_token = value / args.new_tokens * 1000
        print(
            f"  {key:9s} median {value * 1000:8.1f} ms ({per_token:6.2f} ms/token) ratio {value / plain:6.3f}"
            f" | fastest {fastest[key] * 1000:8.1f} ms ratio {fastest[key] / fastest['plain']:6.3f}"
        )
    hook_us = {key: _hook_cost_us(model, settings[key], layer, args.batch, hidden)
               for key in ("steered", "per-row", "probe", "condition")}  # fmt: skip
    prefill_us = {key: _prefill_cost_us(model, settings[key], layer, args.batch, hidden)
                  for key in ("steered", "probe", "condition")}  # fmt: skip
    print(
        "  hook at prefill (64 tokens): "
        + ", ".join(f"{key} {value:.1f} us" for key, value in prefill_us.items())
        + f"; the gate adds {prefill_us['probe'] - prefill_us['steered']:.1f} us (probe), "
        f"{prefill_us['condition'] - prefill_us['steered']:.1f} us (condition) once per prompt batch"
    )
    step_us = fastest["plain"] / args.new_tokens * 1e6
    print(
        "  hook alone per decode step: "
        + ", ".join(f"{key} {value:.1f} us" for key, value in hook_us.items())
        + f"  = {100 * hook_us['steered'] / step_us:.2f} % of a plain decode step ({step_us:.0f} us)"
    )
    return {**medians, **{f"{key}_fastest": value for key, value in fastest.items()}}


def _hook_cost_us(model, make_context, layer: int, batch: int, hidden: int, calls: int = 2000) -> float:
    """Time the installed hook on a decode-step output [batch, 1, hidden]: noise-free overhead."""
    import torch

    from vscbench.methods.steering import find_text_layers

    block = find_text_layers(model)[layer]
    output = torch.randn(batch, 1, hidden)
    with make_context():
        hook = next(iter(block._forward_hooks.values()))
        hook(block, (), torch.randn(batch, 5, hidden))  # prefill: computes the gate once
        start = time.perf_counter()
        for _ in range(calls):
            hook(block, (), output)
        return (time.perf_counter() - start) / calls * 1e6


def _prefill_cost_us(
    model, make_context, layer: int, batch: int, hidden: int, length: int = 64, calls: int = 500
) -> float:
    """Time the hook on a prefill output [batch, length, hidden]: where a gate scores each prompt."""
    import torch

    from vscbench.methods.steering import find_text_layers

    block = find_text_layers(model)[layer]
    output = torch.randn(batch, length, hidden)
    with make_context():
        hook = next(iter(block._forward_hooks.values()))
        start = time.perf_counter()
        for _ in range(calls):
            hook(block, (), output)
        return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared CPU)")
    parser.add_argument("--skip-large", action="store_true", help="only the tiny models")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vscbench.testing.tiny_qwen import build_tiny_qwen2_vl, load_tiny_qwen2_vl
    from vscbench.testing.tiny_vlm import build_tiny_llava

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)

        def llava(folder: Path):
            model = AutoModelForImageTextToText.from_pretrained(folder).eval()
            return model, AutoProcessor.from_pretrained(folder)

        results = {}
        results["tiny LLaVA"] = bench_model("tiny LLaVA", *llava(build_tiny_llava(root / "llava")), args, root)
        results["tiny Qwen2-VL"] = bench_model(
            "tiny Qwen2-VL", *load_tiny_qwen2_vl(build_tiny_qwen2_vl(root / "qwen")), args, root
        )
        if not args.skip_large:
            large = build_tiny_llava(root / "llava-512", num_hidden_layers=8, hidden_size=512)
            results["LLaVA 512x8"] = bench_model("LLaVA hidden 512, 8 layers", *llava(large), args, root)
    print("\nsteering overhead against plain generation (target < 1.05); median runs | fastest runs:")
    print(
        f"  {'model':14s} {'ungated':>8s} {'probe':>8s} {'condition':>10s} | {'ungated':>8s} {'probe':>8s} {'condition':>10s}"
    )
    for name, m in results.items():
        median = [m[key] / m["plain"] for key in ("steered", "probe", "condition")]
        fastest = [m[f"{key}_fastest"] / m["plain_fastest"] for key in ("steered", "probe", "condition")]
        print(
            f"  {name:14s} {median[0]:8.3f} {median[1]:8.3f} {median[2]:10.3f} | "
            f"{fastest[0]:8.3f} {fastest[1]:8.3f} {fastest[2]:10.3f}"
        )
    print(
        "gated / ungated, median runs: "
        + ", ".join(
            f"{name} probe {m['probe'] / m['steered']:.3f}, condition {m['condition'] / m['steered']:.3f}"
            for name, m in results.items()
        )
    )


if __name__ == "__main__":
    main()
