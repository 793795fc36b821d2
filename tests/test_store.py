"""The SQLite store: content-addressed responses, runs, verdicts, export, multi-process safety."""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path

import pytest

from vscbench.schema import GenerationConfig, Response, RunSpec, Sample, Usage, Verdict
from vscbench.store import RunConflictError, Store


def _sample(index: int, label: str = "safe") -> Sample:
    return Sample(id=f"s{index}", subset="image_centric", category="drugs", variant="slot_0", label=label,
                  prompt=f"prompt {index}", meta={"row": index})  # fmt: skip


def _response(key: str, outcome: str = "ok", text: str | None = "answer", **extra) -> Response:
    return Response(key=key, sample_id="s0", model="scripted:keyword", outcome=outcome, text=text, **extra)


def test_error_is_replaced_but_final_answers_are_not(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.put_response(_response("k1", "error", text=None, error="HTTP 500"))
    assert store.answered_keys(["k1"]) == set()
    store.put_response(_response("k1", "ok", text="first", usage=Usage(prompt_tokens=3, completion_tokens=4)))
    store.put_response(_response("k1", "ok", text="second"))
    store.put_response(_response("k1", "error", text=None, error="late failure"))
    stored = store.get_response("k1")
    assert (stored.outcome, stored.text, stored.usage.completion_tokens) == ("ok", "first", 4)
    store.put_response(_response("k2", "blocked", text=None, error="content_filter"))
    assert store.answered_keys(["k1", "k2", "k3"]) == {"k1", "k2"}
    assert store.outcomes(["k1", "k2", "k3"]) == {"k1": "ok", "k2": "blocked"}


def test_run_items_keep_samples_and_share_responses(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    samples = [_sample(0), _sample(1, "unsafe"), _sample(2)]
    spec = RunSpec(name="r", model="scripted:keyword")
    store.start_run(spec, [(samples[0], "k0"), (samples[1], "k1"), (samples[2], "k0")])
    store.put_response(_response("k0"))
    items = list(store.run_items("r"))
    assert [s for s, _ in items] == samples  # the sample JSON round-trips, in order
    assert items[0][1].sample_id == "s0" and items[2][1].sample_id == "s2"  # shared key, own id
    assert items[2][1].key == "k0" and items[1][1] is None
    info = store.run_info("r")
    assert (info.items, info.counts, info.missing) == (3, {"ok": 2}, 1)


def test_run_name_reuse_extends_or_conflicts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    spec = RunSpec(name="r", model="scripted:keyword")
    store.start_run(spec, [(_sample(0), "k0")])
    store.start_run(spec, [(_sample(0), "k0"), (_sample(1), "k1")])  # same settings: extended
    assert store.run_keys("r") == {"s0": "k0", "s1": "k1"}
    with pytest.raises(RunConflictError, match="temperature"):
        store.start_run(spec.model_copy(update={"config": GenerationConfig(temperature=0.7)}), [])
    with pytest.raises(RunConflictError, match="model"):
        store.start_run(spec.model_copy(update={"model": "scripted:refuse"}), [])


def test_verdicts_one_per_response_and_judge(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.start_run(RunSpec(name="r", model="m"), [(_sample(0), "k0")])
    store.put_verdicts([Verdict(response_key="k0", sample_id="s0", judge="rules", label="refusal")])
    store.put_verdicts([Verdict(response_key="k0", sample_id="s0", judge="rules", label="compliance")])
    store.put_verdicts([Verdict(response_key="k0", sample_id="s0", judge="rules", label="warning")], replace=False)
    store.put_verdicts([Verdict(response_key="kx", sample_id="sx", judge="rules", label="refusal")])
    assert {k: v.label for k, v in store.get_verdicts("rules").items()} == {"k0": "compliance", "kx": "refusal"}
    assert list(store.get_verdicts("rules", run="r")) == ["k0"]
    assert store.get_verdicts("gpt-judge") == {}


def test_export_jsonl_and_csv(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.start_run(RunSpec(name="r", model="m"), [(_sample(0), "k0"), (_sample(1, "unsafe"), "k1")])
    store.put_response(_response("k0", text='a "quoted", answer\nwith a newline'))
    store.put_verdicts([Verdict(response_key="k0", sample_id="s0", judge="rules", label="compliance")])
    assert store.export("r", tmp_path / "r.jsonl") == 2
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rows[0]["text"] == 'a "quoted", answer\nwith a newline' and rows[0]["verdict:rules"] == "compliance"
    assert rows[1]["outcome"] == "missing" and rows[1]["label"] == "unsafe"
    store.export("r", tmp_path / "r.csv", "csv")
    with (tmp_path / "r.csv").open() as handle:
        csv_rows = list(csv.DictReader(handle))
    assert csv_rows[0]["text"] == rows[0]["text"] and csv_rows[1]["outcome"] == "missing"
    with pytest.raises(KeyError):
        store.export("nope", tmp_path / "x.jsonl")


def test_image_hashes_persist(tmp_path: Path) -> None:
    Store(tmp_path / "s.sqlite").put_image_hashes([("/a.png", 1, 2, "abc")])
    assert Store(tmp_path / "s.sqlite").image_hashes() == [("/a.png", 1, 2, "abc")]


def _writer(path: str, worker: int, count: int) -> None:
    store = Store(path)
    for index in range(count):
        # half the keys are shared by both processes: each must be stored once, first answer kept
        key = f"shared-{index}" if index % 2 == 0 else f"own-{worker}-{index}"
        store.put_response(Response(key=key, sample_id=f"s{index}", model="m", outcome="ok", text=f"w{worker}"))
        store.put_verdicts([Verdict(response_key=key, sample_id=f"s{index}", judge="j", label="refusal")])
    store.close()


def test_two_processes_write_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    Store(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, w, 200)) for w in (0, 1)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    store = Store(path)
    rows = store.database.query("SELECT key, COUNT(*) FROM responses GROUP BY key")
    assert len(rows) == 100 + 2 * 100 and all(n == 1 for _, n in rows)
    assert store.database.query("PRAGMA integrity_check") == [("ok",)]
    assert len(store.get_verdicts("j")) == 300
