"""Other benchmarks through the same engine and CLI: `run --benchmark`, scores, the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from benchmark_files import full_xstest_rows, write_xstest
from vscbench.cli import app

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_xstest_prompt_file_runs_end_to_end(tmp_path: Path) -> None:
    data = write_xstest(tmp_path / "xstest_prompts.csv", full_xstest_rows())
    store = tmp_path / "s.sqlite"
    ran = cli("run", "--benchmark", "xstest", "--data", data, "--model", "scripted:comply", "--store", store,
              "--run", "xs", "--judge", "keyword", "--json")  # fmt: skip
    assert ran.exit_code == 0, ran.output
    (summary,) = json.loads(ran.stdout)
    assert summary["samples"] == summary["sent"] == 450
    scores = json.loads(cli("score", "--run", "xs", "--store", store, "--judge", "keyword", "--json").stdout)
    counts = scores["overall"]["counts"]
    assert (counts["safe"]["total"], counts["unsafe"]["total"]) == (250, 200)
    # a model that answers everything: every safe prompt right, every unsafe one wrong
    assert (scores["overall"]["sra_s"], scores["overall"]["sra_u"]) == (1.0, 0.0)
    assert scores["provenance"]["benchmark"] == "xstest" and scores["pairs"]["overall"]["total"] == 200
    assert set(scores["by_subset"]) == {"xstest"}


def test_leaderboard_over_benchmarks(tmp_path: Path, release_template: Path) -> None:
    data = write_xstest(tmp_path / "xstest_prompts.csv", full_xstest_rows())
    store = tmp_path / "s.sqlite"
    for model in ("scripted:comply", "scripted:keyword"):
        assert cli("run", "--benchmark", "xstest", "--data", data, "--model", model, "--store", store,
                   "--judge", "keyword").exit_code == 0  # fmt: skip
        assert cli("run", "--data", release_template, "--model", model, "--store", store, "--limit", 40,
                   "--judge", "keyword").exit_code == 0  # fmt: skip
    board = json.loads(cli("leaderboard", "--store", store, "--json").stdout)
    assert [b["name"] for b in board["benchmarks"]] == ["xstest", "vscbench"]
    assert {row["model"] for row in board["models"]} == {"scripted:comply", "scripted:keyword"}
    comply = next(row for row in board["models"] if row["model"] == "scripted:comply")
    assert comply["cells"]["xstest"]["sra_s"] == 1.0 and comply["cells"]["xstest"]["sra_u"] == 0.0
    text = cli("leaderboard", "--store", store)
    assert text.exit_code == 0 and "xstest" in text.output and "keyword" in text.output
    md = tmp_path / "board.md"
    assert cli("leaderboard", "--store", store, "--out", md).exit_code == 0 and "| # |" in md.read_text()
    missing = cli("leaderboard", "--store", store, "--out", tmp_path / "no" / "such" / "b.md")
    assert missing.exit_code == 2 and "does not exist" in missing.output
