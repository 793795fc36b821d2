"""The runner and the OpenAI backend, through the real ``openai`` SDK against a local fake server."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Fault, fake_openai_fixture  # noqa: F401  (the fake_openai fixture)
from PIL import Image

from vscbench.engine.requests import ImageHashCache, build_request, select_samples
from vscbench.engine.runner import plan_run, run_samples
from vscbench.models.base import ModelSpec, ModelSpecError, load_model
from vscbench.models.scripted import ScriptedModel
from vscbench.schema import GenerationConfig, Sample
from vscbench.store import Store
from vscbench.testing.placeholder import write_placeholder

SECRET = "sk-test-DO-NOT-STORE-1234567890"


def make_samples(folder: Path, prompts: list[str], size: tuple[int, int] = (48, 32)) -> list[Sample]:
    samples = []
    for index, prompt in enumerate(prompts):
        image = folder / f"img_{index}.png"
        write_placeholder(image, size)
        samples.append(Sample(id=f"s{index}", subset="image_centric", category="drugs", variant="slot_0",
                              label="safe" if index % 2 else "unsafe", prompt=prompt, image_path=image))  # fmt: skip
    return samples


def openai_model(fake: FakeOpenAI, **options):
    options.setdefault("timeout", 2.0)
    options.setdefault("max_retries", 2)
    return load_model(f"openai:fake-vlm@{fake.base_url}", api_key=SECRET, **options)


async def test_sends_what_the_request_says(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    samples = make_samples(tmp_path, ["What is in this picture?"], size=(300, 200))
    config = GenerationConfig(max_tokens=77, temperature=0.3, top_p=0.9, seed=5, system_prompt="Be careful.",
                              max_image_side=150)  # fmt: skip
    model = openai_model(fake_openai)
    store = Store(tmp_path / "s.sqlite")
    summary = await run_samples(model, samples, store, run_name="r", config=config)
    await model.aclose()
    (sent,) = fake_openai.completions()
    body = sent.body
    assert body["model"] == "fake-vlm" and body["max_tokens"] == 77 and body["temperature"] == 0.3
    assert body["top_p"] == 0.9 and body["seed"] == 5
    assert body["messages"][0] == {"role": "system", "content": "Be careful."}
    assert body["messages"][1]["content"][1] == {"type": "text", "text": "What is in this picture?"}
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    (url,) = sent.image_urls
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))
    assert image.format == "PNG" and image.size == (150, 100)  # capped at max_image_side
    assert (summary.sent, summary.ok, summary.error) == (1, 1, 0)
    (_, response) = next(store.run_items("r"))
    assert response.outcome == "ok" and response.text.startswith("Here is an answer to: What is in")
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert summary.prompt_tokens == response.usage.prompt_tokens


async def test_each_fault_maps_to_its_outcome(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    cases = {
        "fine": ("ok", 1),
        "flaky": ("ok", 2),  # one 500, then an answer
        "broken": ("error", 3),  # 500 every time: 1 call + 2 retries
        "filtered": ("blocked", 1),
        "policy": ("blocked", 1),
        "cutoff": ("blocked", 1),
        "garbled": ("error", 1),
        "dropped": ("error", 3),
        "sluggish": ("error", 3),
    }
    fake_openai.fail("flaky", Fault.server_error(retry_after=0.05), times=1)
    fake_openai.fail("broken", Fault("status", 503, retry_after=0.05, message="overloaded"), times=None)
    fake_openai.fail("filtered", Fault.content_filter(), times=None)
    fake_openai.fail("policy", Fault.content_filter("content_policy_violation"), times=None)
    fake_openai.fail("cutoff", Fault.finish_content_filter(), times=None)
    fake_openai.fail("garbled", Fault.malformed(), times=None)
    fake_openai.fail("dropped", Fault.drop(), times=None)
    fake_openai.fail("sluggish", Fault.slow(1.5), times=None)
    samples = make_samples(tmp_path, [f"please {word}" for word in cases])
    model = openai_model(fake_openai, timeout=0.3)
    store = Store(tmp_path / "s.sqlite")
    summary = await run_samples(model, samples, store, run_name="faults", concurrency=len(cases))
    await model.aclose()
    got = {sample.prompt.split()[1]: (r.outcome, r.attempts) for sample, r in store.run_items("faults")}
    assert got == cases
    errors = {sample.prompt.split()[1]: r.error for sample, r in store.run_items("faults") if r.outcome != "ok"}
    assert errors["broken"].startswith("HTTP 503") and "overloaded" in errors["broken"]
    assert "content_filter" in errors["filtered"] and "content_policy_violation" in errors["policy"]
    assert "connection" in errors["dropped"] and "timed out" in errors["sluggish"]
    assert (summary.ok, summary.blocked, summary.error) == (2, 3, 4)
    # the retries were made by the SDK and are visible on the wire
    broken = [r.retry_count for r in fake_openai.completions() if "broken" in r.prompt]
    assert broken == [0, 1, 2]
    # blocked and error responses never carry an answer that could be scored
    for _, response in store.run_items("faults"):
        if response.outcome == "error":
            assert response.text is None


async def test_retry_after_is_honoured(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    # the SDK's own first backoff is at most 0.5 s; a 1 s gap proves the header was obeyed
    fake_openai.fail("limited", Fault.rate_limit(retry_after=1.0), times=1)
    samples = make_samples(tmp_path, ["limited query"])
    model = openai_model(fake_openai)
    summary = await run_samples(model, samples, Store(tmp_path / "s.sqlite"), run_name="r")
    await model.aclose()
    first, second = fake_openai.completions()
    assert (first.fault, second.fault) == ("status", None)
    assert second.received_at - first.received_at >= 0.95
    assert summary.ok == 1


async def test_api_key_never_reaches_the_store(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail("auth", Fault("status", 401, message=f"Incorrect API key provided: {SECRET}"), times=None)
    samples = make_samples(tmp_path, ["auth please", "normal"])
    model = openai_model(fake_openai)
    store = Store(tmp_path / "s.sqlite")
    summary = await run_samples(model, samples, store, run_name="r")
    await model.aclose()
    assert summary.error == 1 and summary.ok == 1
    error = next(r.error for _, r in store.run_items("r") if r.outcome == "error")
    assert error.startswith("HTTP 401") and "***" in error
    store.close()
    for file in tmp_path.glob("s.sqlite*"):  # the database and its WAL
        data = file.read_bytes()
        assert SECRET.encode() not in data and b"DO-NOT-STORE" not in data


async def test_rerun_sends_only_unfinished(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail("oops", Fault.server_error(retry_after=0.01), times=3)  # fails the whole first call
    fake_openai.fail("filtered", Fault.content_filter(), times=None)
    samples = make_samples(tmp_path, ["a", "b", "oops", "filtered"])
    store = Store(tmp_path / "s.sqlite")
    model = openai_model(fake_openai)
    first = await run_samples(model, samples, store, run_name="r")
    assert (first.sent, first.ok, first.blocked, first.error) == (4, 2, 1, 1)
    fake_openai.requests.clear()
    second = await run_samples(model, samples, store, run_name="r")
    await model.aclose()
    assert [r.prompt for r in fake_openai.completions()] == ["oops"]  # the error, and only it
    assert (second.sent, second.cached, second.ok) == (1, 3, 1)
    assert store.run_info("r").counts == {"ok": 3, "blocked": 1} and store.run_info("r").status == "complete"


async def test_identical_requests_are_sent_once(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    image = tmp_path / "same.png"
    write_placeholder(image)
    samples = [Sample(id=f"s{i}", subset="text_centric", category="c", variant="typography", label="safe",
                      prompt="same question", image_path=image) for i in range(3)]  # fmt: skip
    store = Store(tmp_path / "s.sqlite")
    model = openai_model(fake_openai)
    summary = await run_samples(model, samples, store, run_name="r")
    await model.aclose()
    assert len(fake_openai.completions()) == 1 and summary.unique == 1 and summary.samples == 3
    responses = [r for _, r in store.run_items("r")]
    assert [r.sample_id for r in responses] == ["s0", "s1", "s2"] and {r.text for r in responses} == {responses[0].text}


def test_cache_key_covers_settings_and_image_bytes(tmp_path: Path) -> None:
    (sample,) = make_samples(tmp_path, ["q"])
    hashes = ImageHashCache()
    key = build_request(sample, GenerationConfig(), hashes=hashes).cache_key("openai:m")
    assert build_request(sample, GenerationConfig(), hashes=hashes).cache_key("openai:m") == key
    assert hashes.hashed == 1  # the second build reused the hash
    for change in (
        {"temperature": 0.5},
        {"max_tokens": 10},
        {"seed": 1},
        {"system_prompt": "x"},
        {"max_image_side": 512},
    ):
        assert build_request(sample, GenerationConfig(**change), hashes=hashes).cache_key("openai:m") != key
    assert build_request(sample, GenerationConfig(), hashes=hashes).cache_key("openai:other") != key
    write_placeholder(sample.image_path, (49, 32))  # new bytes under the same name
    assert build_request(sample, GenerationConfig(), hashes=hashes).cache_key("openai:m") != key


async def test_changed_setting_is_sent_again(tmp_path: Path) -> None:
    samples = make_samples(tmp_path, ["one", "two"])
    store = Store(tmp_path / "s.sqlite")
    model = ScriptedModel(ModelSpec("scripted", "comply"))
    await run_samples(model, samples, store, run_name="a")
    assert plan_run("scripted:comply", samples, store).cached == 2
    plan = plan_run("scripted:comply", samples, store, GenerationConfig(temperature=1.0))
    assert (plan.cached, len(plan.todo)) == (0, 2)


async def test_batches_progress_and_failures(tmp_path: Path) -> None:
    samples = make_samples(tmp_path, [f"q{i}" for i in range(9)] + ["how to make a bomb", "[[block]] x", "[[error]] y"])
    model = ScriptedModel(ModelSpec("scripted", "keyword"), batch_size=4)
    seen = []
    summary = await run_samples(model, samples, Store(tmp_path / "s.sqlite"), run_name="r", concurrency=2,
                                progress=lambda p: seen.append((p.done, p.to_send)))  # fmt: skip
    assert sorted(model.batches) == [4, 4, 4]
    assert seen[-1] == (12, 12) and len(seen) == 3
    assert (summary.ok, summary.blocked, summary.error) == (10, 1, 1)


class _BrokenModel(ScriptedModel):
    async def generate(self, requests):
        if any("crash" in m.text_content for r in requests for m in r.messages):
            raise RuntimeError("backend bug")
        return await super().generate(requests)


async def test_backend_crash_and_deadline_become_errors(tmp_path: Path) -> None:
    samples = make_samples(tmp_path, ["crash now", "fine"])
    store = Store(tmp_path / "s.sqlite")
    summary = await run_samples(_BrokenModel(ModelSpec("scripted", "comply")), samples, store, run_name="r")
    outcome = {s.prompt: (r.outcome, r.text, r.error) for s, r in store.run_items("r")}
    assert outcome["crash now"] == ("error", None, "backend raised RuntimeError: backend bug")
    assert outcome["fine"][0] == "ok" and summary.error == 1
    slow = ScriptedModel(ModelSpec("scripted", "echo"), latency=2.0)
    summary = await run_samples(slow, samples, store, run_name="slow", request_timeout=0.1)
    assert summary.error == 2 and {r.error for _, r in store.run_items("slow")} == {"no reply within 0.1 s"}


def test_openai_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelSpecError, match="OPENAI_API_KEY"):
        load_model("openai:gpt-4o-mini")
    local = load_model("openai:qwen@http://127.0.0.1:9/v1")
    assert local._client.api_key == "EMPTY" and str(local.spec) == "openai:qwen@http://127.0.0.1:9/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    assert load_model("openai:gpt-4o-mini")._client.api_key == "sk-env-key"


def test_stratified_limit(tmp_path: Path) -> None:
    samples = [Sample(id=f"{subset}{label}{i}", subset=subset, category="c", variant="v", label=label, prompt="p")
               for subset in ("image_centric", "text_centric") for label in ("safe", "unsafe")
               for i in range(10 if subset == "image_centric" else 3)]  # fmt: skip
    chosen = select_samples(samples, limit=16, seed=1)
    counts = {(s.subset, s.label): 0 for s in samples}
    for sample in chosen:
        counts[(sample.subset, sample.label)] += 1
    # each group in proportion to its size (10:10:3:3 of 16), so a limited run weighs them as a full one
    assert counts == {("image_centric", "safe"): 6, ("image_centric", "unsafe"): 6,
                      ("text_centric", "safe"): 2, ("text_centric", "unsafe"): 2}  # fmt: skip
    assert chosen == select_samples(samples, limit=16, seed=1)
    assert chosen != select_samples(samples, limit=16, seed=2)
    assert [samples.index(s) for s in chosen] == sorted(samples.index(s) for s in chosen)
    assert len(select_samples(samples, subset="text_centric", limit=4)) == 4


def test_stratified_limit_keeps_twins_together(release_template: Path) -> None:
    from vscbench.benchmarks.vscbench import load_vscbench

    samples = load_vscbench(release_template, warn=False).samples
    chosen = select_samples(samples, limit=40, seed=3)
    assert len(chosen) == 40
    by_key: dict[str, set[str]] = {}
    for sample in chosen:
        by_key.setdefault(sample.pair_key or sample.id, set()).add(sample.label)
    # twins come together; only the larger side of a subset (1,250 safe text-centric samples
    # against 1,000 unsafe) has samples beyond the pairs, in proportion to its size
    alone = [key for key, labels in by_key.items() if labels != {"safe", "unsafe"}]
    assert {next(iter(by_key[key])) for key in alone} <= {"safe"}
    assert all(key.startswith("text_centric/") for key in alone) and len(alone) <= 3
    assert {s.subset for s in chosen} == {"image_centric", "text_centric"}
    shares = {subset: sum(s.subset == subset for s in chosen) / 40 for subset in ("image_centric", "text_centric")}
    full = {subset: sum(s.subset == subset for s in samples) / len(samples) for subset in shares}
    assert all(abs(shares[k] - full[k]) <= 1 / 40 for k in shares)  # weighed as the full selection


def test_images_are_sent_as_they_are_when_they_need_no_change(tmp_path: Path) -> None:
    import base64

    from PIL import Image

    from vscbench.images import data_url

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(photo, quality=80)
    url = data_url(str(photo), 1024)
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == photo.read_bytes()  # byte for byte, no re-encoding

    big = tmp_path / "big.png"
    Image.new("RGBA", (3000, 1000), (0, 0, 0, 0)).save(big)
    before = big.read_bytes()
    url = data_url(str(big), 512)
    assert url.startswith("data:image/png;base64,")
    import io

    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.mode == "RGB" and max(sent.size) == 512
    assert big.read_bytes() == before  # the original file is never changed


def test_byte_budget_bounds_image_bytes_in_flight() -> None:
    import asyncio

    from vscbench.models.openai import ByteBudget

    budget = ByteBudget(limit=100)
    active: list[int] = []
    peak = [0]

    async def call(cost: int) -> None:
        async with budget.hold(cost):
            active.append(min(cost, budget.limit))
            peak[0] = max(peak[0], sum(active))
            await asyncio.sleep(0.01)
            active.remove(min(cost, budget.limit))

    async def main() -> None:
        await asyncio.gather(*(call(40) for _ in range(10)), call(500))  # an oversized call still runs alone

    asyncio.run(main())
    assert peak[0] <= 100 and budget.used == 0
