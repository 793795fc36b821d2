"""Untrusted text for each destination (issue 11): terminals, CSV, Markdown, the store."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

from vscbench.cli.common import plain, print_json
from vscbench.safe_text import csv_cell, csv_row, markdown_cell, printable, repair

ESCAPES = "\x1b]0;owned\x07\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\\x1b[2J\x9b31m\u202etxt.exe"


def test_printable_makes_every_terminal_control_visible() -> None:
    shown = printable(ESCAPES + "\r\x00\x7f")
    assert not any(ch in shown for ch in "\x1b\x07\x9b\u202e\r\x00\x7f")
    assert shown.startswith("\\x1b]0;owned\\x07") and "\\u202etxt.exe" in shown
    assert printable("line one\n\tline two") == "line one\n\tline two"
    assert printable("line one\n\tline two", one_line=True) == "line one\\x0a\\x09line two"
    assert printable("caf\u00e9 \u4e2d\u6587 \U0001f600 \u200d") == "caf\u00e9 \u4e2d\u6587 \U0001f600 \u200d"
    assert printable("lone \ud800") == "lone \\ud800"


@pytest.mark.parametrize(
    "text",
    ["[/x]", "[bold red]loud[/bold red]", "[link=http://evil]x[/link]", "ends with \\", ":thumbs_up: [/]", ESCAPES],
)
def test_plain_prints_as_written_through_rich(text: str) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=500, color_system=None, emoji=False)
    console.print(f"[bold]reason:[/bold] {plain(text)}", highlight=False)
    assert buffer.getvalue() == f"reason: {printable(text)}\n"


def test_print_json_keeps_a_lone_surrogate_as_its_escape(capsys) -> None:
    print_json({"text": "a\ud800b", "ok": "caf\u00e9"})
    out = capsys.readouterr().out
    assert json.loads(out) == {"text": "a\ud800b", "ok": "caf\u00e9"}
    out.encode("utf-8")  # valid UTF-8


def test_repair_replaces_and_says_so() -> None:
    assert repair("fine text") == ("fine text", None)
    assert repair(None) == (None, None)
    text, note = repair("a\ud800b\x00c\x00")
    assert text == "a\ufffdb\ufffdc\ufffd"
    assert note == "text repaired: 1 lone surrogate and 2 NUL characters replaced by U+FFFD"
    text.encode("utf-8")


@pytest.mark.parametrize("formula", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("http://e")'])
def test_csv_cells_never_run_as_formulas(formula: str) -> None:
    cell = csv_cell(formula)
    assert cell == "'" + formula
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["a", "n"])
    writer.writerow(csv_row({"a": formula, "n": -0.5}))
    (row,) = csv.DictReader(io.StringIO("a,n\n" + buffer.getvalue()))
    assert row["a"].removeprefix("'") == formula and row["n"] == "-0.5"  # numbers stay numbers


def test_csv_cell_leaves_ordinary_values() -> None:
    assert [csv_cell(v) for v in ("hello", "a=b", "", None, 3, -1.5)] == ["hello", "a=b", "", None, 3, -1.5]


def test_markdown_cell_escapes_html_links_and_pipes() -> None:
    cell = markdown_cell("<img src=x onerror=alert(1)> [click](javascript:alert(1)) a|b `code` *em*\nnext")
    assert "<" not in cell and ">" not in cell and "&lt;img" in cell
    assert "[click\\](javascript:alert(1))" in cell and "a\\|b" in cell and "\\`code\\`" in cell
    assert "\n" not in cell
    assert markdown_cell("image_centric / drugs") == "image\\_centric / drugs"
    assert markdown_cell("\x1b[2J") == "\\\\x1b[2J"
    assert markdown_cell("Value [95% CI]") == "Value [95% CI]"  # brackets only escaped where they end a link
