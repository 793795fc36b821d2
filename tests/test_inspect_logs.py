"""Inspect logs into the store and stored runs out as Inspect logs, through the library and the CLI."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

pytest.importorskip("inspect_ai", reason="the 'inspect' extra (inspect-ai) is not installed")

from inspect_ai.log import list_eval_logs, read_eval_log, write_eval_log
from inspect_ai.model import ModelOutput
from typer.testing import CliRunner

from inspect_fakes import ANSWER, REFUSAL, Oracle, run, scripted_model
from vscbench.cli import app
from vscbench.engine.runner import run_samples_sync
from vscbench.inspect import vscbench_task
from vscbench.inspect.log_export import build_log, export_run
from vscbench.inspect.log_import import LogImportError, import_log
from vscbench.inspect.messages import sample_from_metadata
from vscbench.judges.base import judge_key
from vscbench.judges.registry import get_judge
from vscbench.judges.runs import judge_run
from vscbench.models.base import load_model
from vscbench.scoring.runs import score_run
from vscbench.store import Store

JUDGE = judge_key(get_judge("offline"))
KEYWORD = judge_key(get_judge("keyword"))


def _samples(task):
    return [sample_from_metadata(s.metadata) for s in task.dataset]


@pytest.fixture(scope="module")
def eval_log(release_template, tmp_path_factory):
    """An evaluation with every kind of ending: answers, refusals, a content-filter block, an
    empty reply and a failed call."""
    task = vscbench_task(str(release_template), limit=40)
    samples = _samples(task)
    oracle = Oracle(samples)
    odd = {samples[0].id: "blocked", samples[1].id: "empty", samples[2].id: "error"}

    def reply(messages):
        sample = oracle.which(messages)
        kind = odd.get(sample.id)
        if kind == "blocked":
            return ModelOutput.from_content(model="mockllm", content="", stop_reason="content_filter")
        if kind == "empty":
            return ""
        if kind == "error":
            raise RuntimeError("the provider fell over")
        return REFUSAL if sample.subset == "text_centric" else ANSWER

    log = run(task, scripted_model(reply), tmp_path_factory.mktemp("logs"), fail_on_error=False)
    return log, odd


def _metrics(log, scorer: int = 0) -> dict[str, float]:
    return {name: m.value for name, m in log.results.scores[scorer].metrics.items()}


def test_an_imported_log_scores_as_the_log_says(eval_log, tmp_path):
    log, odd = eval_log
    with Store(tmp_path / "store.sqlite") as store:
        (summary,) = import_log(store, log.location)
        assert summary.outcomes == {"ok": 37, "blocked": 1, "empty": 1, "error": 1}
        assert summary.verdicts == {JUDGE: 37}
        report = score_run(store, summary.run, JUDGE)
        got = _metrics(log)
        assert report.overall.sra_s == pytest.approx(got["sra_s"])
        assert report.overall.sra_u == pytest.approx(got["sra_u"])
        assert report.pairs.share.value == pytest.approx(got["pair_calibration"])
        assert report.failure_counts["blocked"] == 1 and report.failure_counts["error"] == 1
        spec = store.get_run(summary.run)
        assert spec.model == "inspect:mockllm/model" and spec.subset == "all" and spec.limit == 40
        assert spec.config.max_tokens == 512 and spec.config.temperature == 0.0
        assert spec.meta["inspect"]["eval_id"] == log.eval.eval_id
        items = {s.id: r for s, r in store.run_items(summary.run)}
        assert "the provider fell over" in items[next(k for k, v in odd.items() if v == "error")].error
        assert {r.model for r in items.values()} == {"inspect:mockllm/model"}
        assert store.run_info(summary.run).status == "incomplete"  # a failed call is not an answer


def test_importing_again_or_from_json_stores_nothing_twice(eval_log, tmp_path):
    log, _ = eval_log
    as_json = tmp_path / "same.json"
    write_eval_log(log, str(as_json))
    with Store(tmp_path / "store.sqlite") as store:
        (first,) = import_log(store, log.location)
        keys = store.run_keys(first.run)
        import_log(store, log.location)
        assert store.run_keys(first.run) == keys
        import_log(store, as_json, run="from-json")
        assert store.run_keys("from-json") == keys  # content-addressed: same log, same keys, whatever the format
        assert len({k for k in keys.values()}) == len(keys)


def test_imported_keys_never_collide_with_a_vscbench_run(eval_log, tmp_path):
    log, _ = eval_log
    samples = [sample_from_metadata(s.metadata) for s in log.samples]
    with Store(tmp_path / "store.sqlite") as store:
        (summary,) = import_log(store, log.location)
        run_samples_sync(load_model("scripted:keyword"), samples, store, run_name="ours")
        assert not set(store.run_keys("ours").values()) & set(store.run_keys(summary.run).values())


def test_a_log_without_vscbench_samples_needs_data(eval_log, tmp_path, release_template):
    log, _ = eval_log
    stripped = log.model_copy(deep=True)
    for sample in stripped.samples:
        sample.metadata = {}
    path = tmp_path / "plain.eval"
    write_eval_log(stripped, str(path))
    with Store(tmp_path / "store.sqlite") as store:
        with pytest.raises(LogImportError, match="carries no vscbench sample record"):
            import_log(store, path)
        from vscbench.benchmarks.vscbench import load_vscbench

        (summary,) = import_log(store, path, data=load_vscbench(release_template, warn=False).samples)
        assert summary.samples == 40


def test_epochs_become_runs_and_metrics_average_them(release_template, tmp_path):
    task = vscbench_task(str(release_template), limit=20)
    oracle = Oracle(_samples(task))
    asked: Counter = Counter()

    def reply(messages):
        sample = oracle.which(messages)
        asked[sample.id] += 1
        if sample.is_unsafe and asked[sample.id] == 1:
            return REFUSAL
        return ANSWER  # safe: always answered; unsafe: refused in one epoch of the two

    log = run(task, scripted_model(reply), tmp_path / "logs", epochs=2)
    got = _metrics(log)
    assert got["sra_s"] == 1.0 and got["sra_u"] == pytest.approx(0.5) and got["pair_calibration"] == pytest.approx(0.5)
    with Store(tmp_path / "store.sqlite") as store:
        summaries = import_log(store, log.location, run="two-epochs")
        assert [s.run for s in summaries] == ["two-epochs", "two-epochs-epoch2"]
        both = [score_run(store, s.run, JUDGE).overall.sra_u for s in summaries]
        assert sorted(both) == [0.0, 1.0]


@pytest.fixture
def judged_run(release_template, tmp_path):
    from vscbench.benchmarks.vscbench import load_vscbench
    from vscbench.engine.requests import select_samples

    samples = select_samples(load_vscbench(release_template, warn=False).samples, limit=30)
    store = Store(tmp_path / "store.sqlite")
    run_samples_sync(load_model("scripted:keyword"), samples, store, run_name="kw")
    judge_run(store, "kw", get_judge("offline"))
    judge_run(store, "kw", get_judge("keyword"))
    yield store
    store.close()


def test_an_exported_run_opens_as_an_inspect_log_with_our_figures(judged_run, tmp_path):
    path = export_run(judged_run, "kw", out=tmp_path / "logs" / "kw.eval", judges=[JUDGE])
    (listed,) = list_eval_logs(str(tmp_path / "logs"))  # what `inspect view` lists
    assert listed.name.endswith("kw.eval")
    log = read_eval_log(str(path))
    assert log.status == "success" and len(log.samples) == 30
    report = score_run(judged_run, "kw", JUDGE)
    got = _metrics(log)
    assert got["sra_s"] == pytest.approx(report.overall.sra_s) and got["sra_u"] == pytest.approx(report.overall.sra_u)
    assert got["pair_calibration"] == pytest.approx(report.pairs.share.value)
    sample = log.samples[0]
    assert sample.target in ("safe", "unsafe") and sample.output.completion
    assert sample.scores["safety_judge"].metadata["judge"] == JUDGE
    assert log.eval.metadata["vscbench"]["exported_run"]["name"] == "kw"


def test_an_exported_log_imports_back_to_the_same_figures(judged_run, tmp_path):
    path = export_run(judged_run, "kw", out=tmp_path / "kw.json")
    log = read_eval_log(str(path))
    assert {s.name for s in log.results.scores} == {f"safety_judge:{JUDGE}", f"safety_judge:{KEYWORD}"}
    import_log(judged_run, path, run="kw-back")
    for judge in (JUDGE, KEYWORD):
        before, after = score_run(judged_run, "kw", judge), score_run(judged_run, "kw-back", judge)
        assert after.to_dict()["overall"] == before.to_dict()["overall"]


def test_failures_and_missing_answers_export_as_what_they_are(release_template, tmp_path):
    from vscbench.benchmarks.vscbench import load_vscbench
    from vscbench.schema import Response, RunSpec, Verdict

    safe, unsafe, blocked, failed, missing = [s for s in load_vscbench(release_template, warn=False).samples][:5]
    with Store(tmp_path / "store.sqlite") as store:
        store.start_run(
            RunSpec(name="hand", model="openai:m"),
            [(s, f"k{i}") for i, s in enumerate([safe, unsafe, blocked, failed, missing])],
        )
        store.put_responses([
            Response(key="k0", sample_id=safe.id, model="openai:m", outcome="ok", text=ANSWER),
            Response(key="k1", sample_id=unsafe.id, model="openai:m", outcome="ok", text="???"),
            Response(key="k2", sample_id=blocked.id, model="openai:m", outcome="blocked"),
            Response(key="k3", sample_id=failed.id, model="openai:m", outcome="error", error="HTTP 500 after 4 retries"),
        ])  # fmt: skip
        store.put_verdicts([Verdict(response_key="k0", sample_id=safe.id, judge=JUDGE, label="compliance"),
                            Verdict(response_key="k1", sample_id=unsafe.id, judge=JUDGE, label="invalid")])  # fmt: skip
        log = build_log(store, "hand", judges=[JUDGE])
    assert log.status == "error" and "1 of 5 samples have no answer yet" in log.error.message
    by_id = {s.id: s for s in log.samples}
    verdicts = {sid: s.scores["safety_judge"].metadata["verdict"] for sid, s in by_id.items()}
    assert verdicts == {safe.id: "compliance", unsafe.id: "invalid", blocked.id: "blocked", failed.id: "error",
                        missing.id: "missing"}  # fmt: skip
    assert by_id[safe.id].scores["safety_judge"].value == (1.0 if safe.label == "safe" else 0.0)
    assert all(math.isnan(by_id[s.id].scores["safety_judge"].value) for s in (unsafe, blocked, failed, missing))
    assert by_id[blocked.id].output.stop_reason == "content_filter"
    assert by_id[failed.id].error.message == "HTTP 500 after 4 retries"
    assert log.results.scores[0].scored_samples == 1 and log.results.scores[0].unscored_samples == 4


def test_cli_import_then_score_and_export(eval_log, tmp_path):
    log, _ = eval_log
    runner = CliRunner()
    store = tmp_path / "store.sqlite"
    result = runner.invoke(
        app, ["import-inspect", log.location, "--store", str(store), "--run", "from-inspect", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["run"] == "from-inspect"
    scored = runner.invoke(app, ["score", "--run", "from-inspect", "--store", str(store), "--json"])
    assert scored.exit_code == 0, scored.output
    out = tmp_path / "back.eval"
    exported = runner.invoke(app, ["export-inspect", "--run", "from-inspect", "--store", str(store), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert read_eval_log(str(out), header_only=True).results.scores[0].metrics["sra_s"].value == pytest.approx(
        _metrics(log)["sra_s"]
    )


def test_cli_errors_name_the_file_and_the_fix(tmp_path):
    runner = CliRunner()
    bogus = tmp_path / "notes.eval"
    bogus.write_text("not a zip")
    result = runner.invoke(app, ["import-inspect", str(bogus), "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and "could not be read as an Inspect log" in result.output
    result = runner.invoke(
        app, ["import-inspect", str(tmp_path / "missing.eval"), "--store", str(tmp_path / "s.sqlite")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["export-inspect", "--run", "nope", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and "no run named 'nope'" in result.output
