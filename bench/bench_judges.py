"""Benchmark of the offline judges: leave-one-source-out figures, calibration, coverage, and speed.

Prints (never asserts), on the training data of ``data/judge`` (eight hand-labelled files: the
five XSTest completion files relabelled in four classes and the project's three style sets; and
the two generated halves):

- HELD OUT, for the offline judge v5: every source is judged by a model trained on the *other*
  sources (whole files held out, never rows), with the shipped settings. Per source and pooled
  over the eight hand-labelled files: binary accuracy (refusal vs the rest, XSTest's convention
  as in issue 26: a warning complied), accuracy over VSCBench's three classes (refusal / warning
  / direct answer; irrelevant counts as a direct answer), over the four classes, recall and
  precision of the warning class, and the expected calibration error of the confidence after a
  temperature fitted on the *other* sources' held-out probabilities; the worst XSTest file;
  coverage against accuracy when the judge abstains below a threshold. ``--split family`` also
  drops the held-out file's sibling (the other Llama-2 or Mistral file) from training;
- the same figures for the hand-written rules of v4 alone (:func:`vscbench.judges.rules.decide`)
  and the keyword judge (XSTest's string match): nothing in them is fitted, so no hold-out;
- speed: answers per second of the shipped judges, features computed from scratch.

What "held out" cannot remove: the guideline's author labelled all eight files and wrote the
cues after reading them, the rules were tuned on the XSTest files, and the five XSTest files
answer the same 450 prompts. These are development figures; answers of models nobody here has
read are the real test (v4 scored 0.927 binary on this relabelling, 0.871 on such a set).

Usage: ``python bench/bench_judges.py [--split family] [--jobs 2] [--skip-holdout]``
(about 10 fits of a minute each on two cores; ``--jobs 2`` runs two folds at once).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from vscbench.judges.base import JudgeInput
from vscbench.judges.features import extract_signals
from vscbench.judges.keyword import KeywordJudge
from vscbench.judges.learned import MODEL_CLASSES, softmax
from vscbench.judges.offline import OfflineJudge
from vscbench.judges.rules import decide
from vscbench.judges.training import GENERATED_WEIGHT, TEMPERATURE, C, design_matrix, fit_sources
from vscbench.judges.training_data import FAMILIES, Source, generated_sources, real_sources

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
N_SPEED = 4000
Fitter = Callable[[list[Source], sp.csr_matrix], tuple[np.ndarray, np.ndarray, np.ndarray]]


def three(label: str) -> str:
    """VSCBench's three human classes: an irrelevant answer is an unsafe direct answer."""
    return "compliance" if label == "irrelevant" else label


