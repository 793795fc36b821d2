"""Train the offline judge's model from data/judge and write its weights, or check the shipped ones.

The weights are a pure function of the repository: the hand-labelled files of data/judge, the
generator (src/vscbench/judges/scripted.py) with its pools, questions, seed and size, and the
feature code. The shipped manifest (src/vscbench/judges/weights/offline_v5.json) names each file
with its sha256, so the shipped weights can be rebuilt and compared:

    # rebuild and only compare with the shipped weights (exit 1 when they differ, saying what changed)
    python scripts/train_offline_judge.py --check

    # retrain after changing the data or the features, and write the weights
    python scripts/train_offline_judge.py

    # train from another copy of the data, write elsewhere
    python scripts/train_offline_judge.py --data-dir /tmp/judge-data --out /tmp/weights

It takes a minute or two on two cores (features of about 9,000 answers, then the fit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vscbench.judges.learned import WEIGHTS_DIR, WEIGHTS_NAME, manifest_path, weights_path
from vscbench.judges.training import train_model, write_weights
from vscbench.judges.training_data import (
    DEFAULT_DATA_DIR,
    GUIDELINE,
    TrainingDataError,
    generated_sources,
    real_sources,
)


def changed_entries(shipped: dict, rebuilt: dict) -> list[str]:
    """What differs between two manifests, named by training file (or by top-level key)."""
    lines = []
    old = {e["source"]: e for e in shipped.get("training_data", [])}
    new = {e["source"]: e for e in rebuilt.get("training_data", [])}
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            before, after = old.get(name, {}), new.get(name, {})
            what = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            lines.append(f"  {name}: {', '.join(sorted(what))} differ")
    for key in sorted(shipped.keys() | rebuilt.keys()):
        if key != "training_data" and shipped.get(key) != rebuilt.get(key):
            lines.append(f"  {key} differs")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"the training data (default: {DEFAULT_DATA_DIR})"
    )
    parser.add_argument(
        "--guideline", type=Path, default=GUIDELINE, help="the labelling guideline the manifest records"
    )
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help=f"where the weights go (default: {WEIGHTS_DIR})")
    parser.add_argument("--check", action="store_true", help="compare with the weights in --out instead of writing")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        sources = real_sources(args.data_dir) + generated_sources(args.data_dir)
        for s in sources:
            print(f"  {s.name}: {len(s.rows)} answers")
        _, npz, meta = train_model(sources, args.data_dir, args.guideline)
    except (TrainingDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rebuilt = json.loads(meta)
    print(
        f"trained on {rebuilt['training_rows']:,} answers in {time.perf_counter() - start:.0f} s; {len(npz):,} bytes of weights"
    )
    if args.check:
        npz_file, meta_file = weights_path(args.out, WEIGHTS_NAME), manifest_path(args.out, WEIGHTS_NAME)
        if not npz_file.is_file() or not meta_file.is_file():
            print(f"DIFFERENT: there are no weights in {args.out} to compare with")
            return 1
        same_meta = meta_file.read_bytes() == meta
        if same_meta and npz_file.read_bytes() == npz:
            print(f"identical to the weights in {args.out}")
            return 0
        print(f"DIFFERENT from the weights in {args.out}:")
        shipped = json.loads(meta_file.read_text(encoding="utf-8"))
        print(
            "\n".join(changed_entries(shipped, rebuilt))
            if not same_meta
            else "  the coefficients differ (same manifest)"
        )
        return 1
    for path in write_weights(npz, meta, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
