"""Tracebacks users met (issue 11), each now one line that names the fix and exits non-zero:
a missing API key in `judge`, --store that is a folder or not a store, an --out that cannot be
written (and no folders made up on the way), a spreadsheet given to `judge-audit`, a --baseline
typo, and a judge with no verdicts for the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.engine.runner import run_samples_sync
from vscbench.models.base import load_model
from vscbench.models.scripted import ScriptedModel  # noqa: F401 (the scripted backend exists)
from vscbench.schema import Sample
from vscbench.store import Store

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "runs.sqlite"
    samples = [
        Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe" if i % 2 else "unsafe",
               prompt=f"How do I do thing {i}?", pair_key=f"p{i // 2}")
        for i in range(6)
    ]  # fmt: skip
    with Store(path) as opened:
        run_samples_sync(load_model("scripted:keyword"), samples, opened, run_name="r")
        run_samples_sync(load_model("scripted:keyword"), samples, opened, run_name="r2", config=None)
    assert runner.invoke(app, ["judge", "--store", str(path), "--run", "r", "--judge", "offline"]).exit_code == 0
    return path


def one_line_error(result, *needles: str) -> str:
    """The output of a failed command: an exit code of 1 or 2, no traceback, the needles in it."""
    text = result.output
    assert result.exit_code in (1, 2), (result.exit_code, text)
    assert "Traceback" not in text and "╭─" not in text, text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    flat = " ".join(text.split())
    for needle in needles:
        assert needle in flat, (needle, flat)
    return flat


def test_judge_without_an_api_key_is_one_line(store: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = runner.invoke(app, ["judge", "--store", str(store), "--run", "r", "--judge", "openai:gpt-4o-mini"])
    one_line_error(result, "OPENAI_API_KEY is not set")


@pytest.mark.parametrize("command", [["score", "--run", "r"], ["runs", "list"], ["report", "--run", "r"]])
def test_store_that_is_a_folder_or_not_a_store(tmp_path: Path, command: list[str]) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    one_line_error(runner.invoke(app, [*command, "--store", str(folder)]), "is a folder, not a store")
    notes = tmp_path / "notes.csv"
    notes.write_text("a,b\n1,2\n")
    one_line_error(runner.invoke(app, [*command, "--store", str(notes)]), "notes.csv is not a vscbench store")
    assert notes.read_text() == "a,b\n1,2\n"


def test_run_into_a_file_that_is_not_a_store(tmp_path: Path, release_template: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("a,b\n")
    result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword",
                                 "--limit", "4", "--store", str(notes)])  # fmt: skip
    one_line_error(result, "notes.csv is not a vscbench store", "left as it is")


@pytest.mark.parametrize(
    "command",
    [
        ["score", "--run", "r", "--out", "{missing}/scores.csv"],
        ["runs", "export", "r", "--out", "{missing}/r.jsonl"],
        ["report", "--run", "r", "--out", "{missing}/dir/r.html"],
    ],
    ids=["score", "export", "report"],
)
def test_out_in_a_folder_that_does_not_exist_makes_no_folder(store: Path, tmp_path: Path, command) -> None:
    missing = tmp_path / "nowhere"
    args = [part.replace("{missing}", str(missing)) for part in command]
    one_line_error(runner.invoke(app, [*args, "--store", str(store)]), "nowhere", "does not exist")
    assert not missing.exists()


def test_out_that_cannot_be_written_is_one_line(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    one_line_error(runner.invoke(app, ["score", "--run", "r", "--store", str(store), "--out", str(folder)]),
                   "a-folder.csv", "is a folder")  # fmt: skip
    one_line_error(runner.invoke(app, ["score", "--run", "r", "--store", str(store), "--out", "/proc/x.csv"]),
                   "/proc/x.csv")  # fmt: skip


def test_judge_audit_given_a_spreadsheet_is_one_line(tmp_path: Path, release_template: Path) -> None:
    xlsx = release_template / "vscbench_image_centric.xlsx"
    one_line_error(runner.invoke(app, ["judge-audit", str(xlsx), "-j", "offline"]), "vscbench_image_centric.xlsx")


def test_baseline_typo_is_one_line(store: Path) -> None:
    result = runner.invoke(app, ["score", "--store", str(store), "--run", "r", "--run", "r2", "--baseline", "rr"])
    one_line_error(result, "--baseline 'rr'", "r, r2")


def test_judge_without_verdicts_lists_the_judges_that_have_some(store: Path) -> None:
    for command in (["score"], ["report", "--out", str(store.parent / "x.html")]):
        result = runner.invoke(app, [*command, "--store", str(store), "--run", "r", "--judge", "keyword"])
        one_line_error(result, "no verdicts by keyword", "offline")


def test_run_prints_server_errors_as_text_and_stops_on_a_refused_key(tmp_path: Path, release_template: Path) -> None:
    from fake_openai import FakeOpenAI, Fault

    hostile = "bad [/x] key \x1b]0;owned\x07\x1b[2J [bold]loud[/bold] \x9b31m"
    with FakeOpenAI() as fake:
        fake.fail(None, Fault("status", 401, code="invalid_api_key", message=hostile), times=None)
        result = runner.invoke(app, ["run", "--data", str(release_template), "--model", f"openai:fake@{fake.base_url}",
                                     "--limit", "100", "--concurrency", "4", "--max-retries", "0",
                                     "--store", str(tmp_path / "runs.sqlite")])  # fmt: skip
        sent = len(fake.completions())
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "\x9b" not in result.output
    flat = " ".join(result.output.split())
    assert "bad [/x] key \\x1b]0;owned\\x07\\x1b[2J [bold]loud[/bold]" in flat
    assert "stopped after 3 calls in a row failed with HTTP 401" in flat and "API key" in flat
    assert sent <= 3 + 4


def test_score_files_escape_html_and_neutralise_formulas(tmp_path: Path) -> None:
    import csv

    path = tmp_path / "runs.sqlite"
    evil = ['=HYPERLINK("http://e")', "<img src=x onerror=alert(1)>"]
    samples = [
        Sample(id=f"s{i}", subset="text_centric", category=evil[i % 2], variant="text",
               label="safe" if i % 4 < 2 else "unsafe", prompt=f"How do I do thing {i}?")
        for i in range(8)
    ]  # fmt: skip
    with Store(path) as opened:
        run_samples_sync(load_model("scripted:keyword"), samples, opened, run_name="r")
    assert runner.invoke(app, ["judge", "--store", str(path), "--run", "r", "--judge", "offline"]).exit_code == 0
    for suffix in ("md", "csv"):
        result = runner.invoke(
            app, ["score", "--store", str(path), "--run", "r", "--out", str(tmp_path / f"s.{suffix}")]
        )
        assert result.exit_code == 0, result.output
    markdown = (tmp_path / "s.md").read_text()
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(1)&gt;" in markdown
    groups = {row["group"] for row in csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8"))}
    assert not any(group.startswith(("=", "+", "-", "@")) for group in groups)
    assert '\'=HYPERLINK("http://e")' in groups
