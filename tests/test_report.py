"""Reports: terminal/Markdown/CSV/JSON tables, PNG figures and the self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pytest
from PIL import Image
from rich.console import Console

from vscbench.metrics import score
from vscbench.report.compare import compare
from vscbench.report.html import render_html, write_html
from vscbench.report.plots import (
    TradeoffPoint,
    plot_category_bars,
    plot_sra_scatter,
    plot_tradeoff,
    tradeoff_points,
)
from vscbench.report.tables import (
    comparison_markdown,
    comparison_tables,
    print_report,
    print_tables,
    report_markdown,
    write_csv,
    write_json,
    write_markdown,
)
from vscbench.schema import Response, Sample, Verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ATTACK = "<script>alert(1)</script>"


def make(sample_id, label, category, variant="slot_0", subset="image_centric", pair_key=None, **extra) -> Sample:
    return Sample(
        id=sample_id,
        subset=subset,
        category=category,
        variant=variant,
        label=label,
        prompt=f"prompt of {sample_id}",
        pair_key=pair_key,
        **extra,
    )


SAMPLES = [
    make("s1", "safe", "drugs", pair_key="p1"),
    make("u1", "unsafe", "drugs", pair_key="p1"),
    make("s2", "safe", "drugs", pair_key="p2"),
    make("u2", "unsafe", "drugs", pair_key="p2"),
    make("s3", "safe", "violence", "slot_1"),
    make("u3", "unsafe", "violence", "slot_1"),
    make("t1", "safe", "homonyms", "text", "text_centric"),
    make("t2", "unsafe", "contrast_homonyms", "typography", "text_centric"),
]
LABELS = {
    "s1": "compliance",
    "u1": "refusal",
    "s2": "refusal",
    "u2": "compliance",
    "s3": "warning",
    "u3": "warning",
    "t1": "irrelevant",
    "t2": "invalid",
}


@pytest.fixture
def report():
    # the lenient rule: s3's warning answers its safe query (under the default rule it would not)
    return score(SAMPLES, LABELS, rule="lenient")


@pytest.fixture
def comparison(report):
    return compare({"base": report, "cot": score(SAMPLES, {**LABELS, "u2": "refusal"}, rule="lenient")}, baseline="base")


def test_rich_tables_show_percentages_with_intervals(report):
    console = Console(record=True, width=200)
    print_report(report, console=console)
    text = console.export_text()
    # safe: s1, s3, t1 answered, s2 refused -> 3/4; unsafe: u1, u3 right, u2 wrong, t2 invalid -> 2/3
    assert "75.0% [30.1–95.4]" in text
    assert "66.7%" in text and "3/4" in text and "2/3" in text
    for title in (
        "By subset",
        "By category",
        "By variant",
        "By subset × variant",
        "Safe/unsafe twins",
        "Verdict classes",
        "Failures",
    ):
        assert title in text
    assert re.search(r"invalid\s+│\s+1\s+│\s+excluded", text)
    assert "contrast_homonyms" in text and "—" in text  # one-sided category: SRA_s undefined


def test_comparison_tables_and_markdown(comparison):
    console = Console(record=True, width=200)
    print_tables(comparison_tables(comparison, sections=("by_subset", "by_category")), console)
    text = console.export_text()
    assert "Δ SRA_a vs base" in text and "+16.7 pts" in text  # SRA_u 2/3 -> 3/3
    markdown = comparison_markdown(comparison)
    assert "| Run |" in markdown and "| cot |" in markdown


def test_markdown_escapes_pipes(report):
    odd = score([make("x", "safe", "a|b")], {"x": "compliance"})
    assert "a\\|b" in report_markdown(odd)
    lines = report_markdown(report).splitlines()
    assert "| Metric | Value [95% CI] | Correct / scored |" in lines


def test_csv_and_json_writers(tmp_path, report, comparison):
    rows = list(csv.DictReader(write_csv(report, tmp_path / "scores.csv").open(encoding="utf-8")))
    overall = next(r for r in rows if r["section"] == "overall")
    assert float(overall["sra_s"]) == 0.75 and overall["safe_correct"] == "3" and overall["unsafe_total"] == "3"
    homonyms = next(r for r in rows if r["section"] == "by_category" and r["group"] == "homonyms")
    assert homonyms["sra_u"] == "" and homonyms["sra_a"] == ""
    both = list(csv.DictReader(write_csv(comparison, tmp_path / "both.csv").open(encoding="utf-8")))
    assert {r["name"] for r in both} == {"base", "cot"}
    data = json.loads(write_json(report, tmp_path / "scores.json").read_text(encoding="utf-8"))
    assert data["overall"]["sra_s"] == 0.75 and data["failures"]["invalid"]["count"] == 1
    assert json.loads(write_json(comparison, tmp_path / "cmp.json").read_text())["baseline"] == "base"
    markdown = write_markdown(report, tmp_path / "r.md").read_text()
    # an incomplete run says so first, then how the figures were made, then the tables
    assert markdown.startswith("> **Warning**: incomplete: 1 invalid of 8 samples")
    assert "- rule: lenient" in markdown and markdown.index("- rule:") < markdown.index("### Overall")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_plots_write_valid_deterministic_pngs(tmp_path, report, comparison):
    scatter = plot_sra_scatter(comparison, tmp_path / "scatter.png")
    assert (tmp_path / "scatter.png").read_bytes() == scatter
    assert plot_sra_scatter(comparison) == scatter  # same input, same bytes
    assert _png_size(scatter)[0] > 300
    bars = plot_category_bars(report, tmp_path / "bars.png")
    assert _png_size(bars)[0] > 300
    assert plot_category_bars(comparison, metric="sra_s") != bars
    points = tradeoff_points(comparison.reports, {"base": 0.81, "cot": 0.78}, {"cot": "base"})
    assert [p.baseline for p in points] == [None, "base"]
    assert _png_size(plot_tradeoff(points, tmp_path / "tradeoff.png"))[0] > 300
    with pytest.raises(ValueError, match="baseline 'nope'"):
        plot_tradeoff([TradeoffPoint("m", 0.5, 0.5, baseline="nope")])
    with pytest.raises(ValueError, match="unknown metric"):
        plot_category_bars(report, metric="accuracy")


def test_html_escapes_model_output_and_embeds_figures(tmp_path, report, comparison):
    image_path = tmp_path / "img.png"
    Image.new("RGB", (300, 200), (200, 30, 30)).save(image_path)
    attacked = SAMPLES[-1].model_copy(update={"image_path": image_path, "prompt": f"evil {ATTACK} prompt"})
    samples = [*SAMPLES[:-1], attacked]
    verdicts = [
        Verdict(
            response_key=f"k{sid}", sample_id=sid, judge="rubric", label=label, reason=f"reason for {sid} <b>bold</b>"
        )
        for sid, label in LABELS.items()
    ]
    responses = {
        "s1": f"Sure! {ATTACK}",
        "u1": Response(key="k", sample_id="u1", model="m", outcome="blocked", error="content filter"),
    }
    path = write_html(
        tmp_path / "report.html",
        report,
        samples,
        labels=iter(verdicts),
        responses=responses,
        comparison=comparison,
        thumbnails=True,
        title="Run <1>",
    )
    page = path.read_text(encoding="utf-8")
    assert ATTACK not in page
    assert "Sure! &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "evil &lt;script&gt;alert(1)&lt;/script&gt; prompt" in page
    assert "reason for s1 &lt;b&gt;bold&lt;/b&gt;" in page and "<title>Run &lt;1&gt;</title>" in page
    assert "[blocked] content filter" in page
    assert page.count("<script>") == 1  # only the report's own filtering script
    figures = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(figures) == 2
    assert all(base64.b64decode(f).startswith(PNG_SIGNATURE) for f in figures)
    assert 'class="thumb" src="data:image/jpeg;base64,' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # works offline: nothing fetched
    assert 'data-verdict="invalid"' in page and 'data-outcome="excluded"' in page
    assert page.count('<tr class="outcome-') == len(samples)
    assert "Δ SRA_a vs base" in page and "drugs" in page


def test_html_sample_cap_and_custom_figures(report):
    page = render_html(report, SAMPLES, LABELS, max_samples=3, figures={"Only one": b"\x89PNG\r\n\x1a\nfake"})
    assert page.count('<tr class="outcome-') == 3
    assert "Showing 3 of 8 samples" in page
    assert page.count("data:image/png;base64,") == 1 and "Only one" in page
    assert 'data-verdict="missing"' not in page
    bare = render_html(report, figures={})
    assert 'id="samples"' not in bare and "<script>" not in bare
