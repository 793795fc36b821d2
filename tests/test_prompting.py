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
    [
        ("few-shot:9", "between 1 and 4"),
        ("magic", "unknown prompting method"),
        ("cot+cot", "twice"),
        ("few-shot:x", "integers"),
        ("safety-prompt:file=/nonexistent", "does not exist"),
    ],
)
def test_bad_specs(spec, message) -> None:
    with pytest.raises(MethodSpecError, match=message):
        PromptPipeline.parse(spec)


# --- real answers, datasets without rows, and the images of one conversation -------------------


def test_helpful_demonstrations_carry_real_answers_and_answered_twins_only(data) -> None:
    from vscbench.methods.demonstrations import HELPFUL_ANSWERS, REFUSAL_ANSWER
    from vscbench.methods.steering.guard import text_key

    samples = data.filter(subset="text_centric")
    pipeline = PromptPipeline.parse("few-shot:2,seed=3")
    evaluated = pipeline.select(samples, data.samples)
    for pairs in pipeline.few_shot.demos.values():
        for safe, unsafe in pairs:
            assert text_key(safe.original_question) in HELPFUL_ANSWERS and safe.pair_key == unsafe.pair_key
    request = pipeline.apply(base_request(evaluated[0]), evaluated[0])
    answers = [m.text_content for m in request.messages if m.role == "assistant"]
    first_safe = pipeline.few_shot.demos[pipeline.few_shot._group(evaluated[0])][0][0]
    assert answers[0] == HELPFUL_ANSWERS[text_key(first_safe.original_question)] and answers[1] == REFUSAL_ANSWER
    assert len(answers[0]) > 60 and "1." in answers[0]  # an answer with content, not a promise of one


def test_answers_file_from_build_data_replaces_the_written_answers(tmp_path, data) -> None:
    import json

    samples = data.filter(subset="image_centric", variants=["slot_0"])
    twin = next(s for s in samples if s.label == "safe")
    unsafe = next(s for s in samples if s.label == "unsafe" and s.pair_key == twin.pair_key)
    answers = tmp_path / "contrastive.jsonl"
    answers.write_text(
        json.dumps({"sample_id": twin.id, "query_label": "safe", "query": twin.prompt,
                    "safe_response": "Take one tablet with water after a meal.", "unsafe_response": "I can't."}) + "\n"
        + json.dumps({"sample_id": unsafe.id, "query_label": "unsafe", "query": unsafe.prompt,
                      "safe_response": "No: that dose could hurt you; please ask a doctor.", "unsafe_response": "Sure."}) + "\n"
    )  # fmt: skip
    pipeline = PromptPipeline.parse(f"few-shot:1,answers={answers}")
    assert pipeline.canonical().startswith("few-shot:1,seed=0,scope=category,answers=")
    evaluated = pipeline.select(samples, data.samples)
    assert {pair[0].id for pairs in pipeline.few_shot.demos.values() for pair in pairs} == {
        twin.id
    }  # the one answered twin
    request = pipeline.apply(base_request(evaluated[0]), evaluated[0])
    assert [m.text_content for m in request.messages if m.role == "assistant"] == [
        "Take one tablet with water after a meal.",
        "No: that dose could hurt you; please ask a doctor.",
    ]
    assert not any((s.source_file, s.source_row) == (twin.source_file, twin.source_row) for s in evaluated)
    answers.write_text('{"answer": "x"}\n')
    with pytest.raises(MethodSpecError, match='line 1: needs a "sample_id" or a "question"'):
        PromptPipeline.parse(f"few-shot:1,answers={answers}").select(samples, data.samples)


