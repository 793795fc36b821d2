"""Hostile release folders (issue 11): image paths leading outside the data folder, oversized
and non-text prompt cells, and markup or escape sequences in the cells `data check` prints."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import openpyxl
import pytest
from PIL import Image
from typer.testing import CliRunner

from hostile import release_row, shared_image_release, tiny_release
from vscbench.benchmarks.check import check_release
from vscbench.benchmarks.vscbench import IMAGE_CENTRIC_DIR, MAX_PROMPT_CHARS, TEXT_CENTRIC_FILE, load_vscbench
from vscbench.cli import app

runner = CliRunner()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real image outside the release folder, which nothing may read."""
    path = tmp_path / "private" / "secret.png"
    path.parent.mkdir()
    Image.new("RGB", (8, 8), "black").save(path)
    return path


def _by_cell(findings) -> dict[tuple[int | None, str | None], tuple[str, str]]:
    return {(f.row, f.column): (f.kind, f.detail) for f in findings}


def test_absolute_and_dotdot_paths_are_findings_not_tracebacks(tmp_path: Path, outside: Path) -> None:
    row = release_row()
    row[2] = str(outside)  # safe_img_0: an absolute path to an existing image
    row[3] = "../../../private/secret.png"  # safe_img_1: climbs out of the release
    root = tiny_release(tmp_path / "release", [row])
    data = load_vscbench(root, warn=False)
    cells = _by_cell(data.report.defects)
    assert cells[(2, "safe_img_0")][0] == "image_outside_data" and "absolute" in cells[(2, "safe_img_0")][1]
    assert cells[(2, "safe_img_1")][0] == "image_outside_data"
    assert data.report.unusable == {
        "image_centric/r2/safe/slot_0": "image path outside the data folder",
        "image_centric/r2/safe/slot_1": "image path outside the data folder",
    }
    assert all(outside.resolve() != Path(s.image_path).resolve() for s in data.samples)
    assert len(data.samples) == 4


def test_symlink_out_of_the_data_folder_is_a_finding(tmp_path: Path, outside: Path) -> None:
    root = tiny_release(tmp_path / "release", [release_row()])
    folder = root / IMAGE_CENTRIC_DIR / "drugs"
    (folder / "unsafe_2.png").unlink()
    os.symlink(outside, folder / "unsafe_2.png")
    (folder / "unsafe_1.png").unlink()
    os.symlink(folder / "unsafe_0.png", folder / "unsafe_1.png")  # a link inside the release is fine
    report = check_release(root)
    assert [(f.kind, f.column) for f in report.defects if f.kind == "image_outside_data"] == [
        ("image_outside_data", "unsafe_img_2")
    ]
    assert report.load.unusable == {"image_centric/r2/unsafe/slot_2": "image path outside the data folder"}
    assert not report.ok


def test_category_folder_leading_outside_is_a_finding(tmp_path: Path) -> None:
    root = tiny_release(tmp_path / "release", [release_row()])
    escape = tmp_path / "elsewhere"
    for name in release_row()[2:]:
        path = escape / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), "white").save(path)
    book = openpyxl.load_workbook(root / "vscbench_image_centric.xlsx")
    book.active.cell(row=2, column=1).value = "../../elsewhere"
    book.save(root / "vscbench_image_centric.xlsx")
    data = load_vscbench(root, warn=False)
    assert data.samples == []
    assert {f.kind for f in data.report.defects} == {"unknown_category", "image_outside_data"}


@pytest.mark.parametrize(
    ("prompt", "kind", "why"),
    [
        ("x" * (MAX_PROMPT_CHARS + 1), "prompt_too_long", "prompt too long"),
        (42, "prompt_not_text", "prompt is not text"),
        (datetime.datetime(2024, 5, 1, 12, 0), "prompt_not_text", "prompt is not text"),
    ],
    ids=["too_long", "number", "date"],
)
def test_bad_prompt_cells_are_findings_and_not_asked(tmp_path: Path, prompt, kind, why) -> None:
    root = tiny_release(tmp_path / "release", [release_row(prompt), release_row(prefix="b_")])
    data = load_vscbench(root, warn=False)
    assert [(f.kind, f.row, f.column) for f in data.report.defects] == [(kind, 2, "Prompt")]
    assert set(data.report.unusable.values()) == {why} and len(data.report.unusable) == 6
    assert {s.source_row for s in data.samples} == {3}


