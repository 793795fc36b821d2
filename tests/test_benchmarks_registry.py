"""The benchmark registry and `vscbench benchmarks list|check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vscbench.benchmarks.findings import DatasetError
from vscbench.benchmarks.registry import BENCHMARKS, LOADERS, get_info, load_benchmark, option_names, parse_options
from vscbench.cli import app

DATA = Path(__file__).parent / "data" / "benchmarks"
FIXTURES = {
    "xstest": DATA / "xstest" / "xstest_prompts.csv",
    "orbench": DATA / "orbench",
    "mossbench": DATA / "mossbench",
    "mssbench": DATA / "mssbench",
    "vlguard": DATA / "vlguard",
    "siuo": DATA / "siuo",
    "mmsafetybench": DATA / "mmsafetybench",
    "figstep": DATA / "figstep",
}


def test_every_benchmark_is_registered_with_consistent_info():
    assert list(BENCHMARKS) == ["vscbench", *FIXTURES]
    for name, info in BENCHMARKS.items():
        assert info.name == name and name in LOADERS
        assert set(info.labels) <= {"safe", "unsafe"} and info.labels
        assert ("sra_s" in info.measures) == ("safe" in info.labels)
        assert ("sra_u" in info.measures) == ("unsafe" in info.labels)
        assert ("pairs" in info.measures) == info.pairs
        assert info.licence and info.url.startswith("https://") and info.get_it
        assert [key for key, _ in info.options] == option_names(name), name
    assert BENCHMARKS["mossbench"].measures == ("sra_s",)
    assert (
        BENCHMARKS["figstep"].measures
        == BENCHMARKS["siuo"].measures
        == BENCHMARKS["mmsafetybench"].measures
        == ("sra_u",)
    )
    assert BENCHMARKS["vlguard"].gated and BENCHMARKS["siuo"].non_commercial
    assert get_info("SafeBench").name == "figstep" and get_info("MM-SafetyBench").name == "mmsafetybench"


@pytest.mark.parametrize("name", list(FIXTURES))
def test_every_loader_gives_unique_ids_prefixed_by_its_name_and_the_shared_fields(name):
    loaded = load_benchmark(name, FIXTURES[name])
    assert loaded.info is BENCHMARKS[name] and loaded.samples
    ids = [s.id for s in loaded.samples]
    assert len(ids) == len(set(ids)) and all(i.startswith(f"{name}/") for i in ids)
    for sample in loaded.samples:
        assert sample.subset == name and sample.meta["benchmark"] == name and sample.meta["cluster"].startswith(name)
        assert sample.label in BENCHMARKS[name].labels and sample.variant in BENCHMARKS[name].variants
        assert sample.source_file and sample.prompt
        assert (sample.image_path is not None) == (
            BENCHMARKS[name].modality == "image+text" and sample.variant != "text"
        )
    assert bool(loaded.report.pairs) == BENCHMARKS[name].pairs
    assert loaded.report.summary().startswith(f"{name}: loaded {len(ids)} samples")


def test_vscbench_is_one_entry_loaded_through_its_own_loader(release_dir):
    loaded = load_benchmark("vscbench", release_dir, subset="text_centric", variants=("text",))
    assert len(loaded.samples) == 450 and {s.variant for s in loaded.samples} == {"text"}
    assert loaded.samples[0].subset == "text_centric" and loaded.samples[0].meta["benchmark"] == "vscbench"
    assert loaded.report.summary().startswith("vscbench: loaded 450 samples (250 safe, 200 unsafe)")
    whole = load_benchmark("vscbench", release_dir)
    assert len(whole.samples) + len(whole.report.unusable) == 4050 and whole.report.findings
    assert "a complete copy" not in whole.report.summary()


def test_unknown_names_options_and_paths_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="unknown benchmark 'xs'.*xstest.*benchmarks list"):
        load_benchmark("xs", tmp_path)
    with pytest.raises(DatasetError, match="xstest has no option 'variants'; its options: split, revision"):
        load_benchmark("xstest", FIXTURES["xstest"], variants=("SD",))
    with pytest.raises(DatasetError, match="gated.*request access at https://huggingface.co/datasets/ys-zong/VLGuard"):
        load_benchmark("vlguard", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="looked for: combined.json, combine.json"):
        load_benchmark("mssbench", tmp_path)
    with pytest.raises(DatasetError, match="not loaded from the Hugging Face Hub"):
        load_benchmark("siuo", "hf:sinwang/SIUO@abc")


def test_parse_options_types_values_from_the_command_line():
    assert parse_options("mmsafetybench", ["variants=SD,TYPO", "scenarios=01-Illegal_Activitiy"]) == {
        "variants": ("SD", "TYPO"), "scenarios": ("01-Illegal_Activitiy",),
    }  # fmt: skip
    assert parse_options("mossbench", ["contrast=true"]) == {"contrast": True}
    assert parse_options("figstep", {"tiny": "no", "instruction": "Fill it in, a=b."}) == {
        "tiny": False,
        "instruction": "Fill it in, a=b.",
    }
    with pytest.raises(DatasetError, match="say true or false"):
        parse_options("mossbench", ["contrast=maybe"])
    with pytest.raises(DatasetError, match="is not KEY=VALUE"):
        parse_options("mossbench", ["contrast"])
    with pytest.raises(DatasetError, match="no option 'colour'"):
        parse_options("figstep", ["colour=red"])


def test_cli_list_as_a_table_and_as_json():
    runner = CliRunner()
    table = runner.invoke(app, ["benchmarks", "list"], env={"COLUMNS": "220"})
    assert table.exit_code == 0, table.output
    for name in BENCHMARKS:
        assert name in table.output
    assert "CC-BY-NC-4.0" in table.output and "gated" in table.output
    listed = runner.invoke(app, ["benchmarks", "list", "--json"])
    payload = json.loads(listed.output)
    assert [b["name"] for b in payload] == list(BENCHMARKS)
    xstest = payload[1]
    assert xstest["expected_samples"] == 450 and xstest["labels"] == ["safe", "unsafe"] and xstest["pairs"] is True
    assert xstest["hub_id"] == "Paul/XSTest" and len(xstest["hub_revision"]) == 40 and xstest["bundled"] is False
    assert payload[3]["measures"] == ["sra_s"] and payload[5]["access"] == "gated, non-commercial"


def test_cli_check_exit_codes_follow_the_findings(tmp_path):
    runner = CliRunner()
    clean = runner.invoke(app, ["benchmarks", "check", "vlguard", "--data", str(FIXTURES["vlguard"])])
    assert clean.exit_code == 0 and "vlguard: loaded 5 samples" in clean.output and "no defects" in clean.output
    root = Path(shutil.copytree(FIXTURES["mossbench"], tmp_path / "moss"))
    (root / "data" / "images" / "2.png").unlink()
    broken = runner.invoke(
        app, ["benchmarks", "check", "mossbench", "--data", str(root), "-B", "contrast=true", "--json"]
    )
    assert broken.exit_code == 1
    report = json.loads(broken.output)
    assert (
        report["counts"]["missing_image"] == 1
        and not report["ok"]
        and report["unusable"] == {"mossbench/2": "image missing"}
    )
    assert report["findings"][0]["row"] == 2 and report["findings"][0]["column"] == "image"
    missing = runner.invoke(app, ["benchmarks", "check", "siuo", "--data", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "not bundled" in missing.output


def test_cli_check_prints_data_cells_as_plain_text(tmp_path):
    path = tmp_path / "xstest_prompts.csv"
    path.write_text("id,prompt,type,label,focus,note\n1,Hello?,[bold]odd[/bold]\x1b[31m,safe,,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["benchmarks", "check", "xstest", "--data", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "[bold]odd[/bold]" in result.output and "\x1b[31m" not in result.output and "\\x1b" in result.output
