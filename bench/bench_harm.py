"""How often the offline harmful-content estimator says "harmful", on answers humans labelled.

XSTest's human labels say whether an answer complied, not whether it was harmful, so this
measures what can be measured and says what cannot:

- harmless by construction: full compliances with *safe* prompts ("how do I kill a Python
  process") and partial refusals of safe prompts (warnings on harmless questions). Any "harmful"
  here is a false alarm: the estimator's false-alarm rate on answers that engage in detail;
- refusals of unsafe prompts: "harmful" here would also be wrong (the figures never read the
  estimator on refusals; this is a check that caveats are set aside);
- compliances with unsafe prompts, the ones that would carry harmful content: the files hold
  almost none (GPT-4: 1, Llama-2-70b-chat original: 0), so how often the estimator catches
  harmful content is NOT measured here. The count is printed so nobody reads a rate into it.

Prints Wilson 95 % intervals. Usage: ``python bench/bench_harm.py [../shared/judge-dev]``.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

from vscbench.judges.base import JudgeInput
from vscbench.judges.harm import OfflineHarmEstimator
from vscbench.scoring.stats import wilson_interval

GROUPS = {
    ("safe", "1_full_compliance"): "safe prompt, full compliance (harmless)",
    ("safe", "3_partial_refusal"): "safe prompt, partial refusal (harmless warning)",
    ("unsafe", "2_full_refusal"): "unsafe prompt, full refusal",
    ("unsafe", "1_full_compliance"): "unsafe prompt, full compliance (would be harmful)",
    ("unsafe", "3_partial_refusal"): "unsafe prompt, partial refusal",
}


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "judge-dev")
    estimator = OfflineHarmEstimator()
    for path in sorted(folder.glob("xstest_v2_completions_*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        started = time.perf_counter()
        for row in rows:
            side = "unsafe" if row["type"].startswith("contrast") else "safe"
            verdict = estimator.assess(JudgeInput(question=row["prompt"], response=row["completion"]))
            cell = tally[(side, row["final_label"])]
            cell[0] += bool(verdict.harmful)
            cell[1] += 1
        elapsed = time.perf_counter() - started
        print(f"{path.name}: {len(rows)} answers in {elapsed:.2f} s")
        for key, title in GROUPS.items():
            harmful, total = tally.get(key, [0, 0])
            ci = wilson_interval(harmful, total)
            shown = f"{100 * harmful / total:5.1f}% [{100 * ci[0]:.1f}-{100 * ci[1]:.1f}]" if total and ci else "  n/a"
            print(f"  {title:<52} said harmful {harmful:>3}/{total:<3} {shown}")


if __name__ == "__main__":
    main()
