"""`vscbench run --method`: what the server receives for each prompting method, few-shot hygiene,
cache keys that follow the method, and IAR steering on a tiny local LLaVA."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, fake_openai_fixture  # noqa: F401  (the fake_openai fixture)
from typer.testing import CliRunner

from vscbench.benchmarks.samples import load_samples
from vscbench.cli import app
from vscbench.methods import MethodSpecError, parse_method
from vscbench.methods.demonstrations import HELPFUL_ANSWERS, REFUSAL_ANSWER
from vscbench.methods.prompting import COT_INSTRUCTION, SAFETY_SYSTEM_PROMPT
from vscbench.methods.steering.guard import text_key
from vscbench.store import Store

#: 100 samples of one category: few enough to be quick, and few-shot demonstrations for the
#: category are then drawn from rows that are also selected, so exclusion is really exercised.
SELECTION = ["--subset", "image_centric", "--category", "drugs", "--variant", "slot_0"]


def cli(*args: str) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def run_openai(fake: FakeOpenAI, release: Path, store: Path, *extra: str) -> object:
    result = cli("run", "--data", release, "--model", f"openai:fake-vlm@{fake.base_url}", "--store", store,
                 "--max-retries", "0", "--timeout", "5", "--json", *SELECTION, *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def question(body: dict) -> tuple[str, str]:
    """(image url, text) of the evaluated question: the last user message."""
    content = body["messages"][-1]["content"]
    assert body["messages"][-1]["role"] == "user" and [p["type"] for p in content] == ["image_url", "text"]
    return content[0]["image_url"]["url"], content[1]["text"]


def bodies(fake: FakeOpenAI) -> list[dict]:
    return [request.body for request in fake.completions()]


@pytest.fixture
def baseline(fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path) -> Counter:
    """What the plain (no method) run sends: one user message, image then prompt."""
    run_openai(fake_openai, release_template, tmp_path / "plain.sqlite")
    sent = bodies(fake_openai)
    assert sent and all(len(body["messages"]) == 1 for body in sent)
    fake_openai.clear()
    return Counter(question(body) for body in sent)


def test_cot_and_safety_prompt_send_exactly_the_method_messages(
    fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path, baseline: Counter
) -> None:
    store = tmp_path / "s.sqlite"
    run_openai(fake_openai, release_template, store, "--method", "cot")
    sent = bodies(fake_openai)
    assert all(len(body["messages"]) == 1 for body in sent)
    expected = Counter((url, f"{text}\n\n{COT_INSTRUCTION}") for url, text in baseline.elements())
    assert Counter(question(body) for body in sent) == expected

    fake_openai.clear()
    run_openai(fake_openai, release_template, store, "--method", "safety-prompt")
    sent = bodies(fake_openai)
    assert all(body["messages"][0] == {"role": "system", "content": SAFETY_SYSTEM_PROMPT} for body in sent)
    assert all(len(body["messages"]) == 2 for body in sent)
    assert Counter(question(body) for body in sent) == baseline


def few_shot_turns(body: dict) -> list[dict]:
    return [m for m in body["messages"][:-1] if m["role"] != "system"]


def test_few_shot_sends_image_demonstrations_and_never_evaluates_them(
    fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path, baseline: Counter
) -> None:
    store = tmp_path / "s.sqlite"
    result = run_openai(fake_openai, release_template, store, "--method", "few-shot:2")
    (summary,) = json.loads(result.stdout)
    assert summary["method"] == "few-shot:2,seed=0,scope=category" and summary["run"].endswith("-few-shot-2")
    sent = bodies(fake_openai)
    demo_questions: set[tuple[str, str]] = set()
    for body in sent:
        turns = few_shot_turns(body)
        assert [m["role"] for m in turns] == ["user", "assistant"] * 4  # 2 pairs x (safe, unsafe)
        # the safe twin is answered with a real answer written for its question; the unsafe one refused
        safe_questions = [turns[0]["content"][1]["text"], turns[4]["content"][1]["text"]]
        assert [m["content"] for m in turns[1::2]] == [
            HELPFUL_ANSWERS[text_key(safe_questions[0])],
            REFUSAL_ANSWER,
            HELPFUL_ANSWERS[text_key(safe_questions[1])],
            REFUSAL_ANSWER,
        ]
        for demo in turns[0::2]:
            assert [p["type"] for p in demo["content"]] == ["image_url", "text"]
            assert demo["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
            demo_questions.add((demo["content"][0]["image_url"]["url"], demo["content"][1]["text"]))
    evaluated = Counter(question(body) for body in sent)
    assert len(demo_questions) == 4  # one category: the same two pairs for every question
    assert not demo_questions & set(evaluated), "a demonstration was also asked as the evaluated question"
    assert sum(evaluated.values()) < sum(baseline.values()) and not evaluated - baseline

    with Store(store) as opened:
        spec = opened.get_run(summary["run"])
        assert spec is not None and spec.method == summary["method"]
        demo_ids = spec.meta["method"]["few_shot"]["demo_ids"]
        evaluated_samples = [sample for sample, _ in opened.run_items(summary["run"])]
    assert len(demo_ids) == 4 and len(evaluated_samples) == summary["samples"] == len(sent)
    # a demonstration's spreadsheet row shares its prompt with the row's other slots: none is evaluated
    by_id = {sample.id: sample for sample in load_samples(release_template, subset="image_centric", warn=False).samples}
    demo_rows = {(by_id[i].source_file, by_id[i].source_row) for i in demo_ids}
    assert not demo_rows & {(s.source_file, s.source_row) for s in evaluated_samples}


def test_composition_applies_each_method_once_in_a_fixed_order(
    fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path, baseline: Counter
) -> None:
    result = run_openai(
        fake_openai, release_template, tmp_path / "s.sqlite", "--method", "cot+few-shot:1+safety-prompt"
    )
    (summary,) = json.loads(result.stdout)
    assert summary["method"] == "few-shot:1,seed=0,scope=category+safety-prompt+cot"
    for body in bodies(fake_openai):
        assert body["messages"][0] == {"role": "system", "content": SAFETY_SYSTEM_PROMPT}
        turns = few_shot_turns(body)
        assert [m["role"] for m in turns] == ["user", "assistant"] * 2
        assert all(COT_INSTRUCTION not in p.get("text", "") for m in turns[0::2] for p in m["content"])
        url, text = question(body)
        assert text.endswith(f"\n\n{COT_INSTRUCTION}")
        assert (url, text.removesuffix(f"\n\n{COT_INSTRUCTION}")) in baseline


def test_method_is_part_of_the_cache_key(fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("Be careful.")
    method = f"safety-prompt:file={prompt_file}"
    run_openai(fake_openai, release_template, store, "--method", method, "--limit", "6")
    first = len(fake_openai.completions())
    assert first == 6
    fake_openai.clear()
    run_openai(fake_openai, release_template, store, "--method", method, "--limit", "6")
    assert fake_openai.completions() == []  # same method: everything is cached
    prompt_file.write_text("Be very careful.")
    result = run_openai(fake_openai, release_template, store, "--method", method, "--limit", "6")
    assert len(fake_openai.completions()) == 6  # changed prompt file: no stale answer reused
    assert all(body["messages"][0]["content"] == "Be very careful." for body in bodies(fake_openai))
    assert json.loads(result.stdout)[0]["cached"] == 0


def test_dry_run_counts_calls_per_method(fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path) -> None:
    result = run_openai(fake_openai, release_template, tmp_path / "s.sqlite", "--dry-run", "--method", "none",
                        "--method", "few-shot:2", "--limit", "10")  # fmt: skip
    plain, few_shot = json.loads(result.stdout)["runs"]
    assert fake_openai.completions() == []
    assert plain["method"] == "none" and plain["would_send"] == 10 and plain["demo_ids"] == []
    assert few_shot["would_send"] == few_shot["samples"] <= 10 and len(few_shot["demo_ids"]) == 4


def test_iar_on_an_api_model_is_refused_before_anything_is_sent(
    fake_openai: FakeOpenAI, release_template: Path, tmp_path: Path
) -> None:
    vector = tmp_path / "v.safetensors"
    vector.write_bytes(b"not used")
    result = cli("run", "--data", release_template, "--model", f"openai:fake-vlm@{fake_openai.base_url}",
                 "--store", tmp_path / "s.sqlite", "--limit", "2",
                 "--method", f"safety-prompt+iar:layer=14,strength=1.5,vector={vector}")  # fmt: skip
    assert result.exit_code == 2
    assert "iar" in result.output and "openai backend" in result.output and "hf:PATH" in result.output
    assert fake_openai.completions() == []


def test_bad_method_specs_are_explained(tmp_path: Path) -> None:
    vector = tmp_path / "v.safetensors"
    vector.write_bytes(b"x")
    for spec, needle in [
        ("shout", "unknown prompting method"),
        ("iar:layer=14,vector=" + str(vector), "strength"),
        ("iar:layer=1.5,strength=1,vector=" + str(vector), "fraction"),
        ("iar:layer=1,strength=1,vector=missing.safetensors", "does not exist"),
        ("iar:layer=1,strength=1,vector=" + str(vector) + "+iar:layer=2,strength=1,vector=" + str(vector), "twice"),
        ("cot++safety-prompt", "empty part"),
    ]:
        with pytest.raises(MethodSpecError, match=needle):
            parse_method(spec)
    plan = parse_method(f"iar:layer=0.5,alpha=2,vector={vector},gate=probe")
    with pytest.raises(MethodSpecError, match="resolved against a model"):
        _ = plan.canonical
    assert plan.resolve_layer(28) == 14
    assert plan.canonical.startswith("iar:layer=14,strength=2.0,vector=") and plan.canonical.endswith(",gate=probe")
    assert parse_method(None).canonical == parse_method("none").canonical == "none"


# --- IAR steering on a tiny local LLaVA ---------------------------------------------------------


@pytest.fixture
def one_torch_thread():
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: two threads only thrash on a shared 2-core machine
    yield torch
    torch.set_num_threads(previous)


def write_vectors(model_dir: Path, path: Path, layers: tuple[int, ...] = (1, 2), **meta_changes: object) -> str:
    """A vector file with a known random direction per block (norm 20: enough to change answers)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vscbench.methods.steering import SteeringVectors, model_identity

    network = AutoModelForImageTextToText.from_pretrained(model_dir)
    generator = torch.Generator().manual_seed(0)
    hidden = network.config.get_text_config().hidden_size
    vectors = {layer: torch.randn(hidden, generator=generator) for layer in layers}
    vectors = {layer: v / v.norm() * 20.0 for layer, v in vectors.items()}
    meta = {**model_identity(network), **meta_changes}
    steering = SteeringVectors(vectors, {l: 20.0 for l in layers}, {l: 10.0 for l in layers}, meta)
    return steering.save(path)