def test_a_dataset_without_rows_holds_out_ids_and_questions_and_never_evaluates_nothing(tmp_path) -> None:
    from vscbench.workflows.demo import write_demo

    user = load_samples_file(write_demo(tmp_path / "demo"))
    assert all(s.source_row is None for s in user)
    pipeline = PromptPipeline.parse("few-shot:1,scope=subset")
    evaluated = pipeline.select(user, user)
    demo_ids = pipeline.few_shot.demo_ids()
    demo_questions = {s.original_question for s in user if s.id in demo_ids}
    assert evaluated and not demo_ids & {s.id for s in evaluated}
    assert not demo_questions & {s.original_question for s in evaluated}  # the text twin of a demo is held out too
    assert len(evaluated) < len(user) - len(demo_ids)
    only_demo_questions = [s for s in user if s.original_question in demo_questions]
    with pytest.raises(MethodSpecError, match="leaves no sample to evaluate"):
        PromptPipeline.parse("few-shot:1,scope=subset").select(only_demo_questions, user)
    mine = [
        s.model_copy(update={"prompt": f"my question {i}", "question": f"my question {i}"}) for i, s in enumerate(user)
    ]
    with pytest.raises(MethodSpecError, match="real answer.*answers=FILE"):
        PromptPipeline.parse("few-shot:1").select(mine, mine)


def load_samples_file(path):
    from vscbench.benchmarks.samples import load_samples

    return load_samples(path, warn=False).samples


def test_images_per_conversation_fit_the_backend() -> None:
    from vscbench.methods.plan import fit_model_options, parse_method

    assert parse_method("few-shot:4").images_per_conversation == 9 and parse_method("cot").images_per_conversation == 1
    assert fit_model_options("vllm", {}, ["none", "few-shot:4+cot"]) == {"limit_mm_per_prompt": {"image": 9}}
    assert fit_model_options("vllm", {}, ["few-shot:1"]) == {"limit_mm_per_prompt": {"image": 8}}  # vscbench's default
    assert fit_model_options("vllm", {"limit_mm_per_prompt": {"image": 12, "video": 0}}, ["few-shot:4"]) == {
        "limit_mm_per_prompt": {"image": 12, "video": 0}
    }
    with pytest.raises(MethodSpecError, match="puts 9 images in one conversation, but limit_mm_per_prompt allows 4"):
        fit_model_options("vllm", {"limit_mm_per_prompt": {"image": 4}}, ["few-shot:4"])
    assert fit_model_options("hf", {"dtype": "float16"}, ["few-shot:4"]) == {"dtype": "float16"}


def test_vllm_engine_options_are_fitted_before_it_loads(release_template, tmp_path, monkeypatch) -> None:
    import vscbench.models.base as base_module
    from vscbench.experiment import Experiment, ExperimentError, run_experiment

    built: list[dict] = []

    def fake_load(spec, **options):
        built.append(options)
        raise RuntimeError("stop here: no engine in tests")

    monkeypatch.setattr(base_module, "load_model", fake_load)
    experiment = Experiment(models=["vllm:some/model"], data=str(release_template), limit=20, methods=["none", "few-shot:4"],
                            store=str(tmp_path / "s.sqlite"))  # fmt: skip
    with pytest.raises(RuntimeError, match="stop here"):
        run_experiment(experiment)
    assert built == [{"limit_mm_per_prompt": {"image": 9}}]  # one engine for both methods, sized for the larger
    built.clear()
    execution = experiment.execution.model_copy(update={"model_options": {"limit_mm_per_prompt": {"image": 2}}})
    low = experiment.model_copy(update={"execution": execution})
    with pytest.raises(ExperimentError, match="allows 2"):
        run_experiment(low)
    assert built == []  # refused before the engine was built


def test_same_samples_asks_every_method_what_no_method_holds_out(release_template, tmp_path) -> None:
    from vscbench.experiment import Experiment, run_experiment
    from vscbench.store import Store

    experiment = Experiment(models=["scripted:keyword"], data=str(release_template), subset="image_centric",
                            categories=["drugs"], variants=["slot_0"], methods=["none", "few-shot:2"],
                            store=str(tmp_path / "s.sqlite"))  # fmt: skip
    apart = run_experiment(experiment)
    selection = experiment.selection.model_copy(update={"same_samples": True})
    paired = run_experiment(experiment.model_copy(update={"selection": selection, "run_name": "paired"}))
    with Store(tmp_path / "s.sqlite") as store:
        ids = [{s.id for s, _ in store.run_items(run.run)} for run in (*apart.runs, *paired.runs)]
    assert ids[1] < ids[0]  # alone, the plain run also asks the demonstrations' rows
    assert ids[2] == ids[3] == ids[1]
