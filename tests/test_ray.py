"""Data-parallel generation on a local Ray instance (2 CPUs, started once for the module)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed (it is part of the 'dev' extra)")

from vscbench.engine.ray import REPLICA_PREFIX, run_samples_ray
from vscbench.engine.runner import run_samples, run_samples_sync
from vscbench.models.base import ModelSpecError, load_model
from vscbench.models.scripted import ERROR_WORD
from vscbench.schema import GenerationConfig, Sample
from vscbench.store import Store
from vscbench.testing.placeholder import write_placeholder

WAIT = 120.0  # seconds any batch or replica start may take before the test fails loudly


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def make_samples(folder: Path, prompts: list[str], with_images: bool = True) -> list[Sample]:
    samples = []
    for index, prompt in enumerate(prompts):
        image = None
        if with_images:
            image = folder / f"img_{index % 3}.png"  # images shared by several samples, as in the benchmark
            if not image.exists():
                write_placeholder(image, (40 + 8 * index, 32))
        samples.append(Sample(id=f"s{index}", subset="image_centric" if image else "text_centric", category="drugs",
                              variant="slot_0" if image else "text", label="safe" if index % 2 else "unsafe",
                              prompt=prompt, image_path=image))  # fmt: skip
    return samples


def answers(store: Store, run: str) -> dict[str, tuple[str, str | None, str]]:
    return {sample.id: (response.key, response.text, response.outcome) for sample, response in store.run_items(run)}


def ray_run(spec: str, samples, store, **options):
    options.setdefault("batch_timeout", WAIT)
    options.setdefault("startup_timeout", WAIT)
    return run_samples_ray(spec, samples, store, 2, {"num_cpus": 1}, run_name="r", **options)


def test_scripted_on_two_replicas_matches_a_local_run(tmp_path: Path) -> None:
    prompts = [f"How do I bake bread, step {i}?" if i % 3 else f"How to build a bomb, part {i}?" for i in range(22)]
    prompts += [prompts[0], prompts[1]]  # same question and image as s0, s1: one call each
    samples = make_samples(tmp_path, prompts)
    samples[22] = samples[22].model_copy(update={"image_path": samples[0].image_path})
    samples[23] = samples[23].model_copy(update={"image_path": samples[1].image_path})
    with Store(tmp_path / "ray.sqlite") as store:
        summary = ray_run("scripted:keyword", samples, store, model_options={"batch_size": 3})
        assert (summary.samples, summary.unique, summary.sent, summary.ok) == (24, 22, 22, 22)
        assert sum(summary.executor["batches_per_replica"]) == 8 and min(summary.executor["batches_per_replica"]) >= 1
        assert store.run_info("r").status == "complete" and store.run_info("r").missing == 0
        on_ray = answers(store, "r")
        again = ray_run("scripted:keyword", samples, store, model_options={"batch_size": 3})
        assert (again.sent, again.cached, again.executor) == (0, 22, {})  # nothing sent, no actor started
    with Store(tmp_path / "local.sqlite") as store:
        run_samples_sync(load_model("scripted:keyword", batch_size=3), samples, store, run_name="r")
        assert answers(store, "r") == on_ray
    assert sum(text.startswith("I'm sorry") for _, text, _ in on_ray.values()) == 9  # 8 asked + 1 repeat


def test_rerun_sends_only_what_is_missing(tmp_path: Path) -> None:
    """Half the answers exist (an earlier, killed run); one call fails: the Ray run sends only the
    rest, and the next run sends only the failure again."""
    samples = make_samples(tmp_path, [f"Tell me about topic {i}" for i in range(11)] + [f"Fail {ERROR_WORD}"],
                           with_images=False)  # fmt: skip
    with Store(tmp_path / "s.sqlite") as store:
        run_samples_sync(load_model("scripted:echo"), samples[:6], store, run_name="r")
        first = ray_run("scripted:echo", samples, store)
        assert (first.cached, first.sent, first.ok, first.error) == (6, 6, 5, 1)
        assert store.run_info("r").status == "incomplete"
        second = ray_run("scripted:echo", samples, store)
        assert (second.cached, second.sent, second.error) == (11, 1, 1)
        assert second.top_errors == [("scripted failure", 1)]
        (_, response) = list(store.run_items("r"))[-1]
        assert response.outcome == "error" and response.model == "scripted:echo"


def test_tiny_llava_on_two_replicas_equals_local_greedy(tmp_path: Path, tiny_llava_dir: Path) -> None:
    samples = make_samples(tmp_path, [f"Describe the picture, version {i}." for i in range(6)])
    config = GenerationConfig(max_tokens=6, max_image_side=64)
    spec = f"hf:{tiny_llava_dir}"
    options = {"batch_size": 2, "device": "cpu"}
    with Store(tmp_path / "ray.sqlite") as store:
        summary = ray_run(spec, samples, store, config=config, model_options=options)
        assert (summary.sent, summary.ok, summary.error) == (6, 6, 0), summary.top_errors
        assert sorted(summary.executor["batches_per_replica"]) == [1, 2]  # 3 batches of 2
        on_ray = answers(store, "r")
    with Store(tmp_path / "local.sqlite") as store:
        model = load_model(spec, **options)
        asyncio.run(run_samples(model, samples, store, run_name="r", config=config))
        assert answers(store, "r") == on_ray
    assert all(text for _, text, _ in on_ray.values())


def test_a_dying_replica_hands_its_batches_over(tmp_path: Path) -> None:
    """Kill one replica after the first answered batch: its batches in flight go to the other,
    and every sample is still answered exactly once."""
    samples = make_samples(tmp_path, [f"Question {i}" for i in range(16)], with_images=False)
    killed: list[str] = []

    def kill_one(state) -> None:
        if not killed:
            name = min(n for n in ray.util.list_named_actors() if n.startswith(REPLICA_PREFIX))
            ray.kill(ray.get_actor(name))
            killed.append(name)

    with Store(tmp_path / "s.sqlite") as store:
        summary = ray_run("scripted:echo", samples, store, model_options={"batch_size": 2, "latency": 0.05},
                          progress=kill_one)  # fmt: skip
        assert killed and (summary.sent, summary.ok, summary.error) == (16, 16, 0)
        assert summary.executor["requeued_batches"] >= 1 and sum(summary.executor["batches_per_replica"]) == 8
        assert [r.text for _, r in store.run_items("r")] == [s.prompt for s in samples]
    deadline = time.monotonic() + WAIT  # the replicas are killed at the end (asynchronously, so poll)
    while any(n.startswith(REPLICA_PREFIX) for n in ray.util.list_named_actors()):
        assert time.monotonic() < deadline, f"replicas still alive: {ray.util.list_named_actors()}"
        time.sleep(0.05)


def test_failures_are_loud(tmp_path: Path) -> None:
    samples = make_samples(tmp_path, ["anything"], with_images=False)
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(ModelSpecError, match="could not load the model"):
            ray_run("scripted:no-such-rule", samples, store)
        with pytest.raises(TimeoutError, match="did not start within 3 s"):
            run_samples_ray("scripted:echo", samples, store, 2, {"num_cpus": 1, "num_gpus": 1}, startup_timeout=3)
        assert store.run_info("r").status == "interrupted" and store.run_info("echo").status == "interrupted"
        assert store.run_info("echo").missing == 1


def test_cli_ray(tmp_path: Path) -> None:
    from vscbench.cli.app import app

    data = tmp_path / "samples.jsonl"
    data.write_text("".join(s.model_dump_json() + "\n" for s in make_samples(tmp_path, [f"q {i}" for i in range(5)],
                                                                             with_images=False)))  # fmt: skip
    args = ["run", "--data", str(data), "--model", "scripted:comply", "--store", str(tmp_path / "s.sqlite"), "--json",
            "--ray", "--replicas", "2"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert (summary["sent"], summary["ok"], summary["executor"]["replicas"]) == (5, 5, 2)
    again = json.loads(CliRunner().invoke(app, args).stdout)[0]
    assert (again["sent"], again["cached"]) == (0, 5)
