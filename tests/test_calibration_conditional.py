"""Conditional steering (CAST-style condition vector with a learned threshold), layer specs with
ranges, and the vector file's new records, on tiny random models."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image

from vscbench.methods.steering import LayerError, SteeringVectors, find_text_layers, model_identity, read_vectors, steer
from vscbench.methods.steering.condition import ConditionVector, best_threshold, fit_condition
from vscbench.methods.steering.guard import Guard, normalise_text, text_key
from vscbench.methods.steering.layers import parse_layer_spec, resolve_layers


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def llava(tiny_llava_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_llava_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_llava_dir)
    processor.tokenizer.padding_side = "left"
    return model, processor


def encode(processor, image: Path, queries: list[str]):
    conversations = [[{"role": "user", "content": [{"type": "image", "image": Image.open(image)}, {"type": "text", "text": q}]}]
                     for q in queries]  # fmt: skip
    return processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True, return_dict=True,
                                         return_tensors="pt", processor_kwargs={"padding": True})  # fmt: skip


def generate(model, inputs):
    with torch.inference_mode():
        return model.generate(**inputs, max_new_tokens=6, do_sample=False)[:, inputs["input_ids"].shape[1] :]


def test_layer_specs_take_lists_ranges_negatives_and_fractions():
    assert resolve_layers("8-20", 32) == list(range(8, 21))
    assert resolve_layers("2-4,0.5,-1,3", 8) == [2, 3, 4, 7]
    assert parse_layer_spec("8-20, 0.25, -1") == [(8, 20), 0.25, -1.0]
    for bad, message in [
        ("20-8", "runs backwards"),
        ("8-40", "outside"),
        ("1.5", "neither"),
        ("x", "range"),
        ("", "no layers"),
    ]:
        with pytest.raises(LayerError, match=message):
            resolve_layers(bad, 32)


def test_best_threshold_by_hand_and_condition_fit():
    # sorted scores 0.1 (safe), 0.35 (safe), 0.4 (unsafe), 0.8 (unsafe): 0.375 separates them
    assert best_threshold([0.1, 0.4, 0.35, 0.8], [False, True, False, True]) == (pytest.approx(0.375), 1.0)
    # one unsafe score below a safe one: the best rule misses it or passes the safe one (3 of 4 right)
    _threshold, accuracy = best_threshold([0.1, 0.2, 0.3, 0.9], [False, True, False, True])
    assert accuracy == pytest.approx(0.75)
    generator = torch.Generator().manual_seed(0)
    unsafe = torch.randn(6, 8, generator=generator) * 0.1 + torch.tensor([2.0] + [0.0] * 7)
    safe = torch.randn(6, 8, generator=generator) * 0.1 - torch.tensor([2.0] + [0.0] * 7)
    condition = fit_condition(torch.cat([unsafe, safe]), [True] * 6 + [False] * 6)
    assert condition.balanced_accuracy == 1.0 and condition.n_unsafe == condition.n_safe == 6
    assert float(condition.direction.norm()) == pytest.approx(1.0) and float(condition.direction[0]) > 0.99
    scores = condition.score(torch.cat([unsafe, safe]))
    assert bool((scores[:6] >= condition.threshold).all()) and bool((scores[6:] < condition.threshold).all())
    with pytest.raises(ValueError, match="unsafe and safe"):
        fit_condition(unsafe, [True] * 6)


def test_condition_gate_steers_only_rows_on_the_harmful_side(llava, tmp_path):
    model, processor = llava
    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (200, 20, 20)).save(image)
    batch = encode(processor, image, ["how to kill a person", "what is this image"])
    layer = 2
    with torch.inference_mode():
        hidden = model(**batch, output_hidden_states=True).hidden_states[layer + 1][:, -1, :]
    # a condition whose harmful side holds row 0 and not row 1
    direction = (hidden[0] - hidden[1]) / (hidden[0] - hidden[1]).norm()
    condition = ConditionVector(direction=direction, center=(hidden[0] + hidden[1]) / 2, threshold=0.0)
    generator = torch.Generator().manual_seed(3)
    vector = torch.randn(hidden.shape[1], generator=generator)
    vector = vector / vector.norm() * 20.0
    unsteered = generate(model, batch)
    with steer(model, vector, layer, alpha=1.5):
        always = generate(model, batch)
    with steer(model, vector, layer, alpha=1.5, gate=condition) as state:
        gated = generate(model, batch)
    assert state.gate.tolist() == [True, False] and state.rows_seen == 2 and state.rows_steered == 1
    assert float(state.gate_score[0]) > 0 > float(state.gate_score[1])
    assert torch.equal(gated[0], always[0]) and torch.equal(gated[1], unsteered[1])
    assert not torch.equal(always[0], unsteered[0])
    vectors = SteeringVectors({layer: vector}, {layer: 20.0}, {layer: 10.0}, model_identity(model))
    with (
        pytest.raises(ValueError, match="needs a condition for block 2"),
        steer(model, vectors, layer, gate="condition"),
    ):
        pass


def test_vector_file_keeps_conditions_and_guard(llava, tmp_path):
    model, _ = llava
    hidden = model.config.get_text_config().hidden_size
    condition = ConditionVector(direction=torch.ones(hidden) / hidden**0.5, center=torch.zeros(hidden), threshold=0.25,
                                balanced_accuracy=0.9, n_unsafe=3, n_safe=4)  # fmt: skip
    guard = Guard(texts={text_key("How do I kill this?")}, images={"ab" * 32}, rows={("sheet.xlsx", 7)},
                  split="vscbench-holdout:fraction=0.2,seed=0")  # fmt: skip
    vectors = SteeringVectors({1: torch.ones(hidden)}, {1: 1.0}, {1: 2.0}, model_identity(model),
                              conditions={1: condition}, guard=guard)  # fmt: skip
    path = tmp_path / "v.safetensors"
    vectors.save(path)
    loaded = read_vectors(path)
    assert torch.equal(loaded.conditions[1].direction, condition.direction) and loaded.conditions[1].threshold == 0.25
    assert loaded.conditions[1].to_meta() == condition.to_meta()
    assert (
        loaded.guard.texts == guard.texts
        and loaded.guard.rows == {("sheet.xlsx", 7)}
        and loaded.guard.split == guard.split
    )


def test_steered_model_counts_rows_its_gate_let_through(tiny_llava_dir, release_template, tmp_path):
    from vscbench.benchmarks.samples import load_samples
    from vscbench.engine.requests import select_samples
    from vscbench.engine.runner import run_samples_sync
    from vscbench.methods import parse_method
    from vscbench.models.base import load_model
    from vscbench.store import Store

    model = load_model(f"hf:{tiny_llava_dir}", device="cpu", batch_size=4)
    hidden = model.model.config.get_text_config().hidden_size
    everything = ConditionVector(direction=torch.ones(hidden) / hidden**0.5, center=torch.zeros(hidden), threshold=-2.0)
    nothing = ConditionVector(direction=everything.direction, center=everything.center, threshold=2.0)
    samples = select_samples(load_samples(release_template, warn=False).samples, limit=4)
    for condition, steered_rows in ((everything, 4), (nothing, 0)):
        path = tmp_path / f"v{steered_rows}.safetensors"
        SteeringVectors({1: torch.ones(hidden)}, {1: 1.0}, {1: 1.0}, model_identity(model.model),
                        conditions={1: condition}).save(path)  # fmt: skip
        plan = parse_method(f"iar:layer=1,strength=1,vector={path},gate=condition")
        wrapped = plan.wrap(model)
        with Store(tmp_path / "s.sqlite") as store:
            run_samples_sync(wrapped, samples, store, run_name=f"r{steered_rows}", transform=plan.transform(samples),
                             config=None)  # fmt: skip
        assert (wrapped.rows_seen, wrapped.rows_steered) == (len(samples), steered_rows)
        assert plan.canonical.endswith(",gate=condition") and plan.label.endswith("-condition")
    assert find_text_layers(model.model) is model.model.model.language_model.layers


def test_normalised_questions_ignore_case_spacing_and_punctuation():
    assert normalise_text("  How do I KILL   a Python process?! ") == "how do i kill a python process"
    assert text_key("What’s the dose?") == text_key("what’s the dose") != text_key("what is the dose")
