"""Train the offline judge's learned layer and write its weights, or check the shipped ones.

The weights are a pure function of the training files: the same files (in any order) give the
same bytes. The shipped manifest (src/vscbench/judges/weights/offline_v4.json) names every file
with its sha256, so the shipped weights can be rebuilt from it:

    # rebuild from the files the manifest names, found by name in these folders (sha256 checked)
    python scripts/train_offline_judge.py --search ../shared/judge-dev --search tests/data --search ~/xstest/model_completions

    # the same, but only compare with the shipped weights (exit 1 when they differ)
    python scripts/train_offline_judge.py --check --search ../shared/judge-dev --search tests/data --search ~/xstest/model_completions

    # train on files named explicitly (or in VSCBENCH_JUDGE_TRAIN_DATA, separated by ':'), write elsewhere
    python scripts/train_offline_judge.py --data a.csv --data b.csv --out /tmp/weights

Training files are XSTest-format CSVs (prompt, completion, final_label), such as the
model_completions/ of github.com/paul-rottger/exaggerated-safety, or four-class JSONL sets
(prompt, completion or response, label). Never commit them: only their hashes ship.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vscbench.judges.audit import AuditDataError
from vscbench.judges.learned import WEIGHTS_DIR, WEIGHTS_NAME, manifest_path, weights_path
from vscbench.judges.training import read_training_file, sha256_of, train_layer, write_weights


def files_from_manifest(search: list[Path], manifest: Path) -> list[Path]:
    """The manifest's training files, found by name in the search folders and checked by sha256."""
    entries = json.loads(manifest.read_text(encoding="utf-8"))["training_data"]
    found, missing = [], []
    for entry in entries:
        candidates = [folder / entry["name"] for folder in search if (folder / entry["name"]).is_file()]
        match = next((path for path in candidates if sha256_of(path) == entry["sha256"]), None)
        if match is None:
            why = "found with another sha256 at " + ", ".join(map(str, candidates)) if candidates else "not found"
            missing.append(f"  {entry['name']} (sha256 {entry['sha256'][:12]}...): {why}")
        else:
            found.append(match)
    if missing:
        raise SystemExit(
            f"cannot rebuild {manifest.name}: {len(missing)} of its {len(entries)} training files are not in "
            f"{', '.join(map(str, search)) or 'any --search folder'}:\n" + "\n".join(missing)
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, action="append", default=[], help="a training file (repeatable)")
    parser.add_argument(
        "--search",
        type=Path,
        action="append",
        default=[],
        help="a folder holding the files the shipped manifest names (repeatable)",
    )
    parser.add_argument(
        "--out", type=Path, default=WEIGHTS_DIR, help=f"where to write the weights (default: {WEIGHTS_DIR})"
    )
    parser.add_argument("--check", action="store_true", help="compare with the weights in --out instead of writing")
    args = parser.parse_args(argv)

    paths = list(args.data)
    if not paths and os.environ.get("VSCBENCH_JUDGE_TRAIN_DATA"):
        paths = [Path(p) for p in os.environ["VSCBENCH_JUDGE_TRAIN_DATA"].split(os.pathsep) if p]
    if not paths:
        if not args.search:
            parser.error(
                "name the training files (--data, or VSCBENCH_JUDGE_TRAIN_DATA) or --search folders that hold the manifest's files"
            )
        paths = files_from_manifest(args.search, manifest_path(WEIGHTS_DIR, WEIGHTS_NAME))
    try:
        files = [read_training_file(path) for path in paths]
    except (AuditDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for f in files:
        print(f"  {f.path} ({f.kind}, {len(f.rows)} rows, sha256 {f.sha256[:12]}...)")
    layer, npz, meta = train_layer(files)
    print(
        f"trained on {layer.manifest['training_rows']} answers, {layer.manifest['not_complied_rows']} not complied; "
        f"{len(npz):,} bytes of weights"
    )
    if args.check:
        same = weights_path(args.out).is_file() and weights_path(args.out).read_bytes() == npz
        same = same and manifest_path(args.out).read_bytes() == meta
        print("identical to the weights in " + str(args.out) if same else f"DIFFERENT from the weights in {args.out}")
        return 0 if same else 1
    for path in write_weights(npz, meta, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
