"""Provider batch execution against a local server with OpenAI's and Anthropic's batch endpoints:
answers equal a synchronous run's, chunks respect count and byte limits, expired and failed
items are retried as asked, stored batches are resumed (and recovered when their id never
reached the store), and a budget stops within one chunk of its limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fake_batch import FakeBatch
from vscbench.engine.batch import BatchExecutor, BatchSettings
from vscbench.engine.budget import Budget, BudgetGate
from vscbench.engine.estimate import Pricer
from vscbench.engine.runner import LocalExecutor, RunSummary, plan_run, run_samples
from vscbench.models.base import load_model
from vscbench.models.batch_api import batch_api_for
from vscbench.schema import GenerationConfig, Sample
from vscbench.store import Store

PROVIDERS = ("openai", "anthropic")


@pytest.fixture
def fake() -> Any:
    with FakeBatch() as server:
        yield server


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    folder = tmp_path_factory.mktemp("images")
    out = []
    for index in range(10):
        image = None
        if index % 2:
            image = folder / f"i{index}.png"
            Image.new("RGB", (200 + 40 * index, 120), (index * 20, 30, 60)).save(image)
        out.append(Sample(id=f"s{index}", subset="image_centric", category="c", variant="slot_0",
                          label="unsafe" if index % 3 else "safe", image_path=image,
                          prompt=f"Question {index}: how do I stop process {index} on this machine?"))  # fmt: skip
    return out


def spec_of(provider: str, fake: FakeBatch) -> str:
    return (
        f"openai:gpt-4o-mini@{fake.base_url}"
        if provider == "openai"
        else f"anthropic:claude-haiku-4-5@{fake.anthropic_url}"
    )


def model_of(provider: str, fake: FakeBatch, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    return load_model(spec_of(provider, fake), max_retries=0)


def run(executor: Any, samples: list[Sample], store: Store, name: str = "r") -> RunSummary:
    async def go() -> RunSummary:
        try:
            return await run_samples(executor, samples, store, run_name=name)
        finally:
            await executor.model.aclose()

    return asyncio.run(go())


def answers(store: Store, name: str = "r") -> dict[str, tuple[Any, ...]]:
    return {r.key: (r.outcome, r.text, r.usage) for _, r in store.run_items(name) if r is not None}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_answers_equal_sync_answers_in_chunks_by_count_and_bytes(
    provider: str, fake: FakeBatch, samples: list[Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path / "sync.sqlite") as sync_store:
        run(LocalExecutor(model_of(provider, fake, monkeypatch)), samples, sync_store)
        expected = answers(sync_store)
    with Store(tmp_path / "batch.sqlite") as store:
        executor = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(max_requests=4, poll_s=0.01))
        summary = run(executor, samples, store)
        assert answers(store) == expected and len(expected) == 10
        assert summary.ok == 10 and summary.sent == 10 and summary.executor["batches_submitted"] == 3
        assert [len(b.items) for b in fake.created(provider)] == [4, 4, 2]
        assert store.database.query("SELECT tier, COUNT(*) FROM responses GROUP BY tier") == [("batch", 10)]
        assert {(b.status, tuple(b.items.items())) for b in store.batches.list()} == {
            ("collected", (("answered", 4),)),
            ("collected", (("answered", 2),)),
        }
        sync_calls = fake.sync_calls
        byte_limited = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(max_mb=0.002, poll_s=0.01))
        run(byte_limited, samples, store, "again")  # the same answers: nothing is sent again
        assert fake.sync_calls == sync_calls and len(fake.created(provider)) == 3
    with Store(tmp_path / "bytes.sqlite") as store:
        byte_limited = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(max_mb=0.002, poll_s=0.01))
        run(byte_limited, samples, store)
        sizes = [b.bytes for b in store.batches.list()]
        assert (
            len(sizes) > 3
            and max(sizes) <= 0.002 * 1024 * 1024 * 0.95
            or min(b.requests for b in store.batches.list()) == 1
        )
        assert answers(store) == expected


@pytest.mark.parametrize(("provider", "retry"), [("openai", "sync"), ("anthropic", "batch"), ("openai", "none")])
def test_an_expired_batch_keeps_its_answers_and_the_rest_is_retried_as_asked(
    provider: str, retry: str, fake: FakeBatch, samples: list[Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.expire_next(done=3)
    with Store(tmp_path / "s.sqlite") as store:
        executor = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(poll_s=0.01, retry=retry))  # type: ignore[arg-type]
        summary = run(executor, samples, store)
        first = fake.created(provider)[0]
        assert first.status == "expired" and len(first.done) == 3 and len(first.not_run) == 7
        items = store.batches.items(store.batches.list()[0].id)
        assert sorted(state for _, _, state in items).count("answered") == 3
        if retry == "sync":
            assert fake.sync_calls == 7 and summary.ok == 10 and summary.sent == 10
        elif retry == "batch":
            assert fake.sync_calls == 0 and [len(b.items) for b in fake.created(provider)] == [10, 7]
            assert summary.ok == 10
        else:
            assert fake.sync_calls == 0 and summary.ok == 3 and summary.sent == 3
            plan = plan_run(spec_of(provider, fake), samples, store)
            assert len(plan.todo) == 7  # asked by the next run


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_results_file_with_errors_stores_failures_not_answers(
    provider: str, fake: FakeBatch, samples: list[Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.fail_items(r"process [13]\b")  # two items fail in the results (and again if asked synchronously)
    with Store(tmp_path / "s.sqlite") as store:
        executor = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(poll_s=0.01, retry="none"))
        summary = run(executor, samples, store)
        assert (summary.ok, summary.error, summary.sent) == (8, 2, 10)
        failed = [r for _, r in store.run_items("r") if r is not None and r.outcome == "error"]
        assert {r.sample_id for r in failed} == {"s1", "s3"}
        assert all("batch item" in (r.error or "") or "HTTP 400" in (r.error or "") for r in failed)
        assert sorted(state for _, _, state in store.batches.items(store.batches.list()[0].id)).count("failed") == 2
        fake.fail_items(None)
        again = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(poll_s=0.01))
        assert run(again, samples, store).ok == 2  # only the failures are asked again


@pytest.mark.parametrize("provider", PROVIDERS)
def test_open_batches_are_resumed_and_a_batch_whose_id_was_lost_is_recovered(
    provider: str, fake: FakeBatch, samples: list[Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.hold()
    with Store(tmp_path / "s.sqlite") as store:
        submit_only = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(max_requests=6, wait=False))
        summary = run(submit_only, samples[:6], store)
        assert summary.sent == 0 and "not waited for" in (summary.stopped or "")
        assert [b.status for b in store.batches.list()] == ["submitted"]
        # a batch the provider accepted while its process died before recording the id
        model = model_of(provider, fake, monkeypatch)
        plan = plan_run(spec_of(provider, fake), samples[6:], store)
        store.batches.create("lost", provider, spec_of(provider, fake), [(k, r.sample_id) for k, r in plan.todo.items()],
                             1, "test")  # fmt: skip
        lines = tmp_path / "lost.jsonl"

        async def submit_lost() -> None:
            api = batch_api_for(model)
            lines.write_bytes(b"".join([await api.encode(k, r) + b"\n" for k, r in plan.todo.items()]))
            await api.submit(lines, len(plan.todo), "lost")
            await model.aclose()

        asyncio.run(submit_lost())
        created = len(fake.created())
        fake.hold(False)
        resumed = BatchExecutor(model_of(provider, fake, monkeypatch), BatchSettings(poll_s=0.01))
        summary = run(resumed, samples, store)
        assert len(fake.created()) == created and fake.sync_calls == 0  # nothing sent twice
        assert summary.ok == 10 and summary.executor["batches_submitted"] == 0
        assert {b.id: b.status for b in store.batches.list()}["lost"] == "collected"


@pytest.mark.parametrize("mode", ["batch", "sync"])
def test_max_cost_stops_within_one_chunk_of_the_budget(
    mode: str, fake: FakeBatch, samples: list[Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = [
        s.model_copy(update={"id": f"{s.id}-{n}", "prompt": f"{s.prompt} ({n})"}) for n in range(3) for s in samples
    ]
    config = GenerationConfig(max_tokens=64)
    with Store(tmp_path / "s.sqlite") as store:
        pricer = Pricer(spec_of("openai", fake))
        plan = plan_run(spec_of("openai", fake), many, store, config)
        per_call = [pricer.reservation(r, batch=mode == "batch") for r in plan.todo.values()]
        budget = Budget(limit_usd=sum(per_call) * 0.4)
        gate = BudgetGate(budget, pricer, batch=mode == "batch")
        model = model_of("openai", fake, monkeypatch)
        if mode == "batch":
            executor: Any = BatchExecutor(model, BatchSettings(max_requests=4, poll_s=0.01), gate)
        else:
            executor = LocalExecutor(model, concurrency=4, gate=gate)

        async def go() -> RunSummary:
            try:
                return await run_samples(executor, many, store, run_name="r", config=config)
            finally:
                await model.aclose()

        summary = asyncio.run(go())
        chunk = 4 * max(per_call)
        assert budget.stopped and "--max-cost" in (summary.stopped or "")
        assert budget.spent_usd <= budget.limit_usd
        assert budget.limit_usd - budget.spent_usd < chunk  # stopped within one chunk of the budget
        assert 0 < summary.ok < len(many) and budget.calls == summary.sent
