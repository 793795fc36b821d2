"""Throughput of rendering every text-centric image of the real spreadsheet (not a test: prints figures).

Builds a release (real spreadsheet, generated search images) in a temporary folder, then renders
all 450 typography + 450 FigStep + 450 concat images with one worker and with all cores, several
times each, and prints images/second (median of the repeats), CPU seconds per image and the speed-up.

The machine may be shared, so the load average is printed next to every figure, and CPU time
(which load barely changes for one worker) is printed next to wall time.

    python bench/bench_render.py [--workers N] [--repeat 3] [--search placeholder|photo]
                                 [--variants typography,figstep,concat]

``--search placeholder`` uses 640x480 solid-colour PNGs (what the test fixtures write); ``photo``
uses real photographs (the sample photos shipped with scikit-learn and matplotlib) saved as PNG
at varied sizes from 480 to 2400 px wide, like the web photos of the real release.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from vscbench.benchmarks.vscbench import TEXT_CENTRIC_DIR, TEXT_CENTRIC_FILE
from vscbench.render.build import RENDERED_VARIANTS, build_release_images
from vscbench.testing.placeholder import referenced_images, shared_metadata_dir, write_placeholder

#: (width, height) of the photo search images, cycled over the rows.
PHOTO_SIZES = ((640, 480), (1024, 768), (480, 640), (1600, 1200), (800, 533), (2400, 1600), (1024, 1024))


def _sample_photos() -> list[Image.Image]:
    """Real photographs that ship inside installed packages (no download)."""
    import importlib.util

    photos = []
    for package, relative in (
        ("sklearn", "datasets/images/china.jpg"),
        ("sklearn", "datasets/images/flower.jpg"),
        ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ):
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / relative
            if path.is_file():
                photos.append(Image.open(path).convert("RGB"))
    if not photos:
        raise SystemExit("no sample photos found (install scikit-learn or matplotlib), use --search placeholder")
    return photos


def _photo_files(folder: Path) -> list[Path]:
    """One PNG per size in PHOTO_SIZES, each a real photo scaled to it; copied to every row later."""
    photos = _sample_photos()
    files = []
    for index, size in enumerate(PHOTO_SIZES):
        path = folder / f"photo_{size[0]}x{size[1]}.png"
        photos[index % len(photos)].resize(size, Image.Resampling.BICUBIC).save(path)
        files.append(path)
    return files


def _fresh_release(base: Path, name: str, photos: list[Path] | None) -> Path:
    """Real text-centric spreadsheet, search images (placeholders or photos), nothing rendered."""
    root = base / name
    root.mkdir()
    shutil.copyfile(shared_metadata_dir() / TEXT_CENTRIC_FILE, root / TEXT_CENTRIC_FILE)
    searches = [p for p in referenced_images(root) if p.parent.name == "search"]
    for index, path in enumerate(searches):
        if photos:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photos[index % len(photos)], path)
        else:
            write_placeholder(path, (640, 480))
    return root


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers once shut down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes for the parallel run"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count; medians are reported")
    parser.add_argument("--search", choices=("placeholder", "photo"), default="placeholder")
    parser.add_argument("--variants", default=",".join(RENDERED_VARIANTS), help="comma-separated variants to render")
    args = parser.parse_args()
    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        photos = _photo_files(base) if args.search == "photo" else None
        medians: dict[int, float] = {}
        for workers in dict.fromkeys([1, args.workers]):
            rates, cpu_per_image = [], []
            for attempt in range(args.repeat):
                root = _fresh_release(base, f"release_{workers}_{attempt}", photos)
                load = _load()
                cpu_before, start = _cpu_seconds(), time.perf_counter()
                report = build_release_images(root, variants=variants, workers=workers)
                elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_before
                images = sum(report.written.values())
                rates.append(images / elapsed)
                cpu_per_image.append(1000 * cpu / images)
                per_variant = ", ".join(f"{n} {v}" for v, n in report.written.items())
                print(f"workers={workers} run {attempt + 1}: {images} images ({per_variant}) in {elapsed:.2f} s "
                      f"= {images / elapsed:.1f} images/s, {1000 * cpu / images:.1f} CPU-ms/image; "
                      f"failures: {len(report.failures)}; {load} at start")  # fmt: skip
                if attempt < args.repeat - 1:
                    shutil.rmtree(root)
            medians[workers] = statistics.median(rates)
            print(f"workers={workers}: median {medians[workers]:.1f} images/s "
                  f"({images / medians[workers]:.2f} s for {images} images), "
                  f"median {statistics.median(cpu_per_image):.1f} CPU-ms/image")  # fmt: skip
        if len(medians) == 2:
            print(f"speed-up with {args.workers} workers: {medians[args.workers] / medians[1]:.2f}x "
                  f"on {os.cpu_count()} cores ({_load()} now)")  # fmt: skip
        rendered = [p for p in (root / TEXT_CENTRIC_DIR).rglob("*.png") if p.parent.name != "search"]
        if "figstep" in report.written:
            shrunk = sum(n for size, n in report.figstep_sizes.items() if size < 80)
            print(f"FigStep statements shrunk to fit: {shrunk} of {report.written['figstep']}")
        print(f"rendered PNG bytes: {sum(p.stat().st_size for p in rendered) / 1e6:.1f} MB "
              f"(search images: {args.search})")  # fmt: skip


if __name__ == "__main__":
    main()
