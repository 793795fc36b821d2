"""`vscbench run --execution batch`, `--dry-run` estimates, `--max-cost` and the cost views,
end to end against the local batch provider (:mod:`fake_batch`), whose token counts are its own
(word pieces and decoded images), not vscbench's estimate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from fake_batch import FakeBatch
from vscbench.cli import app
from vscbench.models.pricing import shipped_prices
from vscbench.schema import Sample
from vscbench.store import Store

CLI = [sys.executable, "-c", "from vscbench.cli import main; main()"]


def cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def fake() -> Any:
    with FakeBatch() as server:
        yield server


@pytest.fixture(scope="module")
def sized_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Samples with images of many sizes (some above max_image_side, so the downscale counts)."""
    folder = tmp_path_factory.mktemp("sized")
    rows = []
    for index in range(16):
        image = folder / f"img{index}.png"
        Image.new("RGB", (180 + 130 * index, 900 - 40 * index), (index * 15, 80, 140)).save(image)
        prompt = f"Look at picture {index}. Explain, step by step, how someone would remove the object shown here."
        rows.append(Sample(id=f"q{index}", subset="image_centric", category="violence", variant="slot_0",
                           label="safe" if index % 2 else "unsafe", prompt=prompt, image_path=image,
                           source_row=index // 2))  # fmt: skip
    data = folder / "samples.jsonl"
    data.write_text("".join(row.model_dump_json() + "\n" for row in rows))
    return data


def within(estimate: float, actual: float, share: float = 0.10) -> bool:
    return abs(estimate - actual) <= share * actual


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_dry_run_estimates_within_ten_percent_of_what_the_server_reports(
    provider: str, fake: FakeBatch, sized_samples: Path, release_template: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Input tokens are known before a run (the requests are); an answer's length is not, so the
    judge's input and every output are estimated from the answers a store holds: checked once
    a pilot has answered and been judged."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    model = (
        f"openai:gpt-4o@{fake.base_url}" if provider == "openai" else f"anthropic:claude-haiku-4-5@{fake.anthropic_url}"
    )
    store = tmp_path / "s.sqlite"
    text = ("--variant", "text", "--limit")
    steps = [(sized_samples, (), ()), (release_template, (*text, 24), ()), (release_template, (*text, 24), ("--judge", model)),
             (release_template, (*text, 60), ("--judge", model))]  # fmt: skip
    for step, (data, selection, judge) in enumerate(steps):
        base = ("run", "--data", data, "--model", model, "--store", store, *selection, *judge)
        dry = cli(*base, "--dry-run", "--json")
        assert dry.exit_code == 0, dry.output
        estimate = json.loads(dry.stdout)
        assert {"calls", "input_tokens", "output_tokens", "cost_usd", "cost_usd_batch"} <= set(estimate)
        assert estimate["cost_usd_batch"] == pytest.approx(estimate["cost_usd"] / 2, rel=1e-3)
        before = dict(fake.usage_reported)
        done = cli(*base, "--execution", "batch", "--batch-poll", "0.01")
        assert done.exit_code == 0, done.output
        reported = {key: fake.usage_reported[key] - before[key] for key in before}
        assert within(estimate["input_tokens"], reported["prompt_tokens"]), (step, estimate, reported)
        if step == 3:  # answers and verdicts stored: their lengths are known
            assert within(estimate["output_tokens"], reported["completion_tokens"]), (step, estimate, reported)
            assert estimate["judge"]["calls"] == estimate["models"]["calls"] == _new_samples(release_template, 24, 60)


def test_batch_costs_half_in_runs_list_and_score_shows_the_run_and_precision_cost(
    fake: FakeBatch, release_template: Path, tmp_path: Path
) -> None:
    store, other = tmp_path / "s.sqlite", tmp_path / "sync.sqlite"  # one store would share the answers
    model = f"openai:gpt-4o-mini@{fake.base_url}"
    base = ("run", "--data", release_template, "--model", model, "--judge", model, "--limit", 12)
    assert (
        cli(*base, "--store", store, "--execution", "batch", "--batch-poll", "0.01", "--run", "batched").exit_code == 0
    )
    assert cli(*base, "--store", other, "--run", "synced").exit_code == 0
    listed = {row["run"]: row for path in (store, other)
              for row in json.loads(cli("runs", "list", "--store", path, "--json").stdout)}  # fmt: skip
    price = shipped_prices().price("openai:gpt-4o-mini")
    assert price is not None
    for name, batch in (("batched", True), ("synced", False)):
        row = listed[name]
        judge_calls = sum(line["calls"] for line in row["judges"].values())  # answers alike are judged once
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0 and row["calls"] == 12 + judge_calls
        assert 0 < judge_calls <= 12 and row["batch_calls"] == (row["calls"] if batch else 0)
        assert row["cost_usd"] == pytest.approx(
            price.cost(row["input_tokens"], row["output_tokens"], batch=batch), rel=1e-4
        )
    assert listed["batched"]["cost_usd"] == pytest.approx(listed["synced"]["cost_usd"] / 2, rel=1e-3)  # same calls
    shown = cli("runs", "list", "--store", store)
    assert "$0.0" in shown.stdout and "price unknown" not in shown.stdout
    scored = cli("score", "--run", "batched", "--store", store, "--json")
    cost = json.loads(scored.stdout)["provenance"]["cost"]
    assert cost["cost_usd"] == pytest.approx(listed["batched"]["cost_usd"], rel=1e-4)
    assert cost["judge"]["calls"] == listed["batched"]["calls"] - 12 and cost["one_point"]["sra_a"]["extra_samples"] > 0
    printed = " ".join(cli("score", "--run", "batched", "--store", store).stdout.split())  # lines wrap at 80
    batch_calls = listed["batched"]["batch_calls"]
    assert "one point of SRA_a precision costs $" in printed and f"{batch_calls} batch calls at the batch" in printed


def test_an_unknown_model_has_no_price_until_a_price_file_gives_one(fake: FakeBatch, release_template: Path,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    store = tmp_path / "s.sqlite"
    model = f"openai:fake-vlm@{fake.base_url}"
    assert cli("run", "--data", release_template, "--model", model, "--store", store, "--limit", 4).exit_code == 0
    row = json.loads(cli("runs", "list", "--store", store, "--json").stdout)[0]
    assert row["cost_usd"] is None and row["unpriced"] == [model]
    shown = cli("runs", "list", "--store", store).stdout
    assert "unknown" in shown and "price" in shown and "$0.0" not in shown  # folded in its 80-column cell
    refused = cli("run", "--data", release_template, "--model", model, "--store", store, "--limit", 8, "--max-cost", 1)
    assert refused.exit_code == 2 and "--max-cost needs the price of" in refused.output
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"format": "vscbench-prices/1",
                                  "models": {"openai:fake-vlm": {"input": 1.0, "output": 4.0, "date": "2026-12-01"}}}))  # fmt: skip
    row = json.loads(cli("runs", "list", "--store", store, "--json", "--prices", prices).stdout)[0]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] + 4 * row["output_tokens"]) / 1e6)
    prices.write_text('{"models": {"openai:fake-vlm": {"input": "cheap"}}}')
    bad = cli("runs", "list", "--store", store, "--prices", prices)
    assert bad.exit_code == 2 and "prices.json" in bad.output and "input" in bad.output


