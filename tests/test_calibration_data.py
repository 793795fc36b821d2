"""Steering data from the benchmark (`steer build-data`), the split it is drawn from, the guard
that keeps it out of evaluations (content, not ids), and `steer extract`'s checks before loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vscbench.benchmarks.samples import load_samples
from vscbench.cli import app
from vscbench.engine.requests import select_samples
from vscbench.methods import MethodSpecError, parse_method
from vscbench.methods.steering.guard import Guard, image_key, read_split_record, text_key
from vscbench.methods.steering.split import SplitError, SplitSpec, draw_holdout
from vscbench.models.base import Generation, ModelSpec
from vscbench.store import Store
from vscbench.workflows.steer_data import build_contrastive

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure. Here is how: open the settings, choose the first option, then confirm."


class TwoMinds:
    """Complies when asked plainly, refuses under a system prompt (the safety prompt)."""

    spec = ModelSpec(provider="scripted", name="two-minds")
    max_batch_size = 1

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def generate(self, requests):
        self.asked += [request.sample_id for request in requests]
        return [Generation("ok", text=REFUSAL if any(m.role == "system" for m in r.messages) else COMPLIANCE)
                for r in requests]  # fmt: skip

    async def aclose(self) -> None:
        return None


@pytest.fixture(scope="module")
def pool(release_template):
    return load_samples(release_template, warn=False).samples


def keys(sample) -> set[str]:
    found = {f"q:{text_key(sample.original_question)}", f"row:{sample.source_file}:{sample.source_row}"}
    if sample.image_path is not None:
        found.add(f"i:{image_key(sample.image_path)}")
    if sample.pair_key:
        found.add(f"p:{sample.pair_key}")
    return found


def test_holdout_is_disjoint_by_row_twin_question_and_image_and_keeps_an_evaluation_out(pool):
    evaluation = select_samples(pool, limit=60, seed=3)
    held = draw_holdout(pool, SplitSpec.parse("fraction=0.1,seed=4"), exclude=evaluation)
    held_ids = {s.id for s in held.samples}
    rest = [s for s in pool if s.id not in held_ids]
    held_keys = set().union(*(keys(s) for s in held.samples))
    assert held.samples and not held_keys & set().union(*(keys(s) for s in rest))
    assert not held_ids & {s.id for s in evaluation} and held.excluded_groups > 0
    assert 0.08 < held.groups / held.total_groups < 0.12 and held.name == "vscbench-holdout:fraction=0.1,seed=4"
    assert draw_holdout(pool, SplitSpec.parse("0.1,seed=4"), exclude=evaluation).samples == held.samples  # seeded
    assert {s.id for s in draw_holdout(pool, SplitSpec(0.1, 5)).samples} != held_ids
    for bad in ("fraction=1.5", "fraction=x", "share=0.2", "0.2,0.3"):
        with pytest.raises(SplitError):
            SplitSpec.parse(bad)


def test_build_data_pairs_the_models_own_judged_answers_and_records_the_split(pool, tmp_path):
    model = TwoMinds()
    evaluation = select_samples(pool, limit=40, seed=1)
    with Store(tmp_path / "s.sqlite") as store:
        result = build_contrastive(model, pool, store, tmp_path / "contrastive.jsonl", split="fraction=0.05,seed=2",
                                   exclude=evaluation, limit=12, samples=1, judge="keyword", data_label="release")  # fmt: skip
        asked_once = len(model.asked)
        again = build_contrastive(model, pool, store, tmp_path / "again.jsonl", split="fraction=0.05,seed=2",
                                  exclude=evaluation, limit=12, samples=1, judge="keyword", data_label="release")  # fmt: skip
    assert len(model.asked) == asked_once  # the second build came from the store
    assert result.asked == 12 and result.items == 12 and result.by_label == {"safe": 6, "unsafe": 6}
    assert again.items == result.items and result.no_contrast == {"safe": 0, "unsafe": 0}
    assert result.runs == [f"contrastive-two-minds-0.05-2-{v}" for v in ("plain", "safety-prompt", "sample-1")]
    items = [json.loads(line) for line in (tmp_path / "contrastive.jsonl").read_text().splitlines()]
    by_id = {s.id: s for s in pool}
    for item in items:
        sample = by_id[item["sample_id"]]
        assert item["query"] == sample.prompt and item["query_label"] == sample.label
        if sample.label == "unsafe":  # refused is the calibrated answer of an unsafe request
            assert (item["safe_response"], item["safe_source"], item["unsafe_response"]) == (
                REFUSAL,
                "model:safety-prompt",
                COMPLIANCE,
            )
        else:  # complied is the calibrated answer of a safe one (the over-safety direction)
            assert (item["safe_response"], item["unsafe_response"], item["unsafe_source"]) == (
                COMPLIANCE,
                REFUSAL,
                "model:safety-prompt",
            )
        assert item["judge"].startswith("keyword@") and item["split"] == "vscbench-holdout:fraction=0.05,seed=2"
        if sample.original_question != sample.prompt:
            assert item["question"] == sample.original_question
    record = json.loads((tmp_path / "contrastive.split.json").read_text())
    assert record["held_out"]["held_out_samples"] == len(result.held_out.samples) and record["excluded_samples"] == 40
    guard = read_split_record(tmp_path / "contrastive.jsonl")
    assert guard is not None and guard.split == record["split"]
    assert not guard.overlapping(evaluation) and all(not guard.in_rows(s) for s in evaluation)
    assert all(guard.in_rows(s) for s in result.held_out.samples)


def test_a_model_that_never_refuses_gives_items_only_with_written_refusals(pool, tmp_path):
    class Complier(TwoMinds):
        async def generate(self, requests):
            return [Generation("ok", text=COMPLIANCE) for _ in requests]

    with Store(tmp_path / "s.sqlite") as store:
        none = build_contrastive(Complier(), pool, store, tmp_path / "a.jsonl", split="0.05", limit=6, samples=0,
                                 judge="keyword")  # fmt: skip
        filled = build_contrastive(Complier(), pool, store, tmp_path / "b.jsonl", split="0.05", limit=6, samples=0,
                                   judge="keyword", fill_refusals=True)  # fmt: skip
    assert none.items == 0 and none.no_contrast == {"safe": 3, "unsafe": 3}
    assert filled.items == 6 and filled.filled == 6
    items = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert all("reference" in (item["safe_source"], item["unsafe_source"]) for item in items)


def vector_with_guard(path: Path, guard: Guard) -> Path:
    import torch

    from vscbench.methods.steering import SteeringVectors

    meta = {"model_name": "m", "model_type": "llava", "hidden_size": 4, "num_layers": 2, "vocab_size": 9}
    SteeringVectors({1: torch.ones(4)}, {1: 2.0}, {1: 1.0}, meta, guard=guard).save(path)
    return path


def test_runs_leave_the_splits_rows_out_and_refuse_any_other_overlap_by_content(pool, tmp_path):
    held = draw_holdout(pool, SplitSpec(0.05, 0))
    vector = vector_with_guard(tmp_path / "v.safetensors", held.guard)
    plan = parse_method(f"iar:layer=1,strength=1,vector={vector}")
    selection = select_samples(pool, limit=200, seed=0)
    kept = plan.select(selection, pool)
    held_ids = {s.id for s in held.samples}
    assert plan.held_out_ids and set(plan.held_out_ids) == {s.id for s in selection} & held_ids
    assert len(kept) == len(selection) - len(plan.held_out_ids) and not {s.id for s in kept} & held_ids
    assert plan.to_dict()["iar"]["held_out"] == len(plan.held_out_ids)

    # the same content under other ids and files: an export whose rows and paths say nothing
    sample = next(s for s in held.samples if s.image_path is not None and s.subset == "image_centric")
    copy = tmp_path / "renamed.png"
    shutil.copyfile(sample.image_path, copy)
    image_twin = sample.model_copy(update={"id": "mine/1", "source_file": None, "source_row": None, "image_path": copy,
                                           "question": "an unrelated question", "prompt": "an unrelated question"})  # fmt: skip
    question_twin = sample.model_copy(update={"id": "mine/2", "source_file": None, "source_row": None, "image_path": None,
                                              "question": sample.original_question.upper() + " !!"})  # fmt: skip
    for twin, kind in ((image_twin, "image"), (question_twin, "question")):
        with pytest.raises(MethodSpecError, match=rf"1 evaluated sample\(s\) share .* {twin.id} \({kind}\)"):
            parse_method(f"iar:layer=1,strength=1,vector={vector}").select([twin], [twin])

    # hand-written contrastive data whose query is a test prompt in other case and spacing: refused too
    user = Guard()
    user.add_item(f"  {selection[0].original_question.lower()}  ", None)
    user_vector = vector_with_guard(tmp_path / "user.safetensors", user)
    with pytest.raises(MethodSpecError, match="share a question or an image with the steering data"):
        parse_method(f"iar:layer=1,strength=1,vector={user_vector}").select(selection, pool)


def test_extract_refuses_bad_layers_data_and_models_before_loading_weights(tmp_path, monkeypatch, tiny_llava_dir):
    from huggingface_hub import constants

    import vscbench.methods.steering.extract as extract_module

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(extract_module, "load_local_model", no_loading)
    data = tmp_path / "c.jsonl"
    data.write_text(json.dumps({"query": "q", "safe_response": "no", "unsafe_response": "yes"}) + "\n")
    base = ["steer", "extract", "--data", str(data), "--out", str(tmp_path / "v.safetensors")]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for extra, needle in [
        (
            ["--model", str(tiny_llava_dir), "--layers", "2-9"],
            "layer range 2-9 is outside the text decoder's blocks 0..3",
        ),
        (["--model", f"hf:{tiny_llava_dir}", "--layers", "3-1"], "runs backwards"),
        (["--model", f"hf:{tiny_llava_dir}", "--layers", "fourteen"], "not a block index"),
        (["--model", "hf:someone/absent-vlm", "--layers", "2"], "not in the local model cache and HF_HUB_OFFLINE"),
        (["--model", str(tmp_path / "no-such-folder"), "--layers", "2"], "cannot read the config"),
    ]:
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2 and needle in " ".join(result.output.split()), result.output
    (tmp_path / "bad.jsonl").write_text('{"query": "q"}\n')
    bad = CliRunner().invoke(app, ["steer", "extract", "--model", str(tiny_llava_dir), "--data", str(tmp_path / "bad.jsonl"),
                                   "--out", str(tmp_path / "v.safetensors")])  # fmt: skip
    assert bad.exit_code == 2 and "line 1" in bad.output


def test_extract_takes_a_hub_id_from_the_local_cache(tmp_path, tiny_llava_dir):
    """A hub id resolves offline when its files are in the cache (in a subprocess: the cache
    location is read when huggingface_hub is imported)."""
    snapshot = tmp_path / "hub" / "models--tiny--llava-demo" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_llava_dir, snapshot)
    (tmp_path / "hub" / "models--tiny--llava-demo" / "refs").mkdir()
    (tmp_path / "hub" / "models--tiny--llava-demo" / "refs" / "main").write_text("0123abcd")
    data = tmp_path / "c.jsonl"
    rows = [{"query": q, "safe_response": "sorry i cannot", "unsafe_response": "sure first", "query_label": label}
            for q, label in [("how to kill", "unsafe"), ("drug dose", "unsafe"), ("what is this", "safe"), ("cook a recipe", "safe")]]  # fmt: skip
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "v.safetensors"
    done = subprocess.run(
        [sys.executable, "-c", "from vscbench.cli import main; main()", "steer", "extract", "--model", "hf:tiny/llava-demo",
         "--data", str(data), "--layers", "1-2,0.75", "--out", str(out), "--device", "cpu", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["layers"] == [1, 2, 3] and summary["model"] == "tiny/llava-demo"
    assert set(summary["conditions"]) == {"1", "2", "3"} and summary["guard"]["questions"] == 4
