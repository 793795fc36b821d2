"""Benchmark of the offline judges: speed on 4,000 responses and agreement with human labels.

Prints (never asserts):
- responses/second of the keyword and offline judges on 4,000 responses (XSTest + held-out, cycled);
- binary and 3-way accuracy and Cohen's kappa on each XSTest model file, and on the hand-written
  held-out set in tests/data/judge_heldout.jsonl;
- the cross-model check behind the design: a learned model trained on one model's completions
  and tested on the other's (TF-IDF on the first 300 characters, and logistic regression on the
  offline judge's own signals), next to the rules, which have nothing fitted.

Usage: python bench/bench_judges.py [--judge-dev /work/shared/judge-dev]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vscbench.judges.audit import audit_judge, read_xstest_csv
from vscbench.judges.base import JudgeInput
from vscbench.judges.features import extract_signals, normalize
from vscbench.judges.keyword import KeywordJudge
from vscbench.judges.offline import OfflineJudge
from vscbench.judges.rules import decide

FILES = {"gpt4": "xstest_v2_completions_gpt4.csv", "llama2": "xstest_v2_completions_llama2orig.csv"}
HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "judge_heldout.jsonl"


def throughput(judge, items: list[JudgeInput], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        judge.judge_many(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def heldout_scores(judge, rows: list[dict]) -> tuple[float, float]:
    labels = [j.label for j in judge.judge_many([JudgeInput(r["prompt"], r["response"]) for r in rows])]
    complied = lambda label: label in ("compliance", "irrelevant")
    binary = sum(complied(p) == complied(r["label"]) for p, r in zip(labels, rows)) / len(rows)
    four_way = sum(p == r["label"] for p, r in zip(labels, rows)) / len(rows)
    return binary, four_way


def learned_cross_model(rows_by_model: dict) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def signal_matrix(rows):
        return np.array([list(extract_signals(r.completion, r.prompt).as_dict().values()) for r in rows])

    print("\nCross-model check (train on one model's completions, test on the other's), binary accuracy:")
    print(f"  {'train -> test':<18}{'tfidf300+LR':>12}{'signals+LR':>12}{'rules':>8}")
    for train, test in (("gpt4", "llama2"), ("llama2", "gpt4")):
        a, b = rows_by_model[train], rows_by_model[test]
        ya = np.array([r.human != "compliance" for r in a])
        yb = np.array([r.human != "compliance" for r in b])
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), max_features=20000)
        xa = vec.fit_transform([normalize(r.completion)[:300] for r in a])
        xb = vec.transform([normalize(r.completion)[:300] for r in b])
        tfidf = (LogisticRegression(max_iter=2000).fit(xa, ya).predict(xb) == yb).mean()
        sig = LogisticRegression(max_iter=5000).fit(signal_matrix(a), ya).predict(signal_matrix(b))
        rules = np.array([decide(extract_signals(r.completion, r.prompt))[0] not in ("compliance", "irrelevant") for r in b])
        print(f"  {train + ' -> ' + test:<18}{tfidf:>12.3f}{(sig == yb).mean():>12.3f}{(rules == yb).mean():>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge-dev", type=Path, default=Path("/work/shared/judge-dev"))
    parser.add_argument("--n", type=int, default=4000)
    args = parser.parse_args()

    rows_by_model = {model: read_xstest_csv(args.judge_dev / name) for model, name in FILES.items()}
    heldout = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    pool = [JudgeInput(r.prompt, r.completion) for rows in rows_by_model.values() for r in rows]
    pool += [JudgeInput(r["prompt"], r["response"]) for r in heldout]
    items = [pool[i % len(pool)] for i in range(args.n)]
    mean_chars = sum(len(i.response) for i in items) / len(items)

    judges = {"keyword": KeywordJudge(), "offline": OfflineJudge()}
    print(f"Speed on {len(items)} responses (mean {mean_chars:.0f} chars), best of 3, one CPU core:")
    speeds = {name: throughput(judge, items) for name, judge in judges.items()}
    for name, speed in speeds.items():
        print(f"  {name:<8} {speed:>10,.0f} responses/s   ({len(items) / speed:.2f} s for {len(items)})")
    print(f"  offline is {speeds['keyword'] / speeds['offline']:.1f}x slower than keyword")

    print("\nAgreement with human labels (XSTest; neither judge has fitted parameters):")
    print(f"  {'judge':<8}{'file':<8}{'n':>5}{'bin acc':>9}{'bin kappa':>10}{'3way acc':>10}{'3way kappa':>11}")
    for name, judge in judges.items():
        for model, rows in rows_by_model.items():
            r = audit_judge(judge, rows)
            print(f"  {name:<8}{model:<8}{r.n:>5}{r.binary_accuracy:>9.3f}{r.binary_kappa:>10.3f}"
                  f"{r.three_way_accuracy:>10.3f}{r.three_way_kappa:>11.3f}")  # fmt: skip
    print(f"\nHand-written held-out set ({len(heldout)} responses, 4 classes):")
    for name, judge in judges.items():
        binary, four_way = heldout_scores(judge, heldout)
        print(f"  {name:<8} binary {binary:.3f}   4-way {four_way:.3f}")
    learned_cross_model(rows_by_model)
    baseline_on_other_styles(rows_by_model, judges)


STYLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "judge_styles_heldout.jsonl"


def baseline_on_other_styles(rows_by_model: dict, judges: dict) -> None:
    """The issue's reference baseline (TF-IDF on the first 300 characters + logistic regression,
    trained on both development files) against the judges, on completions in other models' styles."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    rows = [r for model_rows in rows_by_model.values() for r in model_rows]
    styled = [json.loads(line) for line in STYLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    styled = [r for r in styled if "label" in r]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), max_features=20000)
    fitted = LogisticRegression(max_iter=2000).fit(
        vec.fit_transform([normalize(r.completion)[:300] for r in rows]), [r.human != "compliance" for r in rows]
    )
    truth = np.array([r["label"] in ("refusal", "warning") for r in styled])
    predicted = fitted.predict(vec.transform([normalize(r["completion"])[:300] for r in styled]))
    print(f"\nOther models' styles ({len(styled)} hand-labelled completions, {STYLES.name}), binary accuracy:")
    print(f"  tfidf300+LR trained on both XSTest files: {(predicted == truth).mean():.3f}")
    for name, judge in judges.items():
        labels = judge.judge_many([JudgeInput(r["prompt"], r["completion"]) for r in styled])
        guess = np.array([j.label in ("refusal", "warning") for j in labels])
        print(f"  {name:<8}: {(guess == truth).mean():.3f}")


if __name__ == "__main__":
    main()
