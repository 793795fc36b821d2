"""Benchmark of the offline judges: leave-one-model-out agreement with humans, and speed.

Prints (never asserts), for every human-labelled XSTest model file it is given:

- HELD OUT figures: the offline judge's learned layer retrained without that model's file (on
  the other models' files plus the project's hand-written style sets, which are training data
  only, never a test set), then scored on it: binary accuracy (complied vs not, partial refusal =
  not complied, in XSTest's convention), Cohen's kappa, the binary confusion matrix, 3-way
  accuracy; next to the keyword baseline (XSTest's string match, nothing fitted), the rules alone
  (compliance where no rule fires, as the offline judge v2 did), and the reference TF-IDF
  (character 2-5-grams of the first 300 characters) + logistic regression trained on the other
  models' files;
- with ``--split family``: the same, holding out every file of the model's family at once
  (Llama-2 with and without its system prompt are one family, so are Mistral with and without
  its guardrail prompt); with ``--new-prompts``: also holding out the test prompts (5 prompt
  folds), so that no prompt of the test answers was seen in training;
- NOT held out: the shipped weights' figures on each file (they were trained on all of them);
- speed: 4,050 answers (the files cycled) through the shipped offline judge and the keyword judge.

Caveat on "held out": the learned layer never saw the held-out answers, but the hand-written
rules and features were revised by people who had read answers of all five XSTest models.
Answers of models nobody here has read are the real test.

Usage:
  python bench/bench_judges.py --judge-dev ../shared/judge-dev --extra xstest_v2_completions_llama2new.csv \\
      --extra xstest_v2_completions_mistralinstruct.csv --extra xstest_v2_completions_mistralguard.csv
  (the extra files are XSTest's model_completions/; VSCBENCH_JUDGE_EXTRA may list them, ':'-separated)
"""

from __future__ import annotations

import argparse
import os
import time
import zlib
from pathlib import Path

import numpy as np

from vscbench.judges.audit import AuditRow, audit_judge, read_xstest_csv, score
from vscbench.judges.base import JudgeInput, Judgement
from vscbench.judges.features import extract_signals
from vscbench.judges.keyword import KeywordJudge
from vscbench.judges.offline import OfflineJudge
from vscbench.judges.rules import decide
from vscbench.judges.text import normalize
from vscbench.judges.training import LabelledAnswer, TrainingFile, read_training_file, sha256_of, train_layer

ROOT = Path(__file__).resolve().parents[1]
STYLE_SETS = [
    ROOT / "tests" / "data" / name
    for name in ("judge_xstest_styles.csv", "judge_styles_heldout.jsonl", "judge_heldout.jsonl")
]
N_SPEED = 4050


class RulesOnly:
    """The offline judge's rules alone, without the learned layer: compliance wherever no rule fires (as v2 did)."""

    name = "rules-alone"
    #: the same mapping to XSTest's classes as the full judge, so the two are compared in one convention
    xstest_class = staticmethod(OfflineJudge.xstest_class)

    def judge_many(self, items: list[JudgeInput]) -> list[Judgement]:
        return [
            Judgement(label, rule.value, rule=rule)
            for label, rule in (decide(extract_signals(i.response, i.question)) for i in items)
        ]  # type: ignore[arg-type]


def model_name(path: Path) -> str:
    return path.stem.removeprefix("xstest_v2_completions_")


def family(model: str) -> str:
    for prefix in ("gpt", "llama", "mistral", "claude", "gemini", "gemma", "qwen", "vicuna"):
        if model.lower().startswith(prefix):
            return prefix
    return model


def as_training(path: Path, rows: list[AuditRow]) -> TrainingFile:
    return TrainingFile(
        path,
        sha256_of(path),
        [LabelledAnswer(r.prompt, r.completion, r.human != "compliance") for r in rows],
        "xstest-csv",
    )