@pytest.mark.parametrize("execution", ["batch", "sync"])
def test_max_cost_stops_with_the_spend_and_a_rerun_goes_on(
    execution: str, fake: FakeBatch, release_template: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.sqlite"
    model = f"openai:gpt-4o@{fake.base_url}"
    base = ("run", "--data", release_template, "--model", model, "--store", store, "--variant", "text",
            "--limit", 40, "--execution", execution, "--batch-poll", "0.01", "--batch-requests", 5,
            "--max-tokens", 64)  # fmt: skip
    estimate = json.loads(cli(*base, "--dry-run", "--json").stdout)
    budget = estimate["cost_usd_max"] * (0.3 if execution == "sync" else 0.15)  # about 60 % of the actual cost
    stopped = cli(*base, "--max-cost", budget)
    assert stopped.exit_code == 1
    line = [text for text in stopped.stderr.splitlines() if text.startswith("error:")]
    assert len(line) == 1 and f"stopped at --max-cost ${budget:.4f}: spent $" in line[0]
    spent = float(line[0].split("spent $")[1].split()[0])
    with Store(store) as opened:
        answered = len(opened.answered_keys(opened.run_keys(opened.list_runs()[0].name).values()))
    per_call = estimate["cost_usd_max"] / estimate["calls"] * (0.5 if execution == "batch" else 1.0)
    assert 0 < answered < 40 and spent <= budget
    assert budget - spent < 5 * 1.15 * per_call  # within one chunk (5 requests) of the budget
    again = cli(*base, "--max-cost", 10)
    assert again.exit_code == 0, again.output
    with Store(store) as opened:
        assert len(opened.answered_keys(opened.run_keys(opened.list_runs()[0].name).values())) == 40


def test_open_batches_are_listed_and_cancelled(fake: FakeBatch, release_template: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    model = f"openai:gpt-4o-mini@{fake.base_url}"
    base = ("run", "--data", release_template, "--model", model, "--store", store, "--limit", 6,
            "--execution", "batch", "--batch-poll", "0.01")  # fmt: skip
    fake.hold()
    submitted = cli(*base, "--no-batch-wait", "--json")
    assert submitted.exit_code == 0, submitted.output
    assert "not waited for" in json.loads(submitted.stdout)[0]["stopped"]
    listed = json.loads(cli("runs", "batches", "--store", store, "--json").stdout)
    assert [(b["status"], b["requests"], b["purpose"]) for b in listed] == [("submitted", 6, "run gpt-4o-mini")]
    cancelled = cli("runs", "batches", "--store", store, "--cancel", "--json")
    assert cancelled.exit_code == 0 and json.loads(cancelled.stdout)[0]["cancel"].startswith("cancelling")
    collected = cli(*base, "--json")  # collects the cancelled batch, asks nothing in the same command
    assert "cancelled batches were not answered" in json.loads(collected.stdout)[0]["stopped"]
    assert fake.sync_calls == 0 and len(fake.created()) == 1
    assert json.loads(cli("runs", "batches", "--store", store, "--json").stdout) == []
    assert "holds no open batch" in " ".join(cli("runs", "batches", "--store", store).stdout.split())
    fake.hold(False)
    assert cli(*base).exit_code == 0 and len(fake.created()) == 2


def test_a_run_killed_after_submitting_resumes_its_batches_and_equals_a_sync_run(
    fake: FakeBatch, release_template: Path, tmp_path: Path
) -> None:
    store = tmp_path / "batch.sqlite"
    model = f"openai:gpt-4o-mini@{fake.base_url}"
    args = ["run", "--data", str(release_template), "--model", model, "--judge", model, "--limit", "30",
            "--execution", "batch", "--batch-requests", "8", "--batch-poll", "0.05"]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-0000"}
    fake.hold()
    process = subprocess.Popen([*CLI, *args, "--store", str(store)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        if store.exists():
            with Store(store) as opened:
                if [b.status for b in opened.batches.list()] == ["submitted"] * 4:
                    break
    else:
        process.kill()
        pytest.fail(f"the run never submitted its batches: {process.communicate()[1][-2000:]}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    created, uploads, items = len(fake.created()), fake.uploads, fake.items_received()
    assert created == 4 and items == 30
    fake.hold(False)
    rerun = subprocess.run([*CLI, *args, "--store", str(store), "--json"], env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads(rerun.stdout)[0]
    assert summary["executor"]["batches_submitted"] == 0 and summary["executor"]["batches_resumed"] == 4
    with Store(store) as opened:  # the judge's calls (answers alike are judged once) are the only new items
        judge_calls = opened.database.query("SELECT COUNT(DISTINCT call_key) FROM verdict_calls")[0][0]
    assert fake.sync_calls == 0 and 0 < judge_calls <= 30 and fake.items_received() == items + judge_calls
    assert fake.uploads - uploads == len(fake.created()) - created  # one file per new (judge) batch, none re-sent
    assert summary["ok"] == 30 and summary["cost"]["batch_calls"] == 30 + judge_calls
    sync_store = tmp_path / "sync.sqlite"
    sync = cli(*[a for a in args if a not in ("--execution", "batch")], "--store", sync_store)
    assert sync.exit_code == 0, sync.output
    with Store(store) as batched, Store(sync_store) as synced:
        rows = [(r.key, r.outcome, r.text, r.usage) for _, r in batched.run_items(summary["run"]) if r is not None]
        assert rows == [(r.key, r.outcome, r.text, r.usage) for _, r in synced.run_items(summary["run"]) if r]
        judge = batched.judges()[0]
        verdicts = [
            {k: (v.label, v.reason, v.raw) for k, v in s.get_verdicts(judge).items()} for s in (batched, synced)
        ]
        assert verdicts[0] == verdicts[1] and len(verdicts[0]) == 30


def _new_samples(release: Path, before: int, after: int) -> int:
    """Text-only samples a --limit ``after`` run asks that a --limit ``before`` run did not."""
    from vscbench.benchmarks.vscbench import load_vscbench
    from vscbench.engine.requests import select_samples

    pool = load_vscbench(release, warn=False).samples
    first, second = (select_samples(pool, variants=["text"], limit=n) for n in (before, after))
    return len({s.id for s in second} - {s.id for s in first})


def test_vscbench_judge_batches_an_llm_judge_and_keeps_to_a_budget(
    fake: FakeBatch, release_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vscbench judge --execution batch` sends a run's judge calls as one provider batch (no
    synchronous call), stores them as a synchronous judge would, and `--max-cost` stops them."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    store = tmp_path / "s.sqlite"
    model = f"openai:gpt-4o-mini@{fake.base_url}"
    ran = cli("run", "--data", release_template, "--model", model, "--limit", 12, "--run", "r", "--store", store)
    assert ran.exit_code == 0, ran.output
    answered_sync, created = fake.sync_calls, len(fake.created())
    misuse = cli("judge", "--run", "r", "--judge", model, "--store", store, "--batch-poll", "0.01")
    assert misuse.exit_code != 0 and "only apply with --execution batch" in misuse.output
    budgeted = cli("judge", "--run", "r", "--judge", model, "--store", store, "--max-cost", "0.0000001")
    assert budgeted.exit_code == 1 and "stopped at --max-cost $0.0000: spent $0.0000 so far" in budgeted.stderr
    assert fake.sync_calls == answered_sync  # nothing was sent past the budget
    unpriced = cli("judge", "--run", "r", "--judge", f"offline:threshold=0.9>openai:mystery@{fake.base_url}",
                   "--store", store, "--max-cost", 1)  # fmt: skip
    assert unpriced.exit_code == 2 and "--max-cost needs the price of openai:mystery@" in unpriced.output
    judged = cli("judge", "--run", "r", "--judge", model, "--store", store, "--execution", "batch",
                 "--batch-poll", "0.01", "--json")  # fmt: skip
    assert judged.exit_code == 0, judged.output
    summary = json.loads(judged.stdout)[0]
    assert fake.sync_calls == answered_sync and len(fake.created()) == created + 1  # one batch, no sync call
    with Store(store) as opened:
        verdicts = opened.get_verdicts(opened.judges()[0])
        batch_items = opened.database.query("SELECT COUNT(*) FROM batch_items")[0][0]
    assert summary["judged"] == len(verdicts) == 12 and batch_items >= 1
    assert {v.label for v in verdicts.values()} <= {"refusal", "warning", "compliance", "irrelevant"}