def scores(gold: list[str], pred: list[str], conf: np.ndarray | None = None) -> dict[str, float]:
    g, p = np.array(gold), np.array(pred)
    warned, said = g == "warning", p == "warning"
    out = {
        "n": float(len(g)),
        "binary": float(np.mean((g == "refusal") == (p == "refusal"))),
        "three": float(np.mean([three(a) == three(b) for a, b in zip(g, p)])),
        "four": float(np.mean(g == p)),
        "warn_recall": float((warned & said).sum() / max(warned.sum(), 1)),
        "warn_precision": float((warned & said).sum() / said.sum()) if said.any() else float("nan"),
    }
    if conf is not None:
        out["ece"] = ece(conf, g == p)
    return out


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top-class probability (equal-width bins)."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def fit_temperature(gold: list[str], probs: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``probs`` on ``gold`` (grid on a log scale)."""
    y = np.array([MODEL_CLASSES.index(g) for g in gold])
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    best, best_t = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 121)):
        p = softmax(logp, t)
        nll = -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def shipped_fit(sources: list[Source], x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return fit_sources(sources, C, GENERATED_WEIGHT, x)


def _fold(sources: list[Source], x: sp.csr_matrix, spans: dict[str, slice], held: str, family: bool, fitter: Fitter):
    drop = {held}
    if family:
        drop |= {m for members in FAMILIES.values() if held in members for m in members}
    train = [s for s in sources if s.name not in drop]
    rows = np.concatenate([np.arange(spans[s.name].start, spans[s.name].stop) for s in train])
    columns, coef, intercept = fitter(train, x[rows])
    span = spans[held]
    logits = np.asarray(x[span][:, columns] @ coef.T.astype(np.float64)) + intercept
    return held, softmax(logits)


def holdout(sources: list[Source], x: sp.csr_matrix, family: bool, jobs: int, fitter: Fitter = shipped_fit) -> dict:
    """Out-of-source probabilities of every row, and per-source temperatures fitted on the other sources."""
    spans, start = {}, 0
    for s in sources:
        spans[s.name] = slice(start, start + len(s.rows))
        start += len(s.rows)
    names = [s.name for s in sources]
    if jobs > 1:
        from joblib import Parallel, delayed

        folds = Parallel(n_jobs=jobs)(delayed(_fold)(sources, x, spans, h, family, fitter) for h in names)
    else:
        folds = [_fold(sources, x, spans, h, family, fitter) for h in names]
    raw = np.zeros((x.shape[0], len(MODEL_CLASSES)))
    for held, probs in folds:
        raw[spans[held]] = probs
    gold = [label for s in sources for label in s.labels]
    calibrated, temperatures = np.zeros_like(raw), {}
    for s in sources:
        others = np.ones(len(gold), dtype=bool)
        others[spans[s.name]] = False
        t = fit_temperature([g for g, k in zip(gold, others) if k], raw[others])
        temperatures[s.name] = t
        calibrated[spans[s.name]] = softmax(np.log(np.clip(raw[spans[s.name]], 1e-12, 1.0)), t)
    return {"spans": spans, "raw": raw, "calibrated": calibrated, "temperatures": temperatures, "gold": gold}


def report_rows(sources: list[Source], gold: list[str], pred: list[str], conf: np.ndarray | None) -> dict[str, dict]:
    """Scores per source, pooled over the hand-labelled ones (``REAL``), and the worst XSTest file."""
    out, start = {}, 0
    real = np.zeros(len(gold), dtype=bool)
    for s in sources:
        span = slice(start, start + len(s.rows))
        out[s.name] = scores(gold[span], pred[span], None if conf is None else conf[span])
        real[span] = not s.generated
        start += len(s.rows)
    idx = np.flatnonzero(real)
    out["REAL (8 files)"] = scores([gold[i] for i in idx], [pred[i] for i in idx], None if conf is None else conf[idx])
    xstest = [name for name in out if name.startswith("xstest_")]
    out["worst XSTest file"] = {
        key: min(out[name][key] for name in xstest) for key in ("binary", "three", "four", "warn_recall")
    }
    return out


def print_table(title: str, table: dict[str, dict]) -> None:
    keys = ("n", "binary", "three", "four", "warn_recall", "warn_precision", "ece")
    print(f"\n{title}\n")
    print("| source | answers | binary | 3-class | 4-class | warning recall | warning precision | ECE |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, row in table.items():
        cells = []
        for key in keys:
            value = row.get(key)
            if value is None or (isinstance(value, float) and np.isnan(value)):
                cells.append("-")
            else:
                cells.append(f"{int(value)}" if key == "n" else f"{value:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_coverage(gold: list[str], pred: list[str], conf: np.ndarray) -> None:
    g, p = np.array(gold), np.array(pred)
    print("\nCoverage against accuracy (hand-labelled files, held out, calibrated confidence):\n")
    print("| abstain below | coverage | 4-class | 3-class | binary |")
    print("| --- | --- | --- | --- | --- |")
    for t in THRESHOLDS:
        keep = conf >= t
        kept = scores(list(g[keep]), list(p[keep]))
        print(f"| {t:.2f} | {keep.mean():.3f} | {kept['four']:.3f} | {kept['three']:.3f} | {kept['binary']:.3f} |")
    low = conf < 0.6
    if low.any():
        print(f"\n(accuracy of the {low.sum()} verdicts below 0.60: {np.mean(g[low] == p[low]):.3f})")


def learned_figures(sources: list[Source], x: sp.csr_matrix, family: bool, jobs: int) -> None:
    split = "leave-one-FAMILY-out" if family else "leave-one-source-out"
    start = time.perf_counter()
    result = holdout(sources, x, family, jobs)
    gold, calibrated = result["gold"], result["calibrated"]
    pred = [MODEL_CLASSES[k] for k in calibrated.argmax(axis=1)]
    conf = calibrated.max(axis=1)
    print_table(
        f"offline v5, HELD OUT ({split}; {time.perf_counter() - start:.0f} s of fitting):",
        report_rows(sources, gold, pred, conf),
    )
    temperatures = result["temperatures"]
    print(
        "\nTemperatures fitted on the other sources: "
        + ", ".join(f"{name} {t:.2f}" for name, t in temperatures.items())
        + f"; median {np.median(list(temperatures.values())):.2f} (shipped: {TEMPERATURE})"
    )
    real = np.concatenate(
        [np.arange(sl.start, sl.stop) for s, sl in zip(sources, result["spans"].values()) if not s.generated]
    )
    raw_conf = result["raw"].max(axis=1)
    print(
        f"ECE over the hand-labelled files: raw {ece(raw_conf[real], (np.array(gold) == np.array(pred))[real]):.3f}, "
        f"with the held-out temperature {ece(conf[real], (np.array(gold) == np.array(pred))[real]):.3f}"
    )
    print_coverage([gold[i] for i in real], [pred[i] for i in real], conf[real])


def fixed_figures(sources: list[Source]) -> None:
    """The rules alone and the keyword judge: nothing fitted, every source scored as it is."""
    items = [JudgeInput(row.question, row.answer) for s in sources for row in s.rows]
    gold = [label for s in sources for label in s.labels]
    rules = [decide(extract_signals(i.response, i.question))[0] for i in items]
    print_table("rules alone (v4's hand-written rules, nothing fitted):", report_rows(sources, gold, rules, None))
    keyword = [j.label for j in KeywordJudge().judge_many(items)]
    print_table("keyword (XSTest's string match, nothing fitted):", report_rows(sources, gold, keyword, None))


def speed(sources: list[Source]) -> None:
    pool = [JudgeInput(row.question, row.answer) for s in sources if not s.generated for row in s.rows]
    items = [pool[i % len(pool)] for i in range(N_SPEED)]
    offline = OfflineJudge()
    offline.judge_many(items[:10])  # load the weights once, as a real run would
    judges = {"offline v5": offline.judge_many, "keyword": KeywordJudge().judge_many}
    judges["rules alone"] = lambda batch: [decide(extract_signals(i.response, i.question)) for i in batch]
    mean_chars = np.mean([len(i.response) for i in items])
    print(
        f"\nSpeed on {len(items):,} answers (mean {mean_chars:.0f} chars), best of 3, one process, {os.cpu_count()} cores:"
    )
    for name, judge in judges.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            judge(items)
            best = min(best, time.perf_counter() - start)
        print(f"  {name:<12} {best:6.2f} s  ({best / len(items) * 1000:5.2f} s per 1,000 answers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["source", "family"], default="source")
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted at once (each needs about 2 GB)")
    parser.add_argument("--skip-holdout", action="store_true", help="only the fixed judges and the speed")
    args = parser.parse_args()
    sources = real_sources() + generated_sources()
    print("Sources: " + ", ".join(f"{s.name} ({len(s.rows)})" for s in sources))
    if not args.skip_holdout:
        start = time.perf_counter()
        x = design_matrix([(row.question, row.answer) for s in sources for row in s.rows])
        print(f"Features of {x.shape[0]:,} answers in {time.perf_counter() - start:.0f} s")
        learned_figures(sources, x, args.split == "family", args.jobs)
    fixed_figures(sources)
    speed(sources)


if __name__ == "__main__":
    main()
