"""How long text in a report costs the browser: a 200,000-character prompt and a 1 MB answer
among 260 ordinary rows, opened in headless Chromium (``/usr/bin/chromium`` or
$VSCBENCH_CHROMIUM) from disk.

Figures (median of LOADS loads): time from navigation to the first rows shown (the page's
``data-ready``), and the time each tab takes to show after a click (Samples, Twins, Run vs run),
measured in the page to the next painted frame; and the time "show all" takes to put the long
answer on screen. Figures only; also runs against an older checkout (set PYTHONPATH) to compare.

    python bench/bench_report_text.py [--loads 3] [--prompt-chars 200000] [--answer-bytes 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from vscbench.report.html import write_report
from vscbench.report.views import RunData
from vscbench.schema import Response, Sample

try:
    from vscbench.scoring.metrics import score
except ImportError:  # the layout before issue 25
    from vscbench.metrics import score  # type: ignore[no-redef]

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TAB_TIME = """async (tab) => {
  const started = performance.now();
  document.querySelector(`a[data-tab='${tab}']`).click();
  document.body.getBoundingClientRect();  // style and layout now, not at the next frame
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return performance.now() - started;
}"""
SHOW_ALL_TIME = """async () => {
  const button = document.querySelector('#samples tbody tr:nth-child(2) td:nth-child(5) button.show-all');
  if (!button) { return null; }
  const started = performance.now();
  button.click();
  document.body.getBoundingClientRect();
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return performance.now() - started;
}"""


def noise(chars: int, seed: int) -> str:
    """Text of varied words and lines, as a pasted document is: browsers cache the shape of a
    repeated word, so a repeated sentence would cost nothing and show nothing."""
    rng = random.Random(seed)
    words, size = [], 0
    while size < chars:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 11)))
        words.append(word + ("\n" if rng.random() < 0.05 else " "))
        size += len(words[-1])
    return "".join(words)[:chars]


def build(folder: Path, prompt_chars: int, answer_bytes: int) -> Path:
    long_prompt = noise(prompt_chars, 1)
    long_answer = noise(answer_bytes, 2)
    samples = [Sample(id=f"text_centric/r{i}/text", subset="text_only", category="homonyms", variant="text",
                      label="safe" if i % 2 else "unsafe", prompt=long_prompt if i == 0 else f"question {i}",
                      pair_key=f"p{i // 2}") for i in range(130)]  # fmt: skip
    runs = []
    for name in ("base", "cot"):
        labels = {s.id: ("refusal" if i % 3 == 0 else "compliance") for i, s in enumerate(samples)}
        responses = {s.id: Response(key=f"{name}{i}", sample_id=s.id, model="m", outcome="ok",
                                    text=long_answer if i == 1 else f"answer {i}") for i, s in enumerate(samples)}  # fmt: skip
        report = replace(score(samples, labels), provenance={"run": name, "model": "m", "method": name,
                                                             "judge": {"key": "offline@v4", "name": "offline", "version": "4"}})  # fmt: skip
        runs.append(RunData(name, report, samples, labels, responses))
    return write_report(folder / "long.html", runs, title="long text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--prompt-chars", type=int, default=200_000)
    parser.add_argument("--answer-bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("VSCBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        page_path = build(Path(tmp), args.prompt_chars, args.answer_bytes)
        print(f"report: {page_path.stat().st_size / 2**20:.1f} MiB")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            for _ in range(args.loads):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(180_000)
                page.goto(page_path.as_uri())
                page.wait_for_selector("html[data-ready='1']")
                opened = page.evaluate("() => performance.getEntriesByName('vscbench-ready')[0].startTime")
                figures.setdefault("open (navigation to rows ready)", []).append(opened)
                for tab, label in (("samples-view", "Samples tab"), ("twins-view", "Twins tab"),
                                   ("versus-view", "Run vs run tab"), ("samples-view", "Samples tab again")):  # fmt: skip
                    figures.setdefault(label, []).append(page.evaluate(TAB_TIME, tab))
                shown = page.evaluate(SHOW_ALL_TIME)
                if shown is not None:
                    figures.setdefault("show all of the long answer", []).append(shown)
                page.close()
            browser.close()
    for label, values in figures.items():
        print(f"{label:34s} {statistics.median(values) / 1000:7.2f} s   (median of {len(values)})")


if __name__ == "__main__":
    main()
