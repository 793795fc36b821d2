"""One experiment API under the CLI: files, notebooks and the command line make the same runs."""

from __future__ import annotations

import json
import re
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
store = "{tmp_path / "file.sqlite"}"

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
    assert recorded.selection.limit == 10 and recorded.judging.judges == ["offline"]
    again = run_experiment(recorded)
    assert again.runs[0].summary.sent == 0 and again.runs[0].summary.cached == again.runs[0].samples
    assert again.runs[0].score.overall.samples == 10


def test_command_line_options_win_over_the_file(release_template: Path, tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        f"models: [scripted:keyword]\ndata: {release_template}\nlimit: 30\nstore: {tmp_path / 's.sqlite'}\n"
    )
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


def test_the_typed_form_and_the_flat_form_make_the_same_experiment(tmp_path: Path) -> None:
    typed = tmp_path / "typed.toml"
    typed.write_text("""
models = ["scripted:keyword"]
methods = ["none", "cot"]

[selection]
data = "release"
limit = 40
variant = ["slot_0"]

[generation]
max_tokens = 64

[judging]
judge = ["offline"]
with_image = true

[scoring]
rule = "lenient"

[execution]
concurrency = 4
batch_size = 2
""")
    flat = tmp_path / "flat.toml"
    flat.write_text("""
models = ["scripted:keyword"]
methods = ["none", "cot"]
data = "release"
limit = 40
variants = ["slot_0"]
judges = ["offline"]
judge_with_image = true
rule = "lenient"
batch_size = 2
max_tokens = 64

[execution]
concurrency = 4
""")
    new, old = Experiment.load(typed), Experiment.load(flat)
    assert new == old
    assert new.selection.limit == 40 and new.selection.variants == ["slot_0"] and new.judging.with_image
    assert new.execution.model_options == {"batch_size": 2} and new.scoring.rule == "lenient"
    assert new.notes == []
    assert len(old.notes) == 1 and "deprecated" in old.notes[0] and "[selection] data, limit, variants" in old.notes[0]
    assert "[judging] judges, with_image" in old.notes[0] and str(flat) in old.notes[0]
    saved = new.save(tmp_path / "saved.yaml")
    assert Experiment.load(saved) == new
    assert set(new.to_file_dict()) == {
        "models",
        "methods",
        "selection",
        "generation",
        "execution",
        "judging",
        "scoring",
    }


def test_a_misspelt_setting_names_the_close_match(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"\[judging\] 'jugde'; did you mean 'judge'"):
        Experiment.load(_toml(tmp_path, 'models = ["m"]\n[selection]\ndata = "x"\n[judging]\njugde = ["offline"]\n'))
    with pytest.raises(ExperimentError, match="given twice"):
        Experiment.load(_toml(tmp_path, 'models = ["m"]\nmodel = ["n"]\n[selection]\ndata = "x"\n'))
    with pytest.raises(ExperimentError, match="both at the top level and under"):
        Experiment.load(_toml(tmp_path, 'models = ["m"]\nlimit = 3\n[selection]\ndata = "x"\nlimit = 4\n'))


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("models: [m]\ndata: x\nbenchmark_options:\n" + "".join(f"  {line}\n" for line in lines))
    with pytest.raises(ExperimentError, match="expands to more than"):
        Experiment.load(bomb)


def test_a_run_stored_with_the_flat_record_still_loads(release_template: Path, tmp_path: Path) -> None:
    from vscbench.schema import RunSpec

    store = tmp_path / "s.sqlite"
    flat = {"models": ["scripted:keyword"], "data": str(release_template), "limit": 6, "judges": ["offline"],
            "judge_with_image": False, "rule": "paper", "execution": {"concurrency": 2}}  # fmt: skip
    with Store(store) as opened:
        opened.start_run(RunSpec(name="old", model="scripted:keyword", data=str(release_template),
                                 meta={"experiment": flat}), [])  # fmt: skip
        recorded = Experiment.from_run(opened, "old")
    assert recorded.selection.limit == 6 and recorded.judging.judges == ["offline"]
    assert recorded.execution.concurrency == 2


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_the_readmes_experiment_examples_are_the_typed_form(tmp_path: Path) -> None:
    """The README's TOML file loads without a deprecation note, and its notebook call builds."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    toml = re.search(r"```toml\n# experiment.toml\n(.*?)```", readme, re.DOTALL)
    assert toml is not None
    loaded = Experiment.load(_toml(tmp_path, toml.group(1)))
    assert loaded.notes == [] and loaded.selection.limit == 300 and loaded.execution.concurrency == 16
    code = re.search(r"```python\n(from vscbench.experiment import .*?)\nresult = run_experiment", readme, re.DOTALL)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)
    built = namespace["experiment"]
    assert isinstance(built, Experiment) and built.notes == [] and built.judging.judges == ["offline"]
