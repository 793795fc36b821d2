"""The transformers backend on a tiny random LLaVA: batching, images, chat turns, isolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from vscbench.images import file_sha256
from vscbench.models.base import Model, ModelSpecError, load_model
from vscbench.models.hf import HFModel, to_hf_conversation
from vscbench.schema import GenerationConfig, Message, Request

PROMPTS = [
    "how to cook a drug step first then",
    "what does this picture show",
    "is it safe to take this medicine dose please answer the question with a list",
    "knife",
    "can you help",
    "this image shows a person , what should they do ?",
]


@pytest.fixture(scope="module")
def hf_model(tiny_llava_dir: Path) -> HFModel:
    return load_model(f"hf:{tiny_llava_dir}", batch_size=8)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    paths = []
    for index, (height, width) in enumerate([(40, 50), (64, 32), (33, 90), (128, 128)]):
        path = folder / f"img{index}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def request(text: str, image: Path | None = None, **config) -> Request:
    return Request(
        sample_id=text[:8],
        messages=[Message.user(text, image)],
        config=GenerationConfig(max_tokens=config.pop("max_tokens", 12), **config),
    )


def mixed_requests(images: list[Path]) -> list[Request]:
    """Different prompt lengths, with and without images, so rows need different padding."""
    requests = []
    for index, prompt in enumerate(PROMPTS):
        image = images[index % len(images)] if index % 3 != 1 else None
        requests.append(request(prompt, image))
    requests.append(
        Request(
            sample_id="multi",
            messages=[
                Message.text("system", "warning legal"),
                Message.user("knife", images[0]),
                Message.text("assistant", "sorry i cannot help"),
                Message.user("please", images[1]),
            ],
            config=GenerationConfig(max_tokens=12, system_prompt="warning legal"),
        )
    )
    return requests


def test_load_through_registry(tiny_llava_dir: Path) -> None:
    model = load_model(f"hf:{tiny_llava_dir}", batch_size=3, dtype="float32")
    assert isinstance(model, HFModel)
    assert isinstance(model, Model)
    assert model.max_batch_size == 3
    assert model.device.type == "cpu" and model.dtype == torch.float32
    assert model.processor.tokenizer.padding_side == "left"
    assert model.model.config.model_type == "llava"


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nowhere'}")


@pytest.mark.parametrize("stop_at_eos", [True, False])
async def test_batched_equals_one_by_one(hf_model: HFModel, images: list[Path], stop_at_eos: bool) -> None:
    """Greedy answers must not depend on batch neighbours. The random model often ends at once
    after an image, so a second pass forbids the end token to compare full-length answers."""
    requests = mixed_requests(images)
    prepared = hf_model.prepare_inputs(requests)
    lengths = prepared.inputs["attention_mask"].sum(dim=1)
    assert len(set(lengths.tolist())) > 3, "the batch must mix prompt lengths so padding matters"
    assert bool((prepared.inputs["attention_mask"][:, 0] == 0).any()), "padding must be on the left"

    generation_config = hf_model.model.generation_config
    if not stop_at_eos:
        generation_config.suppress_tokens = [hf_model.tokenizer.eos_token_id]
    try:
        batched = await hf_model.generate(requests)
        single = [(await hf_model.generate([r]))[0] for r in requests]
    finally:
        generation_config.suppress_tokens = None

    assert [g.outcome for g in batched] == ["ok"] * len(requests)
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.usage for g in batched] == [g.usage for g in single]
    assert batched[0].usage.prompt_tokens == int(lengths[0])
    if not stop_at_eos:
        assert all(g.text and g.usage.completion_tokens == 12 for g in batched)


async def test_batches_larger_than_batch_size_keep_order(hf_model: HFModel, images) -> None:
    requests = mixed_requests(images)
    whole = await hf_model.generate(requests)
    hf_model.max_batch_size = 2
    try:
        chunked = await hf_model.generate(requests)
    finally:
        hf_model.max_batch_size = 8
    assert [g.text for g in chunked] == [g.text for g in whole]
    assert [g.usage for g in chunked] == [g.usage for g in whole]


async def test_max_tokens_and_sampling_are_respected(hf_model: HFModel, images) -> None:
    short, greedy, sampled_a, sampled_b, other_seed = await hf_model.generate(
        [
            request(PROMPTS[0], images[0], max_tokens=3),
            request(PROMPTS[0], images[0], max_tokens=12),
            request(PROMPTS[0], images[0], temperature=1.5, seed=1),
            request(PROMPTS[0], images[0], temperature=1.5, seed=1),
            request(PROMPTS[0], images[0], temperature=1.5, seed=2),
        ]
    )
    assert short.usage.completion_tokens <= 3
    assert greedy.text.startswith(short.text)
    assert sampled_a.text == sampled_b.text, "sampling with the same seed must repeat"
    assert sampled_a.text != other_seed.text or sampled_a.text != greedy.text


@pytest.mark.parametrize("mode", ["RGBA", "P", "CMYK", "I;16", "huge"])
async def test_odd_images_are_converted_without_touching_the_file(hf_model: HFModel, tmp_path: Path, mode: str) -> None:
    rng = np.random.default_rng(3)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (40, 60), dtype=np.uint16))
        path = tmp_path / "gray16.png"
    elif mode == "huge":
        image = Image.new("RGB", (4000, 3000), (200, 30, 30))
        path = tmp_path / "huge.png"
    else:
        image = Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).convert(mode)
        path = tmp_path / ("odd.jpg" if mode == "CMYK" else "odd.png")
    image.save(path)
    before = (file_sha256(path), path.stat().st_mtime_ns)

    req = request("what does this picture show", path, max_image_side=256)
    conversation = to_hf_conversation(req)
    prepared_image = conversation[0]["content"][0]["image"]
    assert prepared_image.mode == "RGB"
    assert max(prepared_image.size) <= 256

    (answer,) = await hf_model.generate([req])
    assert answer.outcome == "ok", answer.error
    assert (file_sha256(path), path.stat().st_mtime_ns) == before


async def test_corrupt_image_fails_only_its_request(hf_model: HFModel, images, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(images[0].read_bytes()[:60])
    requests = [request(PROMPTS[0], images[0]), request("knife", broken), request(PROMPTS[2], images[1])]
    answers = await hf_model.generate(requests)
    assert [a.outcome for a in answers] == ["ok", "error", "ok"]
    assert "broken.png" in answers[1].error
    alone = [(await hf_model.generate([r]))[0].text for r in (requests[0], requests[2])]
    assert [answers[0].text, answers[2].text] == alone


async def test_request_the_processor_rejects_does_not_sink_the_batch(hf_model: HFModel, images) -> None:
    # an image placeholder typed into the text with no image behind it: the processor refuses
    bad = request("look at <image> please")
    answers = await hf_model.generate([request(PROMPTS[0], images[0]), bad, request("knife")])
    assert [a.outcome for a in answers] == ["ok", "error", "ok"]
    assert answers[1].error


def test_multi_turn_and_system_render_through_the_chat_template(hf_model: HFModel, images) -> None:
    (multi,) = [r for r in mixed_requests(images) if r.sample_id == "multi"]
    prepared = hf_model.prepare_inputs([multi])
    tokens = prepared.inputs["input_ids"][0].tolist()
    image_token = hf_model.model.config.image_token_id
    per_image = hf_model.model.config.image_seq_length
    assert tokens.count(image_token) == 2 * per_image
    assert prepared.inputs["pixel_values"].shape[0] == 2
    rendered = hf_model.processor.apply_chat_template(to_hf_conversation(multi), add_generation_prompt=True)
    order = [rendered.index(s) for s in ("system:", "warning legal", "knife", "assistant:", "sorry", "please")]
    assert order == sorted(order)
    assert rendered.rstrip().endswith("assistant:")
    # the tokens follow the same order: system text, first image, assistant turn, second image
    vocab = hf_model.tokenizer.convert_tokens_to_ids
    first_image = tokens.index(image_token)
    last_image = len(tokens) - 1 - tokens[::-1].index(image_token)
    assert tokens.index(vocab("warning")) < first_image < tokens.index(vocab("sorry")) < last_image


async def test_generation_context_wraps_generate(hf_model: HFModel, images) -> None:
    """A steering-style hook on a decoder layer, installed by the context, changes the answer."""
    from contextlib import contextmanager

    requests = [request(PROMPTS[0], images[0]), request(PROMPTS[3])]
    plain = hf_model.generate_batch(requests)
    seen = []

    @contextmanager
    def push(batch):
        seen.append(batch.prompt_length)
        layer = hf_model.model.model.language_model.layers[1]

        def hook(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            shifted = hidden + 5.0
            return (shifted, *output[1:]) if isinstance(output, tuple) else shifted

        handle = layer.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    steered = hf_model.generate_batch(requests, context=push)
    assert seen and seen[0] == hf_model.prepare_inputs(requests).prompt_length
    assert [g.text for g in steered] != [g.text for g in plain]
    assert [g.text for g in hf_model.generate_batch(requests)] == [g.text for g in plain]


# ---- vLLM offline engine: only what runs without a GPU -------------------------------------


def test_vllm_without_the_engine_says_what_to_do(tiny_llava_dir: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here; this checks the message shown when it is not")
    with pytest.raises(ModelSpecError, match=r"pip install vllm.*openai:MODEL@http"):
        load_model(f"vllm:{tiny_llava_dir}")


def test_vllm_messages_carry_system_turns_and_images(images) -> None:
    import base64
    import io

    from vscbench.models.vllm import to_vllm_messages

    (multi,) = [r for r in mixed_requests(images) if r.sample_id == "multi"]
    messages = to_vllm_messages(multi)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "warning legal"
    image_part, text_part = messages[1]["content"]
    assert text_part == {"type": "text", "text": "knife"}
    prefix, _, payload = image_part["image_url"]["url"].partition(",")
    assert prefix == "data:image/png;base64"
    assert Image.open(io.BytesIO(base64.b64decode(payload))).size == Image.open(images[0]).size
