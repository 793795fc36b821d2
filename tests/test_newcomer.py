"""The first hour of a new user (issue 29): placeholder data for the README tour, one vocabulary
across commands and files, keys checked before anything is sent, and run summaries that say
what happened (few-shot rows held out, answers from the cache, tables that fit 80 columns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from vscbench.cli import app

runner = CliRunner()


def one_line_error(result, *needles: str) -> str:
    text = result.output
    assert result.exit_code in (1, 2), (result.exit_code, text)
    assert "Traceback" not in text and "╭─" not in text, text
    flat = " ".join(text.split())
    for needle in needles:
        assert needle in flat, (needle, flat)
    return flat


# ---- placeholder data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def placeholder(tmp_path_factory, shared_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("placeholder") / "vscbench-data"
    result = runner.invoke(app, ["data", "placeholder", str(root), "--metadata", str(shared_dir)])
    assert result.exit_code == 0, result.output
    assert "placeholder" in result.output.lower()
    return root


def test_placeholder_data_is_labelled_in_every_output(placeholder: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    check = runner.invoke(app, ["data", "check", str(placeholder), "--json"])
    assert json.loads(check.output)["placeholder"] is True
    check_text = runner.invoke(app, ["data", "check", str(placeholder), "--no-decode"])
    ran = runner.invoke(app, ["run", "--data", str(placeholder), "--model", "scripted:keyword", "--limit", "8",
                              "--judge", "offline", "--run", "p", "--store", store])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    scored = runner.invoke(app, ["score", "--run", "p", "--store", store])
    reported = runner.invoke(app, ["report", "--run", "p", "--store", store, "--out", str(tmp_path / "r.html")])
    for name, output in (("data check", check_text.output), ("run", ran.output), ("score", scored.output),
                         ("report", (tmp_path / "r.html").read_text(encoding="utf-8"))):  # fmt: skip
        assert "PLACEHOLDER images" in " ".join(output.split()), name
    assert reported.exit_code == 0


# ---- one vocabulary -----------------------------------------------------------------------------


def _options() -> dict[str, dict[str, object]]:
    """Command path -> option name -> the option (every command of the CLI)."""
    import typer
    from typer import _click as click

    root = typer.main.get_command(app)
    context = click.Context(root)
    found: dict[str, dict[str, object]] = {}

    def walk(command, path: list[str]) -> None:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                walk(command.get_command(context, name), [*path, name])
            return
        found[" ".join(path)] = {
            opt: param for param in command.params if param.param_type_name == "option" for opt in param.opts
        }

    walk(root, [])
    return found


SHORT = {"--model": "-m", "--data": "-d", "--limit": "-n", "--judge": "-j", "--run": "-r", "--out": "-o",
         "--benchmark-option": "-B", "--model-option": "-M"}  # fmt: skip


def test_the_same_short_flag_names_the_same_option_on_every_command() -> None:
    wrong = []
    for command, options in _options().items():
        for long, short in SHORT.items():
            if long in options and short not in options[long].opts:  # type: ignore[attr-defined]
                wrong.append(f"{command} {long} lacks {short}")
        for short, long in ((s, lo) for lo, s in SHORT.items()):
            if short in options and long not in options[short].opts:  # type: ignore[attr-defined]
                wrong.append(f"{command} {short} means {options[short].opts}, not {long}")  # type: ignore[attr-defined]
    assert not wrong, wrong


def test_output_files_are_named_with_out_and_max_tokens_has_one_default() -> None:
    options = _options()
    for command in ("quickstart", "demo"):
        assert "--out" in options[command], command
    defaults = {command: opts["--max-tokens"].default for command, opts in options.items() if "--max-tokens" in opts}  # type: ignore[attr-defined]
    assert set(defaults.values()) == {None}, defaults  # None: the experiment's default, 512


def test_subset_names_as_written_in_the_docs(release_template: Path, tmp_path: Path) -> None:
    for subset in ("text-only", "text_only"):
        result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword", "--subset",
                                     subset, "--dry-run", "--json", "--store", str(tmp_path / "s.sqlite")])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["runs"][0]["samples"] == 450
    bad = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword", "--subset",
                              "text_centrc", "--store", str(tmp_path / "s.sqlite")])  # fmt: skip
    one_line_error(bad, "did you mean 'text_centric'", "text_only")


def test_invalid_variants_and_categories_list_the_valid_ones(release_template: Path, tmp_path: Path) -> None:
    base = [
        "run",
        "--data",
        str(release_template),
        "--model",
        "scripted:keyword",
        "--store",
        str(tmp_path / "s.sqlite"),
    ]
    one_line_error(runner.invoke(app, [*base, "--variant", "typografy"]), "did you mean 'typography'", "figstep")
    one_line_error(runner.invoke(app, [*base, "--category", "homonym"]), "did you mean 'homonyms'", "privacy")


def test_config_keys_are_the_cli_options_and_typos_say_did_you_mean(release_template: Path, tmp_path: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(f'model = "scripted:keyword"\n[selection]\ndata = "{release_template}"\nlimit = 4\n'
                      '[generation]\nmax-tokens = 100\n[scoring]\nrule = "papr"\n')  # fmt: skip
    result = runner.invoke(app, ["run", "--config", str(config), "--store", str(tmp_path / "s.sqlite")])
    one_line_error(result, "rule 'papr'", "did you mean 'paper'")
    config.write_text(config.read_text().replace("papr", "paper"))
    result = runner.invoke(app, ["run", "--config", str(config), "--store", str(tmp_path / "s.sqlite"), "--json"])
    assert result.exit_code == 0, result.output


# ---- keys before calls --------------------------------------------------------------------------


def test_an_llm_judge_key_is_checked_before_any_model_call(release_template: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI() as fake:
        result = runner.invoke(app, ["run", "--data", str(release_template), "--model",
                                     f"openai:fake@{fake.base_url}", "--limit", "4", "--judge", "openai:gpt-4o-mini",
                                     "--store", str(tmp_path / "s.sqlite")])  # fmt: skip
        sent = len(fake.completions())
    one_line_error(result, "OPENAI_API_KEY is not set")
    assert sent == 0


def test_quickstart_checks_keys_before_it_says_running(release_template: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = runner.invoke(app, ["quickstart", "--model", "openai:gpt-4o-mini", "--data", str(release_template),
                                 "--store", str(tmp_path / "s.sqlite")])  # fmt: skip
    flat = one_line_error(result, "OPENAI_API_KEY is not set")
    assert "running" not in flat and "rendering" not in flat


# ---- run summaries ------------------------------------------------------------------------------


def test_few_shot_says_that_demonstration_rows_leave_the_sample(release_template: Path, tmp_path: Path) -> None:
    # every text-only sample is selected, so the demonstrations' rows are among them
    result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword", "--subset",
                                 "text_only", "--method", "few-shot:2", "--store", str(tmp_path / "s.sqlite")])  # fmt: skip
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "few-shot:2" in flat and "450 selected" in flat and "held out" in flat, flat


def test_a_rerun_from_the_cache_shows_the_runs_answers(release_template: Path, tmp_path: Path) -> None:
    args = ["run", "--data", str(release_template), "--model", "scripted:keyword", "--limit", "8", "--run", "r",
            "--store", str(tmp_path / "s.sqlite"), "--json"]  # fmt: skip
    first = json.loads(runner.invoke(app, args).output)[0]
    again = json.loads(runner.invoke(app, args).output)[0]
    assert (first["sent"], again["sent"], again["cached"]) == (8, 0, 8)
    assert again["stored"]["ok"] == first["stored"]["ok"] == 8


def test_run_summary_fits_80_columns(release_template: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword", "--limit",
                                 "8", "--store", str(tmp_path / "s.sqlite")], env={"COLUMNS": "80"})  # fmt: skip
    assert result.exit_code == 0, result.output
    table = result.output.split("data:")[0]
    assert "…" not in table, table  # no header or cell cut short
    assert max(len(line) for line in table.splitlines()) <= 80


def test_score_tables_fit_80_columns_without_breaking_a_figure(release_template: Path, tmp_path: Path) -> None:
    import re

    store = str(tmp_path / "s.sqlite")
    ran = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword", "--limit", "40",
                              "--judge", "offline", "--run", "r", "--store", store])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    result = runner.invoke(app, ["score", "--run", "r", "--store", store], env={"COLUMNS": "80"})
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.output
    for line in lines:  # every interval whole on its line, every header word whole
        assert line.count("[") == line.count("]"), line
        assert not re.search(r"\b(refuse d|answere d|Invert ed)\b", line), line
