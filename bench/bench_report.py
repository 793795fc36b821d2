"""How long the HTML report of the full benchmark takes to write, how large it is, and how fast
it opens in headless Chromium.

Builds a placeholder release from the real spreadsheets (``../shared/vscbench``) with noisy
images of a realistic size (not the 48 x 32 test placeholders), a store with RUNS runs over
every loadable sample (answers of 20-250 words, a few failures, offline-judge verdicts), then:

* generation: ``write_store_report`` cold (images hashed and shrunk) and warm (hashes and
  thumbnails cached next to the store);
* size of the file, and of its thumbnails;
* in Chromium (``/usr/bin/chromium``, or $VSCBENCH_CHROMIUM), opened from disk: time from
  navigation to the first rows shown (the page's ``vscbench-ready`` mark), and the time a
  filter and a text search take to redraw the rows. Median of LOADS loads.

Usage: python bench/bench_report.py [--runs 5] [--image-side 512] [--loads 3] [--keep DIR]
(with --keep, a second invocation reuses the images, which take minutes to write)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vscbench.benchmarks.vscbench import load_vscbench
from vscbench.judges.base import judge_key
from vscbench.judges.offline import OfflineJudge
from vscbench.report.build import thumbnail_cache, write_store_report
from vscbench.schema import Response, RunSpec, Verdict
from vscbench.store import Store
from vscbench.testing.placeholder import make_placeholder_release, referenced_images, shared_metadata_dir

WORDS = [
    "the",
    "a",
    "model",
    "image",
    "answer",
    "safe",
    "request",
    "process",
    "kill",
    "python",
    "steps",
    "first",
    "then",
    "because",
    "note",
    "however",
    "please",
]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def noisy_images(root: Path, side: int) -> None:
    """Replace every referenced image by a photo-like one of ``side`` px wide (smooth colour
    fields plus grain), in the format its name says; real releases are mostly PNG."""
    rng = np.random.default_rng(0)
    paths = referenced_images(root)
    height = side * 3 // 4
    for path in paths:
        coarse = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize((side, height), Image.BILINEAR)
        pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-6, 7, (height, side, 3), dtype=np.int16)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        suffix = path.suffix.lower()
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(suffix, "PNG")
        image.save(path, format=fmt, **({"quality": 88} if fmt != "PNG" else {"compress_level": 1}))


def fill_store(store: Store, release: Path, runs: int) -> int:
    samples = load_vscbench(release, warn=False).samples
    judge = OfflineJudge()
    key = judge_key(judge)
    store.put_judge(key, judge.name, judge.version, {})
    rng = random.Random(0)
    models = ["openai:gpt-4o-mini", "hf:llava-hf/llava-1.5-7b-hf", "anthropic:claude-haiku"]
    methods = ["none", "safety-prompt", "few-shot:2+cot"]
    for index in range(runs):
        name = f"run{index}-{models[index % 3].split(':')[1].split('/')[-1]}-{methods[index // 3 % 3]}"
        spec = RunSpec(name=name, model=models[index % 3], method=methods[index // 3 % 3], data=str(release))
        store.start_run(spec, [(s, f"{name}:{s.id}") for s in samples])
        responses, verdicts = [], []
        for sample in samples:
            roll = rng.random()
            outcome = "error" if roll < 0.004 else "empty" if roll < 0.006 else "ok"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 250))) if outcome == "ok" else ""
            responses.append(Response(key=f"{name}:{sample.id}", sample_id=sample.id, model=spec.model, outcome=outcome,
                                      text=text, error="timeout" if outcome == "error" else None))  # fmt: skip
            if outcome == "ok":
                label = rng.choice(["refusal", "warning", "compliance", "compliance", "irrelevant"])
                verdicts.append(Verdict(response_key=f"{name}:{sample.id}", sample_id=sample.id, judge=key, label=label,
                                        reason=f"rule {rng.randint(1, 40)}"))  # fmt: skip
        store.put_responses(responses)
        store.put_verdicts(verdicts)
        store.finish_run(name, "done")
    return len(samples)


def browser_timings(path: Path, loads: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("VSCBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    ready, filters, searches, heap = [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
            page.goto(path.as_uri(), timeout=120_000)
            page.wait_for_selector("html[data-ready='1']", timeout=120_000)
            ready.append(page.evaluate("performance.getEntriesByName('vscbench-ready')[0].startTime"))
            page.click("a[data-tab='samples-view']")
            started = page.evaluate("performance.now()")
            page.select_option("#filter-verdict", "refusal")
            filters.append(page.evaluate("performance.now()") - started)
            started = page.evaluate("performance.now()")
            page.fill("#sample-search", "python")
            page.wait_for_function("() => document.getElementById('sample-count').textContent.indexOf('match') > 0")
            searches.append(page.evaluate("performance.now()") - started)
            heap.append(page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 2**20)
            if errors:
                raise RuntimeError(f"page errors: {errors}")
            page.close()
        browser.close()
    return {
        "first rows shown (ms from navigation)": statistics.median(ready),
        "verdict filter redraw (ms)": statistics.median(filters),
        "first text search incl. index (ms)": statistics.median(searches),
        "JS heap after load (MiB)": statistics.median(heap),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image-side", type=int, default=512)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the release, store and report here and keep them")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        release, done = work / "release", work / "release" / f".images-{args.image_side}"
        if not done.is_file():  # --keep DIR: the images are made once
            make_placeholder_release(release, shared_metadata_dir())
            noisy_images(release, args.image_side)
            done.touch()
        images = referenced_images(release)
        image_bytes = sum(p.stat().st_size for p in images)
        print(
            f"release: {len(images)} images of ~{args.image_side} px ({image_bytes / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        for leftover in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm"):
            (work / leftover).unlink(missing_ok=True)
        with Store(work / "store.sqlite") as store:
            started = time.perf_counter()
            samples = fill_store(store, release, args.runs)
            print(f"store: {args.runs} runs x {samples} samples in {time.perf_counter() - started:.1f} s")
            shutil.rmtree(thumbnail_cache(store), ignore_errors=True)
            for label in ("cold (images hashed and shrunk)", "warm (hashes and thumbnails cached)"):
                result = write_store_report(store, work / "report.html")
                print(f"generation {label}: {result.seconds:.2f} s")
        print(f"rows: {result.rows:,}; distinct samples: {result.samples:,}; thumbnails: {result.thumbnails:,}")
        print(f"file: {result.size_bytes / 2**20:.1f} MiB")
        for name, value in browser_timings(result.path, args.loads).items():
            print(f"chromium, {name}: {value:.0f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
