"""Prompting methods build exactly the messages intended, and few-shot never leaks a demo."""

from __future__ import annotations

import pytest

from vscbench.benchmarks.vscbench import load_vscbench
from vscbench.methods.prompting import (
    COT_INSTRUCTION,
    SAFETY_SYSTEM_PROMPT,
    MethodSpecError,
    PromptPipeline,
)
from vscbench.schema import GenerationConfig, ImagePart, Message, Request, TextPart


@pytest.fixture(scope="module")
def data(release_template):
    return load_vscbench(release_template, warn=False)


def base_request(sample) -> Request:
    return Request(
        sample_id=sample.id,
        messages=[Message.user(sample.prompt, sample.image_path, "0" * 64 if sample.image_path else None)],
        config=GenerationConfig(),
    )


def test_cot_appends_the_instruction_to_the_question(data) -> None:
    sample = data.samples[0]
    request = PromptPipeline.parse("cot").apply(base_request(sample), sample)
    assert len(request.messages) == 1
    texts = [p.text for p in request.messages[0].content if isinstance(p, TextPart)]
    assert texts == [f"{sample.prompt}\n\n{COT_INSTRUCTION}"]
    assert isinstance(request.messages[0].content[0], ImagePart)


def test_safety_prompt_and_file(tmp_path, data) -> None:
    sample = data.samples[0]
    request = PromptPipeline.parse("safety-prompt").apply(base_request(sample), sample)
    assert request.messages[0].role == "system" and request.messages[0].text_content == SAFETY_SYSTEM_PROMPT
    custom = tmp_path / "prompt.txt"
    custom.write_text("Be careful.\n")
    pipeline = PromptPipeline.parse(f"safety-prompt:file={custom}")
    assert pipeline.apply(base_request(sample), sample).messages[0].text_content == "Be careful."
    assert pipeline.canonical().startswith("safety-prompt:sha256=")
    custom.write_text("Be very careful.\n")
    assert PromptPipeline.parse(f"safety-prompt:file={custom}").canonical() != pipeline.canonical()


def test_composition_order_is_fixed(data) -> None:
    a = PromptPipeline.parse("cot+few-shot:2+safety-prompt")
    b = PromptPipeline.parse("few-shot:2+safety-prompt+cot")
    assert a.canonical() == b.canonical() == "few-shot:2,seed=0,scope=category+safety-prompt+cot"


def test_few_shot_demonstrations_are_never_evaluated(data) -> None:
    samples = data.filter(subset="image_centric")
    pipeline = PromptPipeline.parse("few-shot:2,seed=7")
    evaluated = pipeline.select(samples, data.samples)
    demos = pipeline.few_shot.demo_ids()
    assert len(demos) == 2 * 2 * 6  # 2 pairs x (safe, unsafe) x 6 categories
    assert not demos & {s.id for s in evaluated}
    demo_rows = pipeline.few_shot.excluded_rows()
    assert not any((s.source_file, s.source_row) in demo_rows for s in evaluated)
    assert len(evaluated) == len(samples) - 6 * 2 * 6  # every sample of each demo row is held out

    sample = evaluated[0]
    request = pipeline.apply(base_request(sample), sample)
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant"] * 4 + ["user"]
    demo_pairs = pipeline.few_shot.demos[f"image_centric/{sample.category}"]
    first_safe, first_unsafe = demo_pairs[0]
    assert request.messages[0].text_content == first_safe.prompt
    assert request.messages[0].images[0].path == first_safe.image_path
    assert request.messages[2].images[0].path == first_unsafe.image_path
    assert "can't help" in request.messages[3].text_content
    assert first_safe.category == sample.category and first_safe.pair_key == first_unsafe.pair_key


def test_few_shot_is_seeded(data) -> None:
    samples = data.filter(subset="text_centric", variants=["figstep"])
    one = PromptPipeline.parse("few-shot:1,seed=1")
    two = PromptPipeline.parse("few-shot:1,seed=1")
    other = PromptPipeline.parse("few-shot:1,seed=2,scope=subset")
    one.select(samples, data.samples)
    two.select(samples, data.samples)
    other.select(samples, data.samples)
    assert one.few_shot.demo_ids() == two.few_shot.demo_ids()
    assert list(other.few_shot.demos) == ["text_centric"]


@pytest.mark.parametrize(
    "spec, message",
    [("few-shot:9", "between 1 and 4"), ("magic", "unknown prompting method"), ("cot+cot", "twice"),
     ("few-shot:x", "integers"), ("safety-prompt:file=/nonexistent", "does not exist")],
)
def test_bad_specs(spec, message) -> None:
    with pytest.raises(MethodSpecError, match=message):
        PromptPipeline.parse(spec)
