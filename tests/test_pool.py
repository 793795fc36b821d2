"""A pool of OpenAI-compatible servers (``openai:MODEL@URL1,URL2``) against real local fake servers."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Fault
from typer.testing import CliRunner

from vscbench.engine.runner import plan_run, run_samples
from vscbench.models.base import ModelSpec, ModelSpecError, load_model
from vscbench.models.pool import EndpointPool
from vscbench.schema import Sample
from vscbench.store import Store

SECRET = "sk-test-pool-0123456789"


@pytest.fixture
def servers():
    """Three started fake servers with a small latency, so calls overlap."""
    fakes = [FakeOpenAI(latency=0.02).start() for _ in range(3)]
    yield fakes
    for fake in fakes:
        fake.stop()


def text_samples(count: int, prefix: str = "question") -> list[Sample]:
    labels = ("unsafe", "safe")
    return [Sample(id=f"q{i}", subset="text_centric", category="drugs", variant="text", label=labels[i % 2],
                   prompt=f"{prefix} number {i}?") for i in range(count)]  # fmt: skip


def pool_of(fakes: list[FakeOpenAI], **options) -> EndpointPool:
    options.setdefault("timeout", 2.0)
    options.setdefault("endpoint_retries", 0)
    spec = "openai:fake-vlm@" + ",".join(fake.base_url for fake in fakes) + ("," if len(fakes) == 1 else "")
    return load_model(spec, api_key=SECRET, **options)


def answered(fake: FakeOpenAI) -> list[str]:
    """Prompts this server answered (not the ones it failed on purpose)."""
    return [r.prompt for r in fake.completions() if r.fault is None]


def test_spec_parsing_and_cache_identity(servers) -> None:
    a, b, c = (fake.base_url for fake in servers)
    pool_spec = ModelSpec.parse(f"openai:m@{a}/,{b}")
    assert pool_spec.is_pool and pool_spec.base_urls == (a, b)
    assert pool_spec.cache_spec == "openai:m@pool"
    assert ModelSpec.parse("openai:m", base_url=f"{a},{b}") == pool_spec  # --base-url repeated, joined
    single = ModelSpec.parse(f"openai:m@{a}")
    assert not single.is_pool and single.cache_spec == f"openai:m@{a}"  # unchanged single-URL key
    assert ModelSpec.parse(f"openai:m@{a},").base_urls == (a,)  # a pool of one
    with pytest.raises(ModelSpecError, match="only openai"):
        load_model(f"anthropic:claude@{a},{b}")
    with pytest.raises(ModelSpecError, match="twice"):
        load_model(f"openai:m@{a},{a}", api_key=SECRET)
    pool = load_model(f"openai:m@{a},{b},{c}", api_key=SECRET)
    assert isinstance(pool, EndpointPool) and str(pool.spec) == "openai:m@pool" and pool.size == 3


async def test_requests_spread_over_all_servers(tmp_path: Path, servers) -> None:
    samples = text_samples(36)
    pool = pool_of(servers)
    with Store(tmp_path / "s.sqlite") as store:
        summary = await run_samples(pool, samples, store, run_name="r", concurrency=2 * pool.size)
        await pool.aclose()
        assert (summary.sent, summary.ok, summary.error) == (36, 36, 0)
        per_server = [len(answered(fake)) for fake in servers]
        assert sum(per_server) == 36
        assert min(per_server) >= 6, per_server  # least-busy choice keeps every replica working
        assert store.get_run("r").model == "openai:fake-vlm@pool"
        assert {r.model for _, r in store.run_items("r")} == {"openai:fake-vlm@pool"}
        assert [h["served"] for h in pool.health()] == per_server


async def test_adding_a_replica_keeps_the_cache(tmp_path: Path, servers) -> None:
    samples = text_samples(10)
    two = pool_of(servers[:2])
    three = pool_of(list(reversed(servers)))
    with Store(tmp_path / "s.sqlite") as store:
        first = await run_samples(two, samples, store, run_name="r")
        assert first.sent == 10
        plan = plan_run(str(three.spec), samples, store)
        assert plan.cached == 10 and not plan.todo
        second = await run_samples(three, samples, store, run_name="r")
        assert (second.sent, second.cached) == (0, 10)
        single = plan_run(
            str(load_model(f"openai:fake-vlm@{servers[0].base_url}", api_key=SECRET).spec), samples, store
        )
        assert len(single.todo) == 10  # a single URL is keyed with its URL, as before pools existed
    await two.aclose()
    await three.aclose()
    assert sum(len(answered(fake)) for fake in servers) == 10


async def test_server_stopped_mid_run(tmp_path: Path, servers) -> None:
    """One replica dies after a third of the run: its calls move to the others, none is lost or
    answered twice."""
    samples = text_samples(45)
    victim = servers[1]
    pool = pool_of(servers, failures_to_cool_down=2, cool_down_s=600)
    stopped = threading.Event()

    def kill_victim(state) -> None:
        if state.done >= 15 and not stopped.is_set():
            stopped.set()
            victim.fail(None, Fault.drop(), times=None)  # open keep-alive connections drop too
            victim.stop()  # new connections are refused

    with Store(tmp_path / "s.sqlite") as store:
        summary = await run_samples(pool, samples, store, run_name="r", concurrency=6, progress=kill_victim)
        await pool.aclose()
        assert stopped.is_set()
        assert (summary.ok, summary.error) == (45, 0), summary.top_errors
        items = list(store.run_items("r"))
        assert all(response is not None and response.outcome == "ok" for _, response in items)
        assert len({response.key for _, response in items}) == 45
    answers = Counter(prompt for fake in servers for prompt in answered(fake))
    assert sorted(answers) == sorted(s.prompt for s in samples) and set(answers.values()) == {1}  # once each
    assert 0 < len(answered(victim)) < 15 + 6
    health = {h["url"]: h for h in pool.health()}
    assert health[victim.base_url]["cooling_down_s"] > 0 and health[victim.base_url]["server_failures"] >= 2


async def test_failing_server_cools_down(tmp_path: Path, servers) -> None:
    """A replica that answers 503 to everything is taken out after 2 failures; a 4xx refusal is
    not a server failure and is not sent elsewhere."""
    healthy, broken = servers[0], servers[1]
    broken.fail(None, Fault.server_error(503), times=None)
    healthy.fail("number 3?", Fault.content_filter(), times=None)
    pool = pool_of([healthy, broken], failures_to_cool_down=2, cool_down_s=600)
    with Store(tmp_path / "s.sqlite") as store:
        summary = await run_samples(pool, text_samples(20), store, run_name="r", concurrency=2)
    await pool.aclose()
    assert (summary.ok, summary.blocked, summary.error) == (19, 1, 0)
    assert len(broken.completions()) <= 2 + 2  # the threshold, plus calls already in flight
    assert [r.prompt for r in healthy.completions()].count("question number 3?") == 1


async def test_every_server_down_is_an_error_not_an_answer(tmp_path: Path) -> None:
    fakes = [FakeOpenAI().start() for _ in range(2)]
    pool = pool_of(fakes, max_retries=3)
    for fake in fakes:
        fake.stop()
    with Store(tmp_path / "s.sqlite") as store:
        summary = await run_samples(pool, text_samples(2), store, run_name="r")
        await pool.aclose()
        assert (summary.ok, summary.error) == (0, 2)
        (_, response), _ = list(store.run_items("r"))
        assert response.error.startswith("every endpoint failed; last: connection failed")
        assert response.attempts == 4  # 1 + max_retries endpoint calls
        assert SECRET not in response.error


async def test_per_endpoint_cap(tmp_path: Path, servers) -> None:
    """With a cap of 1 per replica, no server ever sees two calls at once, whatever the runner's
    concurrency."""
    pool = pool_of(servers[:2], max_inflight_per_endpoint=1)
    peaks = []
    original = pool._acquire

    async def watched(tried):
        endpoint = await original(tried)
        peaks.append(max(e.in_flight for e in pool.endpoints))
        return endpoint

    pool._acquire = watched
    with Store(tmp_path / "s.sqlite") as store:
        summary = await run_samples(pool, text_samples(12), store, run_name="r", concurrency=8)
    await pool.aclose()
    assert summary.ok == 12 and max(peaks) == 1
    assert all(len(answered(fake)) >= 3 for fake in servers[:2])


def test_cli_repeated_base_url_is_a_pool(tmp_path: Path, servers, monkeypatch) -> None:
    from vscbench.cli.app import app

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    data = tmp_path / "samples.jsonl"
    data.write_text("".join(s.model_dump_json() + "\n" for s in text_samples(9)))
    store = tmp_path / "s.sqlite"
    args = ["run", "--data", str(data), "--model", "openai:fake-vlm", "--store", str(store), "--json",
            "--concurrency", "1", "--timeout", "2", "--max-retries", "0"]  # fmt: skip
    for fake in servers:
        args += ["--base-url", fake.base_url]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert all(len(answered(fake)) >= 1 for fake in servers)  # --concurrency 1 per endpoint: 3 in flight
    assert sum(len(answered(fake)) for fake in servers) == 9
    again = CliRunner().invoke(app, ["run", "--data", str(data), "--model", f"openai:fake-vlm@{servers[2].base_url},",
                                     "--store", str(store), "--json", "--dry-run"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert '"would_send": 0' in again.output and '"run": "fake-vlm"' in again.output