def test_a_prompt_at_the_limit_is_fine(tmp_path: Path) -> None:
    root = tiny_release(tmp_path / "release", [release_row("y" * MAX_PROMPT_CHARS)])
    assert len(load_vscbench(root, warn=False).samples) == 6


def test_text_centric_bad_cells(release_dir: Path) -> None:
    book = openpyxl.load_workbook(release_dir / TEXT_CENTRIC_FILE)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=header.index("prompt_origin") + 1).value = 3.5
    sheet.cell(row=3, column=header.index("prompt_mm") + 1).value = "z" * (MAX_PROMPT_CHARS + 5)
    book.save(release_dir / TEXT_CENTRIC_FILE)
    data = load_vscbench(release_dir, subsets=["text_centric"], warn=False)
    cells = _by_cell(data.report.defects)
    assert cells[(2, "prompt_origin")][0] == "prompt_not_text"
    assert cells[(3, "prompt_mm")][0] == "prompt_too_long"
    assert data.report.unusable["text_centric/r2/text"] == "prompt is not text"
    for variant in ("search", "typography", "concat"):
        assert data.report.unusable[f"text_centric/r3/{variant}"] == "prompt too long"
    assert "text_centric/r3/figstep" in {s.id for s in data.samples}  # FigStep sends its own instruction
    assert not any(f.kind == "missing_prompt" and f.row in (2, 3) for f in data.report.defects)


#: xlsx (XML) cannot hold C0 controls such as ESC, but it can hold the 8-bit CSI (U+009B, which
#: some terminals obey like ESC [) and bidirectional overrides that reorder what is shown.
HOSTILE_CATEGORY = "drugs[/x][bold red]\x9b2J\u202egnp.exe"


def test_data_check_prints_cells_as_plain_text(tmp_path: Path) -> None:
    """Markup and escape sequences from a spreadsheet reach the terminal escaped, not obeyed."""
    row = release_row("Tell me [/x] about [link=http://evil]this[/link]\x9b31m")
    row[0] = HOSTILE_CATEGORY
    root = tiny_release(tmp_path / "release", [row])
    result = runner.invoke(app, ["data", "check", str(root), "--no-decode"])
    assert result.exit_code == 1, result.output
    assert "\x9b" not in result.output and "\u202e" not in result.output
    flat = result.output.replace("\n", "").replace("│", "").replace(" ", "")
    assert "[/x][boldred]\\x9b2J\\u202egnp.exe" in flat
    as_json = runner.invoke(app, ["data", "check", str(root), "--no-decode", "--json"])
    details = [f["detail"] for f in json.loads(as_json.stdout)["findings"]]
    assert any(repr(HOSTILE_CATEGORY) in detail for detail in details)  # JSON holds the finding as written


def test_data_check_memory_is_linear_in_rows_that_share_an_image(tmp_path: Path) -> None:
    """4,000 rows naming the same six images: 24,000 duplicate findings, each naming a few other
    uses and a count, not all 4,000 (which made memory grow with the square of the rows)."""
    import subprocess
    import sys

    root = shared_image_release(tmp_path / "release", 4000)
    script = (
        "import sys\nfrom vscbench.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script, "data", "check", str(root), "--json", "--no-decode"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    peak_kb = int(done.stderr.rsplit("VmHWM:", 1)[1].split()[0])
    report = json.loads(done.stdout)
    assert report["counts"]["duplicate_image"] == 24_000
    detail = next(f["detail"] for f in report["findings"] if f["kind"] == "duplicate_image")
    assert len(detail) < 300 and "used 4,000 times" in detail, detail[:300]
    assert peak_kb < 500_000, peak_kb
