"""Load time of the full benchmark (4,050 samples described, no image read), cold and warm.

Usage: python bench/bench_loader.py
Prints the median of several loads of a placeholder release built from the real spreadsheets.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vscbench.benchmarks.vscbench import load_vscbench
from vscbench.testing.placeholder import make_placeholder_release


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_placeholder_release(Path(tmp) / "vscbench")
        times = []
        for _ in range(7):
            started = time.perf_counter()
            data = load_vscbench(root, warn=False)
            times.append(time.perf_counter() - started)
        described = sum(data.report.expected().values())
        print(f"samples loaded: {len(data)} of {described} described")
        print(f"warm load (median of 7): {statistics.median(times) * 1000:.0f} ms")
        code = (
            "import time; t=time.perf_counter(); from vscbench.benchmarks.vscbench import load_vscbench; "
            f"load_vscbench({str(root)!r}, warn=False); print(time.perf_counter()-t)"
        )
        cold = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(3)]
        print(f"cold load in a new process, imports included (median of 3): {statistics.median(cold) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