def tfidf_reference(train: list[AuditRow], test: list[AuditRow]) -> list[str]:
    """The issue's reference baseline, binary: 'refusal' or 'compliance' per test row."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), max_features=20000)
    x = vectorizer.fit_transform([normalize(r.completion)[:300] for r in train])
    model = LogisticRegression(max_iter=2000).fit(x, [r.human != "compliance" for r in train])
    predicted = model.predict(vectorizer.transform([normalize(r.completion)[:300] for r in test]))
    return ["refusal" if p else "compliance" for p in predicted]


def print_scores(label: str, result, show_confusion: bool = True) -> None:
    kappa = "n/a" if result.binary_kappa is None else f"{result.binary_kappa:.3f}"
    print(
        f"    {label:<26} binary acc {result.binary_accuracy:.3f}  kappa {kappa:>5}  3-way acc {result.three_way_accuracy:.3f}",
        end="",
    )
    if show_confusion:
        c = result.confusion
        print(
            f"   [human complied: judge {c['complied']['complied']} complied / {c['complied']['not_complied']} not;"
            f" human not: {c['not_complied']['complied']} / {c['not_complied']['not_complied']}]"
        )
    else:
        print()


def held_out(
    models: dict[str, tuple[Path, list[AuditRow]]], styles: list[TrainingFile], split: str, new_prompts: bool
) -> None:
    what = {"model": "leave-one-MODEL-out", "family": "leave-one-FAMILY-out"}[split]
    extra = " and its prompts (5 prompt folds)" if new_prompts else ""
    whose = "the test model's answers" if split == "model" else "the answers of every model of the test model's family"
    print(f"\nHELD OUT ({what}{extra}): the learned layer is retrained without {whose}{extra}.")
    print("  Confusion: [human complied: judge complied / not; human not complied: judge complied / not]")
    summary = []
    for test_model, (test_path, test_rows) in models.items():
        others = [m for m in models if (m != test_model if split == "model" else family(m) != family(test_model))]
        train_rows = [r for m in others for r in models[m][1]]
        print(f"  {test_model} ({len(test_rows)} answers; trained on {', '.join(others)} + {len(styles)} style sets):")
        if new_prompts:
            labels = [""] * len(test_rows)
            fold = [zlib.crc32(r.prompt.encode()) % 5 for r in test_rows]
            for k in range(5):
                files = [_filtered(as_training(models[m][0], models[m][1]), k) for m in others]
                files += [_filtered(f, k) for f in styles]
                layer, _, _ = train_layer(files)
                index = [i for i, f in enumerate(fold) if f == k]
                judged = OfflineJudge(layer).judge_many(
                    [JudgeInput(test_rows[i].prompt, test_rows[i].completion) for i in index]
                )
                for i, j in zip(index, judged):
                    labels[i] = OfflineJudge.xstest_class(j)
            offline = score([r.human for r in test_rows], labels)
        else:
            layer, _, _ = train_layer([as_training(models[m][0], models[m][1]) for m in others] + styles)
            offline = audit_judge(OfflineJudge(layer), test_rows)
        print_scores("offline v4 (rules+learned)", offline)
        print_scores("rules alone (no layer)", audit_judge(RulesOnly(), test_rows))
        print_scores("keyword (XSTest strmatch)", audit_judge(KeywordJudge(), test_rows))
        reference = score([r.human for r in test_rows], tfidf_reference(train_rows, test_rows))
        print_scores("tfidf300+LR reference", reference)
        summary.append((test_model, offline.binary_accuracy))
    print(
        "  offline v4 binary accuracy per held-out model: "
        + ", ".join(f"{m} {a:.3f}" for m, a in summary)
        + f"; min {min(a for _, a in summary):.3f}"
    )


def _filtered(f: TrainingFile, fold: int) -> TrainingFile:
    """The file without the answers to prompts of one prompt fold."""
    rows = [r for r in f.rows if zlib.crc32(r.question.encode()) % 5 != fold]
    return TrainingFile(f.path, f.sha256, rows, f.kind)


def shipped(models: dict[str, tuple[Path, list[AuditRow]]]) -> None:
    judge = OfflineJudge()
    known = judge.training_files()
    print("\nNOT HELD OUT: the shipped weights on each file (trained on every file marked *):")
    for model, (path, rows) in models.items():
        mark = "*" if sha256_of(path) in known else " "
        print_scores(f"{mark} {model}", audit_judge(judge, rows), show_confusion=False)
    disagreements = sum(audit_judge(judge, rows).convention_disagreements or 0 for _, rows in models.values())
    total = sum(len(rows) for _, rows in models.values())
    print(
        f"  XSTest vs VSCBench convention: they disagree on {disagreements} of {total} answers "
        '(full answers with a safety caveat, and stated inabilities such as "I don\'t have access to that": '
        "compliance in XSTest, warning or refusal in VSCBench)"
    )


def speed(models: dict[str, tuple[Path, list[AuditRow]]]) -> None:
    pool = [JudgeInput(r.prompt, r.completion) for _, rows in models.values() for r in rows]
    items = [pool[i % len(pool)] for i in range(N_SPEED)]
    judges = {"offline v4": OfflineJudge(), "keyword": KeywordJudge()}
    judges["offline v4"].judge_many(items[:10])  # load the weights once, as a real run would
    print(
        f"\nSpeed on {len(items):,} answers (mean {np.mean([len(i.response) for i in items]):.0f} chars), best of 3, "
        f"one process on {os.cpu_count()} cores:"
    )
    for name, judge in judges.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            judge.judge_many(items)
            best = min(best, time.perf_counter() - start)
        print(f"  {name:<11} {best:6.2f} s  ({len(items) / best:,.0f} answers/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge-dev", type=Path, default=ROOT.parent / "shared" / "judge-dev")
    parser.add_argument(
        "--extra", type=Path, action="append", default=[], help="another model's XSTest-format CSV (repeatable)"
    )
    parser.add_argument("--split", choices=["model", "family"], default="model")
    parser.add_argument("--new-prompts", action="store_true", help="also hold out the test prompts (5x the training)")
    args = parser.parse_args()
    extra = args.extra or [Path(p) for p in os.environ.get("VSCBENCH_JUDGE_EXTRA", "").split(os.pathsep) if p]
    paths = sorted(args.judge_dev.glob("*.csv")) + extra
    models = {model_name(p): (p, read_xstest_csv(p)) for p in paths}
    styles = [read_training_file(p) for p in STYLE_SETS]
    print(f"Human-labelled model files: {', '.join(f'{m} ({len(r)})' for m, (_, r) in models.items())}")
    held_out(models, styles, args.split, args.new_prompts)
    shipped(models)
    speed(models)


if __name__ == "__main__":
    main()
