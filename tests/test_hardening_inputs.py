"""Hostile inputs of issue 29, each a one-line error that names the file, row or option, never a
traceback: malformed XML and an entity bomb inside an .xlsx, a YAML alias bomb in benchmark
options, a lone surrogate in a JSONL prompt, a bad byte in --system-prompt, a parquet file
named .jsonl, unknown benchmark options, and raw terminal escapes in run names."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hostile import release_row, tiny_release
from vscbench.cli import app

runner = CliRunner()
SHEET = "xl/worksheets/sheet1.xml"

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lolololololololololololololololololololol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
    b'<c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)


def one_line_error(result, *needles: str) -> str:
    text = result.output
    assert result.exit_code in (1, 2), (result.exit_code, text)
    assert "Traceback" not in text and "╭─" not in text, text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    flat = " ".join(text.split())
    for needle in needles:
        assert needle in flat, (needle, flat)
    return flat


def with_member(xlsx: Path, member: str, data: bytes) -> None:
    """Replace one member of an xlsx (a zip) with ``data``."""
    with zipfile.ZipFile(xlsx) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(xlsx, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@pytest.fixture
def broken_xml(tmp_path: Path, request) -> Path:
    root = tiny_release(tmp_path / "release", [release_row()])
    xlsx = root / "vscbench_image_centric.xlsx"
    with zipfile.ZipFile(xlsx) as archive:
        sheet = archive.read(SHEET)
    with_member(xlsx, SHEET, sheet[: len(sheet) // 2] if request.param == "truncated" else ENTITY_BOMB)
    return root


@pytest.mark.parametrize("broken_xml", ["truncated", "entity_bomb"], indirect=True)
def test_malformed_xml_in_a_workbook_is_one_line(broken_xml: Path, tmp_path: Path) -> None:
    check = runner.invoke(app, ["data", "check", str(broken_xml), "--json"])
    assert check.exit_code == 1 and "Traceback" not in check.output, check.output
    (finding,) = json.loads(check.output)["findings"]
    assert finding["kind"] == "unreadable_file" and finding["file"] == "vscbench_image_centric.xlsx", finding
    assert "is not a readable Excel workbook" in finding["detail"], finding
    run = runner.invoke(app, ["run", "--data", str(broken_xml), "--model", "scripted:keyword", "--store",
                              str(tmp_path / "runs.sqlite")])  # fmt: skip
    one_line_error(run, "vscbench_image_centric.xlsx")


def test_an_entity_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    root = tiny_release(tmp_path / "release", [release_row()])
    with_member(root / "vscbench_image_centric.xlsx", SHEET, ENTITY_BOMB)
    script = (
        "import sys\nfrom vscbench.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script, "data", "check", str(root)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    peak_kb = int(done.stderr.rsplit("VmHWM:", 1)[1].split()[0])
    assert peak_kb < 400_000 and "Traceback" not in done.stderr, (peak_kb, done.stderr[-1500:])


def test_a_yaml_alias_bomb_in_benchmark_options_is_refused(tmp_path: Path) -> None:
    """``-B`` values are strings (no YAML is parsed there); an experiment file is the one YAML
    reader, and its loader bounds the expanded value."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
    )
    samples = tmp_path / "x.csv"
    samples.write_text("id,prompt,type,label\n1,hi,homonyms,safe\n")
    config = tmp_path / "exp.yaml"
    config.write_text(
        "models: [scripted:keyword]\nselection:\n  benchmark: xstest\n  data: " + str(samples) + "\n"
        "  benchmark_options:\n" + "".join(f"    {line}\n" for line in bomb.splitlines())
    )
    result = runner.invoke(app, ["run", "--config", str(config), "--store", str(tmp_path / "runs.sqlite")])
    one_line_error(result, "exp.yaml", "YAML aliases")


def test_unknown_benchmark_options_name_the_key_and_the_close_match(tmp_path: Path, release_template: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword",
                                 "-B", "varients=typography", "--store", str(tmp_path / "runs.sqlite")])  # fmt: skip
    one_line_error(result, "varients", "did you mean 'variants'")
    config = tmp_path / "exp.toml"
    config.write_text(f'models = ["scripted:keyword"]\n[selection]\ndata = "{release_template}"\n'
                      '[selection.benchmark_options]\nstrickt = false\n')  # fmt: skip
    result = runner.invoke(app, ["run", "--config", str(config), "--store", str(tmp_path / "runs.sqlite")])
    one_line_error(result, "strickt", "did you mean 'strict'")


def test_benchmark_options_select_samples_of_the_default_benchmark(tmp_path: Path, release_template: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword",
                                 "-B", "variants=typography", "-B", "subset=text_centric", "--dry-run", "--json",
                                 "--store", str(tmp_path / "runs.sqlite")])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.output)["runs"]
    assert run["samples"] == 450, run  # the typography images of the 450 text-centric prompts, not 4,050 samples


def test_a_lone_surrogate_in_a_jsonl_prompt_names_the_line(tmp_path: Path) -> None:
    rows = [
        {"id": "s0", "subset": "text_centric", "category": "c", "variant": "text", "label": "safe", "prompt": "fine"},
        {"id": "s1", "subset": "text_centric", "category": "c", "variant": "text", "label": "safe",
         "prompt": "half \ud800 an emoji"},
    ]  # fmt: skip
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows))  # \ud800 as a JSON escape
    result = runner.invoke(app, ["run", "--data", str(samples), "--model", "scripted:keyword", "--store",
                                 str(tmp_path / "runs.sqlite"), "--run", "r"])  # fmt: skip
    assert "codec can't encode" not in result.output and "Traceback" not in result.output, result.output
    flat = " ".join(result.output.split())
    assert "samples.jsonl:2: prompt holds a lone surrogate" in flat and result.exit_code == 2, flat


def test_a_bad_byte_in_the_system_prompt_names_the_option(tmp_path: Path, release_template: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(release_template), "--model", "scripted:keyword", "--limit",
                                 "4", "--system-prompt", "be safe \udcff", "--store", str(tmp_path / "runs.sqlite")])  # fmt: skip
    one_line_error(result, "--system-prompt")
    assert "codec can't encode" not in result.output


def test_a_parquet_file_named_jsonl_is_one_line(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": ["s0"], "subset": ["text_centric"], "category": ["c"], "variant": ["text"],
                      "label": ["safe"], "prompt": ["hello"]})  # fmt: skip
    wrong = tmp_path / "samples.jsonl"
    pq.write_table(table, wrong)
    result = runner.invoke(app, ["run", "--data", str(wrong), "--model", "scripted:keyword", "--store",
                                 str(tmp_path / "runs.sqlite")])  # fmt: skip
    one_line_error(result, "samples.jsonl", "parquet")
    assert "codec can't" not in result.output


def test_terminal_escapes_in_run_names_never_reach_the_terminal(tmp_path: Path, release_template: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(f'models = ["scripted:keyword"]\nrun_name = "evil\\u001b]0;owned\\u0007\\u001b[2J"\n'
                      f'[selection]\ndata = "{release_template}"\nlimit = 4\n')  # fmt: skip
    store = str(tmp_path / "runs.sqlite")
    ran = runner.invoke(app, ["run", "--config", str(config), "--store", store])
    listed = runner.invoke(app, ["runs", "list", "--store", store])
    for result in (ran, listed):
        assert "\x1b" not in result.output and "\x07" not in result.output, repr(result.output)
    assert "evil" in listed.output