def answers(store: Store, run: str) -> dict[str, tuple[str, str | None]]:
    """sample id -> (response key, answer text)."""
    return {s.id: (r.key, r.text) for s, r in store.run_items(run) if r is not None}


def test_iar_through_the_cli_steers_and_keys_answers_by_vector_layer_and_strength(
    tiny_llava_dir: Path, release_template: Path, tmp_path: Path, one_torch_thread
) -> None:
    vector = tmp_path / "iar.safetensors"
    sha = write_vectors(tiny_llava_dir, vector)
    store_path = tmp_path / "s.sqlite"
    result = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store", store_path,
                 "--limit", "6", "--max-tokens", "8", "--json", "--method", "none",
                 "--method", f"iar:layer=0.5,strength=0,vector={vector}",
                 "--method", f"iar:layer=2,strength=1,vector={vector}")  # fmt: skip
    assert result.exit_code == 0, result.output
    plain, zero, steered = json.loads(result.stdout)
    assert zero["method"] == f"iar:layer=2,strength=0.0,vector={sha[:16]},positions=last"
    assert str(vector) not in zero["method"] and zero["run"] != plain["run"]
    with Store(store_path) as store:
        plain_answers, zero_answers, steered_answers = (answers(store, s["run"]) for s in (plain, zero, steered))
        recorded = store.get_run(zero["run"]).meta["method"]["iar"]
    assert len(plain_answers) == 6 and plain_answers.keys() == zero_answers.keys() == steered_answers.keys()
    for sample_id, (key, text) in plain_answers.items():
        assert zero_answers[sample_id][1] == text  # strength 0 is the unsteered model...
        assert zero_answers[sample_id][0] != key  # ...but not the same cached answer
    assert any(steered_answers[i][1] != plain_answers[i][1] for i in plain_answers)
    assert recorded["layer"] == 2 and recorded["layer_spec"] == "0.5" and recorded["vector_sha256"] == sha
    assert recorded["vector"] == str(vector) and recorded["alpha"] == 0.0

    again = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store", store_path,
                "--limit", "6", "--max-tokens", "8", "--json", "--method", f"iar:layer=2,strength=1,vector={vector}")  # fmt: skip
    assert again.exit_code == 0 and json.loads(again.stdout)[0]["sent"] == 0


