"""Benchmark of the offline judge on model styles it was not developed on.

Since the offline judge v3 these style sets are TRAINING data of its learned layer: the figures
below are not held out (bench/bench_judges.py prints the held-out ones).

Prints (never asserts), for the offline and keyword judges:
- binary (complied vs not) and 4-class accuracy on the DEV and TEST halves of the hand-written
  style set ``tests/data/judge_styles_heldout.jsonl``, overall and per style;
- binary and 3-way accuracy on the DEV and TEST halves of ``tests/data/judge_xstest_styles.csv``
  (XSTest prompts, completions written in the styles of other models), overall and per model style;
- binary and 3-way accuracy on each human-labelled XSTest file in ``--judge-dev``;
- responses/second on 4,000 responses (all of the above, cycled), one CPU core.

Usage: python bench/bench_judge_styles.py [--judge-dev /work/shared/judge-dev] [--split dev|test|both]
       [--errors dev]   (lists the DEV rows the offline judge gets wrong; never use it on TEST)
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from vscbench.judges.audit import HUMAN_LABELS, audit_judge, read_xstest_csv, score, xstest_classes
from vscbench.judges.base import JudgeInput
from vscbench.judges.keyword import KeywordJudge
from vscbench.judges.offline import OfflineJudge

STYLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "judge_styles_heldout.jsonl"
XSTEST_STYLES = STYLES.parent / "judge_xstest_styles.csv"
FILES = {"gpt4": "xstest_v2_completions_gpt4.csv", "llama2": "xstest_v2_completions_llama2orig.csv"}


def load_styles(path: Path = STYLES) -> list[dict]:
    """Labelled rows of the style set (the provenance line has no label and is skipped)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if "label" in row]


def complied(label: str) -> bool:
    return label in ("compliance", "irrelevant")


def accuracies(labels: list[str], rows: list[dict]) -> tuple[float, float]:
    n = max(len(rows), 1)
    binary = sum(complied(p) == complied(r["label"]) for p, r in zip(labels, rows)) / n
    four = sum(p == r["label"] for p, r in zip(labels, rows)) / n
    return binary, four


def style_report(judges: dict, rows: list[dict], split: str) -> None:
    part = [r for r in rows if r["split"] == split]
    items = [JudgeInput(r["prompt"], r["completion"]) for r in part]
    labels = {name: [j.label for j in judge.judge_many(items)] for name, judge in judges.items()}
    print(f"\n{split.upper()} part of the style set ({len(part)} rows): binary / 4-class accuracy")
    header = "".join(f"{name:>22}" for name in judges)
    print(f"  {'style':<24}{'n':>4}{header}")
    by_style: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(part):
        by_style[row["style"]].append(i)
    for style in sorted(by_style):
        index = by_style[style]
        cells = ""
        for name in judges:
            b, f = accuracies([labels[name][i] for i in index], [part[i] for i in index])
            cells += f"{b:>13.3f} / {f:.3f}"
        print(f"  {style:<24}{len(index):>4}{cells}")
    cells = "".join(f"{accuracies(labels[n], part)[0]:>13.3f} / {accuracies(labels[n], part)[1]:.3f}" for n in judges)
    print(f"  {'ALL':<24}{len(part):>4}{cells}")


def xstest_style_report(judges: dict, splits: list[str]) -> None:
    """Binary / 3-way accuracy on the XSTest-prompt style set, per split and per model style."""
    import csv

    with XSTEST_STYLES.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    for split in splits:
        part = [r for r in records if r["split"] == split]
        items = [JudgeInput(r["prompt"], r["completion"]) for r in part]
        labels = {name: xstest_classes(judge, judge.judge_many(items)) for name, judge in judges.items()}
        print(f"\n{split.upper()} part of judge_xstest_styles.csv ({len(part)} rows): binary / 3-way accuracy")
        print(f"  {'model_style':<24}{'n':>4}" + "".join(f"{name:>22}" for name in judges))
        groups: dict[str, list[int]] = defaultdict(list)
        for i, record in enumerate(part):
            groups[record["model_style"]].append(i)
        for style in sorted(groups) + ["ALL"]:
            index = groups.get(style, list(range(len(part))))
            cells = ""
            for name in judges:
                result = score([HUMAN_LABELS[part[i]["final_label"]] for i in index], [labels[name][i] for i in index])
                cells += f"{result.binary_accuracy:>13.3f} / {result.three_way_accuracy:.3f}"
            print(f"  {style:<24}{len(index):>4}{cells}")


def show_errors(rows: list[dict]) -> None:
    part = [r for r in rows if r["split"] == "dev"]
    judgements = OfflineJudge().judge_many([JudgeInput(r["prompt"], r["completion"]) for r in part])
    for row, judgement in zip(part, judgements):
        if judgement.label != row["label"]:
            flag = "BINARY" if complied(judgement.label) != complied(row["label"]) else "4-class"
            print(f"[{flag}] {row['style']}: human={row['label']} judge={judgement.label} ({judgement.reason})")
            print(f"   Q: {row['prompt'][:100]}\n   A: {row['completion'][:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge-dev", default="/work/shared/judge-dev")
    parser.add_argument("--split", choices=["dev", "test", "both"], default="both")
    parser.add_argument("--errors", choices=["dev"], default=None)
    args = parser.parse_args()
    rows = load_styles()
    judges = {"offline": OfflineJudge(), "keyword": KeywordJudge()}
    if args.errors:
        show_errors(rows)
        return
    for split in ["dev", "test"] if args.split == "both" else [args.split]:
        style_report(judges, rows, split)

    xstest_style_report(judges, [args.split] if args.split != "both" else ["dev", "test"])

    all_items = [JudgeInput(r["prompt"], r["completion"]) for r in rows]
    print("\nXSTest human labels (judge-dev), binary / 3-way accuracy:")
    for model, filename in FILES.items():
        path = Path(args.judge_dev) / filename
        if not path.is_file():
            print(f"  {model}: {path} not found, skipped")
            continue
        xs_rows = read_xstest_csv(path)
        all_items += [JudgeInput(r.prompt, r.completion) for r in xs_rows]
        cells = ""
        for name, judge in judges.items():
            result = audit_judge(judge, xs_rows)
            cells += f"  {name} {result.binary_accuracy:.3f} / {result.three_way_accuracy:.3f}"
        print(f"  {model:<8}{cells}")

    items = (all_items * (4000 // len(all_items) + 1))[:4000]
    print("\nSpeed on 4,000 responses (best of 3, one process):")
    for name, judge in judges.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            judge.judge_many(items)
            best = min(best, time.perf_counter() - start)
        print(f"  {name:<8} {best:6.2f} s  ({len(items) / best:,.0f} responses/s)")


if __name__ == "__main__":
    main()
