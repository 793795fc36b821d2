"""One experiment API under the CLI: files, notebooks and the command line make the same runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.experiment import Experiment, ExperimentError, run_experiment
from vscbench.store import Store

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def keys(store: Path, run: str) -> dict[str, str]:
    with Store(store) as opened:
        return opened.run_keys(run)


def test_cli_file_and_notebook_make_the_same_run(release_template: Path, tmp_path: Path) -> None:
    args = ("--data", release_template, "--model", "scripted:keyword", "--limit", 24, "--seed", 3, "--method",
            "few-shot:1", "--max-tokens", 64, "--system-prompt", "Be helpful.", "--run", "r")  # fmt: skip
    assert cli("run", *args, "--store", tmp_path / "cli.sqlite").exit_code == 0
    config = tmp_path / "exp.toml"
    config.write_text(f"""
models = ["scripted:keyword"]
data = "{release_template}"
limit = 24
seed = 3
methods = ["few-shot:1"]
run_name = "r"
store = "{tmp_path / 'file.sqlite'}"

[generation]
max_tokens = 64
system_prompt = "Be helpful."
""")
    assert cli("run", "--config", config).exit_code == 0
    notebook = Experiment(models=["scripted:keyword"], data=str(release_template), limit=24, seed=3,
                          methods=["few-shot:1"], run_name="r", store=str(tmp_path / "nb.sqlite"),
                          generation={"max_tokens": 64, "system_prompt": "Be helpful."})  # fmt: skip
    result = run_experiment(notebook)
    assert result.ok and result.runs[0].summary.sent > 0
    expected = keys(tmp_path / "cli.sqlite", "r")
    assert len(expected) == result.runs[0].samples
    assert keys(tmp_path / "file.sqlite", "r") == expected == keys(tmp_path / "nb.sqlite", "r")


def test_the_stored_experiment_recreates_the_run(release_template: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    assert cli("run", "--data", release_template, "--model", "scripted:keyword", "--limit", 10, "--store", store,
               "--run", "r", "--judge", "offline").exit_code == 0  # fmt: skip
    with Store(store) as opened:
        recorded = Experiment.from_run(opened, "r")
    assert recorded.limit == 10 and recorded.judges == ["offline"]
    again = run_experiment(recorded)
    assert again.runs[0].summary.sent == 0 and again.runs[0].summary.cached == again.runs[0].samples
    assert again.runs[0].score.overall.samples == 10


def test_command_line_options_win_over_the_file(release_template: Path, tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(f"models: [scripted:keyword]\ndata: {release_template}\nlimit: 30\nstore: {tmp_path / 's.sqlite'}\n")
    result = cli("run", "--config", config, "--limit", 8, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["samples"] == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('models = ["scripted:keyword"]\ndata = "x"\nlimt = 3\n', "limt"),
        ('models = ["scripted:keyword"]\ndata = "x"\n[generation]\ntemperature = 9\n', "temperature"),
        ("models = [", "cannot be read"),
        ('models = []\ndata = "x"\n', "at least one model"),
    ],
)
def test_bad_experiment_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(text)
    result = cli("run", "--config", config)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    with pytest.raises(ExperimentError, match=message):
        Experiment.load(config)


def test_model_options_are_checked_before_loading(release_template: Path, tmp_path: Path) -> None:
    result = cli("run", "--data", release_template, "--model", "scripted:keyword", "-M", "nonsense=1",
                 "--store", tmp_path / "s.sqlite")  # fmt: skip
    assert result.exit_code == 0  # the scripted backend takes any option
    hf = cli("run", "--data", release_template, "--model", "hf:/nowhere", "-M", "colour=blue", "--store",
             tmp_path / "s.sqlite")  # fmt: skip
    assert hf.exit_code == 2 and "colour" in hf.output and "dtype" in hf.output
    bad = cli("run", "--data", release_template, "--model", "scripted:keyword", "-M", "novalue")
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


def test_few_shot_that_leaves_nothing_to_evaluate_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"id": f"s{i}", "subset": "image_centric", "category": "c", "variant": "v",
                                        "label": "safe" if i % 2 else "unsafe", "prompt": "q?"}) + "\n"
                            for i in range(2)))  # fmt: skip
    result = cli("run", "--data", data, "--model", "scripted:keyword", "--method", "few-shot:1",
                 "--store", tmp_path / "s.sqlite")  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_release_with_one_spreadsheet_runs_without_naming_the_subset(release_template: Path, tmp_path: Path) -> None:
    import shutil

    release = tmp_path / "release"
    shutil.copytree(release_template, release)
    (release / "vscbench_text_centric.xlsx").unlink()
    result = cli("run", "--data", release, "--model", "scripted:keyword", "--limit", 6, "--store", tmp_path / "s.sqlite",
                 "--run", "r", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["samples"] == 6
    lone = cli("score", "--run", "r", "--baseline", "r", "--store", tmp_path / "s.sqlite")
    assert lone.exit_code == 2 and "at least two --run" in lone.output