def test_steering_hook_is_removed_after_a_run_and_after_a_failure(
    tiny_llava_dir: Path, release_template: Path, tmp_path: Path, one_torch_thread
) -> None:
    from vscbench.engine.requests import select_samples
    from vscbench.engine.runner import run_samples_sync
    from vscbench.methods.steering import find_text_layers
    from vscbench.models.base import load_model

    vector = tmp_path / "iar.safetensors"
    write_vectors(tiny_llava_dir, vector)
    samples = select_samples(load_samples(release_template, warn=False).samples, limit=3, shares="equal")
    model = load_model(f"hf:{tiny_llava_dir}", device="cpu")
    block = find_text_layers(model.model)[1]
    hooks_during: list[int] = []
    real_generate = model.model.generate

    def spying_generate(*args, **kwargs):
        hooks_during.append(len(block._forward_hooks))
        if spying_generate.fail:
            raise RuntimeError("device fell over")
        return real_generate(*args, **kwargs)

    spying_generate.fail = False
    model.model.generate = spying_generate
    plan = parse_method(f"iar:layer=1,strength=1.5,vector={vector}")
    with Store(tmp_path / "s.sqlite") as store:
        steered = plan.wrap(model)  # a model decorator: the loaded model itself is not changed
        assert steered is not model and steered.spec == model.spec
        summary = run_samples_sync(steered, samples, store, transform=plan.transform(samples))
        assert summary.ok == 3 and hooks_during and set(hooks_during) == {1} and not block._forward_hooks
        hooks_during.clear()
        plain = run_samples_sync(model, samples, store, run_name="plain")
        assert plain.ok == 3 and set(hooks_during) == {0}  # the same model, unsteered, beside it
        spying_generate.fail = True
        stronger = parse_method(f"iar:layer=1,strength=2,vector={vector}")
        failed = run_samples_sync(stronger.wrap(model), samples, store, run_name="failing",
                                  transform=stronger.transform(samples))  # fmt: skip
        assert failed.error == 3 and "device fell over" in failed.top_errors[0][0]
    assert not block._forward_hooks


def test_unusable_vector_files_are_refused_with_the_reason(
    tiny_llava_dir: Path, release_template: Path, tmp_path: Path, one_torch_thread
) -> None:
    other = tmp_path / "other.safetensors"
    write_vectors(tiny_llava_dir, other, hidden_size=4096, model_name="llava-1.5-7b-hf")
    only_block_1 = tmp_path / "block1.safetensors"
    write_vectors(tiny_llava_dir, only_block_1, layers=(1,))
    for method, needle in [
        (f"iar:layer=1,strength=1,vector={other}", "made for another model"),
        (f"iar:layer=3,strength=1,vector={only_block_1}", "no vector for text block 3"),
        (f"iar:layer=1,strength=1,vector={only_block_1},gate=probe", "needs a probe"),
        (f"iar:layer=7,strength=1,vector={only_block_1}", "outside the text decoder"),
    ]:
        result = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store",
                     tmp_path / "s.sqlite", "--limit", "2", "--method", method)  # fmt: skip
        assert result.exit_code == 2 and needle in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output
