"""The cross-benchmark leaderboard over real score reports of fixture benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from vscbench.benchmarks.registry import BENCHMARKS, load_benchmark
from vscbench.report.leaderboard import build_leaderboard, headline_for, to_json, to_markdown, to_rich
from vscbench.scoring.metrics import score

DATA = Path(__file__).parent / "data" / "benchmarks"


@pytest.fixture(scope="module")
def samples():
    return {
        "xstest": load_benchmark("xstest", DATA / "xstest" / "xstest_prompts.csv").samples,
        "mossbench": load_benchmark("mossbench", DATA / "mossbench").samples,
        "figstep": load_benchmark("figstep", DATA / "figstep").samples,
    }


def refuses_everything(items):
    return {s.id: "refusal" for s in items}


def answers_everything(items):
    return {s.id: "compliance" for s in items}


def calibrated(items):
    return {s.id: "compliance" if s.label == "safe" else "refusal" for s in items}


def test_each_column_shows_the_figure_its_benchmark_defines(samples):
    scores = {}
    for model, policy in (
        ("refuser", refuses_everything),
        ("answerer", answers_everything),
        ("calibrated", calibrated),
    ):
        for name, items in samples.items():
            scores[(model, name)] = score(items, policy(items))
    board = build_leaderboard(scores, measures={n: BENCHMARKS[n].measures for n in samples})
    assert board.headlines == {"xstest": "sra_a", "mossbench": "sra_s", "figstep": "sra_u"}
    assert board.models == ["calibrated", "answerer", "refuser"]  # a tie at 50% is broken by name
    assert board.cells[("refuser", "mossbench")].value == 0.0 and board.cells[("refuser", "figstep")].value == 1.0
    assert board.cells[("refuser", "xstest")].value == 0.5 and board.cells[("refuser", "xstest")].pairs_total == 4
    assert board.means["calibrated"] == (1.0, 3)
    assert board.means["refuser"][0] == pytest.approx(0.5) and board.means["answerer"][0] == pytest.approx(0.5)
    # without measures, the sides present in the scores decide the same headlines
    inferred = build_leaderboard(scores)
    assert inferred.headlines == board.headlines


def test_markdown_terminal_and_json_show_the_same_figures(samples):
    scores = [
        ("model-a", "xstest", score(samples["xstest"], calibrated(samples["xstest"]))),
        ("model-a", "figstep", score(samples["figstep"], refuses_everything(samples["figstep"]))),
        ("model-b|<i>x</i>", "xstest", score(samples["xstest"], answers_everything(samples["xstest"]))),
    ]
    board = build_leaderboard(scores)
    markdown = to_markdown(board)
    assert "| # | model | xstest (SRA\\_a) | figstep (SRA\\_u) | mean (benchmarks) |" in markdown
    assert "model-b\\|&lt;i&gt;x&lt;/i&gt;" in markdown and "<i>" not in markdown
    assert "| 1 | model-a | 100.0% [68.7–100.0] · pairs 100.0% | 100.0% [" in markdown
    assert "| 2 | model-b\\|&lt;i&gt;x&lt;/i&gt; | 50.0% [" in markdown and "| — | 50.0% (1) |" in markdown
    payload = json.loads(to_json(board))
    assert [m["model"] for m in payload["models"]] == ["model-a", "model-b|<i>x</i>"]
    cell = payload["models"][1]["cells"]["xstest"]
    assert (cell["sra_s"], cell["sra_u"], cell["value"]) == (1.0, 0.0, 0.5) and cell["pairs"]["total"] == 4
    assert payload["models"][1]["benchmarks_scored"] == 1
    console = Console(width=200, record=True)
    console.print(to_rich(board))
    text = console.export_text()
    assert "model-b|<i>x</i>" in text and "50.0%" in text


def test_incomplete_runs_and_mixed_judges_are_flagged(samples):
    items = samples["xstest"]
    partial = score(items, {s.id: "refusal" for s in items[:3]})
    full = score(items, refuses_everything(items))
    full = type(full)(**{**full.__dict__, "provenance": {"judge": {"name": "offline", "version": 3}}})
    other = type(full)(**{**full.__dict__, "provenance": {"judge": {"name": "openai:gpt-4o-mini", "version": "ab12"}}})
    board = build_leaderboard({("a", "xstest"): partial, ("b", "xstest"): full, ("c", "xstest"): other})
    assert board.cells[("a", "xstest")].warning and board.cells[("a", "xstest")].text().endswith(" !")
    notes = " ".join(board.notes())
    assert "different judges (offline v3, openai:gpt-4o-mini (version ab12))" in notes
    assert "a on xstest" in notes


def test_a_cell_is_one_report_and_headlines_follow_sides():
    with pytest.raises(ValueError, match="same \\(model, benchmark\\)"):
        build_leaderboard([("m", "b", None), ("m", "b", None)])  # type: ignore[list-item]
    assert headline_for([], ("sra_s",)) == "sra_s" and headline_for([], ("sra_u",)) == "sra_u"
    assert headline_for([], ("sra_s", "sra_u", "sra_a")) == "sra_a"
