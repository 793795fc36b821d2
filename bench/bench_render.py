"""Throughput of rendering every text-centric image of the real spreadsheet (not a test: prints figures).

Builds a placeholder release (real spreadsheet, generated search photos) in a temporary folder,
then renders all 450 typography + 450 FigStep + 450 concat images with one worker and with all
cores, and prints images/second for each and the speed-up.

    python bench/bench_render.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from vscbench.data.render_build import build_release_images
from vscbench.data.vscbench import TEXT_CENTRIC_DIR, TEXT_CENTRIC_FILE
from vscbench.testing.placeholder import referenced_images, shared_metadata_dir, write_placeholder


def _fresh_release(base: Path, name: str) -> Path:
    """Real text-centric spreadsheet, search placeholders (640x480, like web photos), nothing rendered."""
    root = base / name
    root.mkdir()
    shutil.copyfile(shared_metadata_dir() / TEXT_CENTRIC_FILE, root / TEXT_CENTRIC_FILE)
    for path in referenced_images(root):
        if path.parent.name == "search":
            write_placeholder(path, (640, 480))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes for the parallel run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        timings = {}
        for workers in dict.fromkeys([1, args.workers]):
            root = _fresh_release(base, f"release_{workers}")
            start = time.perf_counter()
            report = build_release_images(root, workers=workers)
            elapsed = time.perf_counter() - start
            images = sum(report.written.values())
            timings[workers] = elapsed
            per_variant = ", ".join(f"{n} {v}" for v, n in report.written.items())
            print(f"workers={workers}: {images} images ({per_variant}) in {elapsed:.1f} s "
                  f"= {images / elapsed:.1f} images/s; failures: {len(report.failures)}")  # fmt: skip
            shrunk = sum(n for size, n in report.figstep_sizes.items() if size < 80)
            print(f"  FigStep statements shrunk to fit: {shrunk} of {report.written['figstep']}")
        if len(timings) == 2:
            print(f"speed-up with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x "
                  f"on {os.cpu_count()} cores")  # fmt: skip
        total_bytes = sum(p.stat().st_size for p in (root / TEXT_CENTRIC_DIR).rglob("*.png") if p.parent.name != "search")
        print(f"rendered PNG bytes: {total_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
