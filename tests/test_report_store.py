"""`vscbench report` on a store: every run named (or every run with --all) is in the file."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.judges.base import judge_key
from vscbench.judges.offline import OfflineJudge
from vscbench.report.build import write_store_report
from vscbench.schema import Response, RunSpec, Sample, Verdict
from vscbench.store import Store

runner = CliRunner()


def payload_of(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.DOTALL)
    assert match, "no report data in the page"
    return json.loads(match.group(1))


def _samples(tmp: Path) -> list[Sample]:
    samples = []
    for row in range(6):
        for label in ("safe", "unsafe"):
            image = tmp / f"r{row}_{label}.png"
            Image.new("RGB", (64, 48), (40 * row, 120 if label == "safe" else 20, 60)).save(image)
            samples.append(Sample(
                id=f"image_centric/r{row}/{label}/slot_0", subset="image_centric", category="drugs", variant="slot_0",
                label=label, prompt=f"What is in picture {row}?", image_path=image, pair_key=f"image_centric/r{row}/slot_0",
                source_row=row,
            ))  # fmt: skip
    return samples


def _add_run(
    store: Store, name: str, samples: list[Sample], judged: bool, refuse_every: int, method: str = "none"
) -> None:
    store.start_run(RunSpec(name=name, model="scripted:keyword", method=method, data="/data/release"),
                    [(s, f"{name}:{s.id}") for s in samples])  # fmt: skip
    responses = []
    for index, sample in enumerate(samples):
        if index == 0:
            responses.append(
                Response(key=f"{name}:{sample.id}", sample_id=sample.id, model="m", outcome="error", error="timeout")
            )
        elif index == 1:
            responses.append(
                Response(key=f"{name}:{sample.id}", sample_id=sample.id, model="m", outcome="empty", text="")
            )
        else:
            text = "I can't help." if index % refuse_every == 0 else f"Here you go {index} <b>!</b>"
            responses.append(
                Response(key=f"{name}:{sample.id}", sample_id=sample.id, model="m", outcome="ok", text=text)
            )
    store.put_responses(responses)
    if judged:
        judge = OfflineJudge()
        key = judge_key(judge)
        store.put_judge(key, judge.name, judge.version, {})
        store.put_verdicts(
            Verdict(response_key=r.key, sample_id=r.sample_id, judge=key, reason="because <i>so</i>",
                    label="refusal" if "can't" in (r.text or "") else "compliance")
            for r in responses if r.outcome == "ok"
        )  # fmt: skip


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite"
    samples = _samples(tmp_path)
    with Store(path) as store:
        _add_run(store, "base", samples, judged=True, refuse_every=2)
        _add_run(store, "cot", samples, judged=True, refuse_every=3, method="cot")
        _add_run(store, "fresh", samples[:4], judged=False, refuse_every=2)
    return path


def _report(store_path: Path, out: Path, *args: str):
    return runner.invoke(app, ["report", "--store", str(store_path), "--out", str(out), *args])


def test_every_named_run_is_in_the_report(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "two.html"
    result = _report(store_path, out, "--run", "base", "--run", "cot")
    assert result.exit_code == 0, result.output
    assert "2 runs, 24 answers" in result.output
    data = payload_of(out.read_text(encoding="utf-8"))
    assert [run["name"] for run in data["runs"]] == ["base", "cot"]
    assert [run["method"] for run in data["runs"]] == ["none", "cot"]
    assert len(data["rows"]) == 24 and len(data["samples"]) == 12
    assert {row[0] for row in data["rows"]} == {0, 1}
    assert len(data["thumbs"]) == 12  # one per image, shared by both runs
    fields = data["row_fields"]
    rows = [dict(zip(fields, row)) for row in data["rows"]]
    assert sum(r["status"] == "error" for r in rows) == 2 and sum(r["verdict"] == "empty" for r in rows) == 2
    assert {r["reason"] for r in rows if r["status"] == "ok"} == {"because <i>so</i>"}
    page = out.read_text(encoding="utf-8")
    assert "because <i>so</i>" not in page and "Here you go 2 <b>!</b>" not in page
    # the store never saw the runs finish: the report says what `runs list` says, then why figures are missing
    assert "<b>base</b> is running: the run is running" in page and "1 error, 1 empty of 12 samples" in page
    assert re.search(r"offline v\d+", page)


def test_all_runs_include_one_not_judged_yet_with_a_banner(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    result = _report(store_path, out, "--all", "--no-thumbnails", "--no-link-images")
    assert result.exit_code == 0, result.output
    assert "fresh" in result.output and "judge it first" in result.output  # the note says what to do
    page = out.read_text(encoding="utf-8")
    data = payload_of(page)
    assert [run["name"] for run in data["runs"]] == ["base", "cot", "fresh"]
    assert len(data["rows"]) == 28 and data["thumbs"] == []
    fresh = data["runs"][2]
    assert fresh["judge"] == "not judged" and "judge it first" in fresh["warning"]
    assert re.search(r'data-run="fresh"><b>fresh</b> is running: run &#39;fresh&#39; has no current verdicts', page)
    assert all(s[-1] is None for s in data["samples"])  # --no-link-images


def test_a_named_run_without_verdicts_and_bad_arguments_are_errors(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    result = _report(store_path, out, "--run", "fresh")
    assert result.exit_code == 2 and "judge it first" in result.output and not out.exists()
    result = _report(store_path, out, "--run", "nope")
    assert result.exit_code == 2 and "no run named 'nope'" in result.output
    assert _report(store_path, out).exit_code == 2
    both = _report(store_path, out, "--all", "--run", "base")
    assert both.exit_code == 2 and "not both" in both.output
    twice = _report(store_path, out, "--run", "base", "--run", "base")
    assert twice.exit_code == 2 and "more than once" in twice.output
    other_judge = _report(store_path, out, "--run", "base", "--judge", "keyword")
    assert other_judge.exit_code == 2 and "no verdicts by keyword" in other_judge.output
    missing_store = runner.invoke(app, ["report", "--store", str(tmp_path / "none.sqlite"), "--all"])
    assert missing_store.exit_code == 2 and "no store at" in missing_store.output


def test_library_call_reports_what_it_wrote(store_path: Path, tmp_path: Path) -> None:
    stages: list[str] = []
    with Store(store_path) as store:
        result = write_store_report(store, tmp_path / "r.html", ["cot", "base"], rule="strict",
                                    progress=lambda stage, done, total: stages.append(stage))  # fmt: skip
    assert result.runs == ["cot", "base"] and result.rows == 24 and result.samples == 12 and result.thumbnails == 12
    assert result.size_bytes == (tmp_path / "r.html").stat().st_size and result.notes == []
    assert {"runs", "thumbnails"} <= set(stages)
    data = payload_of(result.path.read_text(encoding="utf-8"))
    assert {run["rule"] for run in data["runs"]} == {"strict"}


@pytest.fixture(scope="module")
def shots_store(tmp_path_factory, release_template: Path) -> Path:
    """Runs of one model without and with few-shot demonstrations (which hold the rows of their
    demonstrations out: every text-only sample is asked, so those rows are among them), judged,
    and one more run not judged yet."""
    path = tmp_path_factory.mktemp("shots") / "runs.sqlite"
    base = [
        "run",
        "--data",
        str(release_template),
        "--model",
        "scripted:keyword",
        "--store",
        str(path),
    ]
    assert (
        runner.invoke(
            app, [*base, "--subset", "text_only", "--method", "none", "--method", "few-shot:2", "--judge", "offline"]
        ).exit_code
        == 0
    )
    # image-centric samples: no answer of this run was judged before
    assert runner.invoke(app, [*base, "--subset", "image_centric", "--limit", "40", "--run", "unjudged"]).exit_code == 0
    return path


def test_the_report_and_score_baseline_compare_the_same_samples(shots_store: Path, tmp_path: Path) -> None:
    from vscbench.report.tables import comparison_tables
    from vscbench.scoring.runs import compare_runs

    names = ["keyword", "keyword-few-shot-2"]
    out = tmp_path / "r.html"
    assert _report(shots_store, out, "--run", names[0], "--run", names[1], "--no-thumbnails").exit_code == 0
    page = html.unescape(out.read_text(encoding="utf-8"))
    with Store(shots_store) as store:
        expected = compare_runs(store, names, baseline=names[0])  # what `score --baseline` shows
    assert expected.left_out["keyword"] > 0 and expected.left_out["keyword-few-shot-2"] == 0
    for table in comparison_tables(expected, sections=()):
        for row in table.rows:
            for cell in row:
                assert f">{cell}<" in page, (table.title, cell)


def test_a_run_without_verdicts_leaves_the_comparison_of_the_others(shots_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    result = _report(shots_store, out, "--all", "--no-thumbnails")
    assert result.exit_code == 0, result.output
    page = html.unescape(out.read_text(encoding="utf-8"))
    assert "different judges" not in page and "No paired comparison" not in page
    assert "Δ SRA_a" in page  # the judged runs are compared
    assert "unjudged is not judged yet: left out of the comparison" in page


def test_runs_list_and_the_report_agree_on_whether_a_run_is_complete(tmp_path: Path) -> None:
    """A run with nothing left to ask is complete (runs list), with some answers blocked by the
    provider; a run with a call still to retry is incomplete, even when that is under 1 %."""
    from vscbench.engine.runner import run_samples_sync
    from vscbench.models.base import Generation, ModelSpec

    class Answers:
        max_batch_size = 1

        def __init__(self, name: str, fail: dict[int, str]) -> None:
            self.spec, self.fail, self.calls = ModelSpec("scripted", name), fail, 0

        async def generate(self, requests):
            self.calls += 1
            outcome = self.fail.get(self.calls)
            return [
                Generation(outcome, error="stopped") if outcome else Generation("ok", text="Sure.") for _ in requests
            ]

        async def aclose(self) -> None:
            pass

    samples = [Sample(id=f"s{i}", subset="text_centric", category="c", variant="text", label="safe" if i % 2 else
                      "unsafe", prompt=f"question {i}", pair_key=f"p{i // 2}") for i in range(200)]  # fmt: skip
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run_samples_sync(Answers("blocked", {1: "blocked", 2: "blocked", 3: "blocked"}), samples, store, run_name="blocked",
                         concurrency=1)  # fmt: skip
        run_samples_sync(Answers("errored", {1: "error"}), samples, store, run_name="errored", concurrency=1)
    assert runner.invoke(app, ["judge", "--store", str(path), "--run", "blocked", "--run", "errored"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["runs", "list", "--store", str(path), "--json"]).output)
    status = {row["run"]: row["status"] for row in listed}
    assert status == {"blocked": "complete", "errored": "incomplete"}
    out = tmp_path / "r.html"
    assert _report(path, out, "--all", "--no-thumbnails").exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "<b>errored</b> is incomplete" in page  # 1 error of 200: under 1 %, still not complete
    # nothing left to ask: complete, as runs list says; the blocked answers have no score (issue 24)
    assert "<b>blocked</b> is incomplete" not in page and "<b>blocked</b> is partly scored: 3 blocked" in page
