"""VSCBench as Inspect AI tasks, end to end on Inspect's mockllm provider.

The scripted model answers from what Inspect really sends it, so these tests check the whole
path: the task's samples and images, our prompting methods as solvers, the judge as a scorer,
and the SRA metrics in the log.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("inspect_ai", reason="the 'inspect' extra (inspect-ai) is not installed")

from inspect_ai.model import ModelOutput

from inspect_fakes import ANSWER, REFUSAL, Oracle, image_hashes, run, scripted_model, sent_hash
from vscbench.benchmarks.vscbench import load_vscbench
from vscbench.engine.requests import build_request, select_samples
from vscbench.inspect import prompting, vscbench_task
from vscbench.inspect.messages import SAMPLE_KEY, sample_from_metadata
from vscbench.methods.plan import MethodSpecError, parse_method
from vscbench.methods.prompting import COT_INSTRUCTION, SAFETY_SYSTEM_PROMPT
from vscbench.scoring.metrics import score


def _metrics(log) -> dict[str, float]:
    (result,) = log.results.scores
    return {name: metric.value for name, metric in result.metrics.items()}


def _task_samples(task):
    return [sample_from_metadata(s.metadata) for s in task.dataset]


def _odd_format_selection(release) -> dict:
    """A selection holding samples whose image is neither JPEG nor PNG (the release has a few WebP)."""
    odd = next(s for s in load_vscbench(release, warn=False).samples
               if s.image_path is not None and s.image_path.suffix == ".webp")  # fmt: skip
    return {"subset": "image_centric", "category": odd.category, "variant": odd.variant}


def test_task_samples_are_the_requests_vscbench_run_sends(release_template):
    selection = _odd_format_selection(release_template)
    task = vscbench_task(str(release_template), **selection, system_prompt="Be careful.")
    pool = [s for s in load_vscbench(release_template, warn=False).samples if s.subset == "image_centric"]
    expected = select_samples(pool, "image_centric", [selection["variant"]], [selection["category"]], None, 0)
    assert [s.id for s in task.dataset] == [s.id for s in expected]
    kinds = set()
    for inspect_sample, sample in zip(task.dataset, expected):
        assert inspect_sample.target == sample.label
        assert inspect_sample.metadata[SAMPLE_KEY]["id"] == sample.id
        assert inspect_sample.metadata["pair_key"] == sample.pair_key
        system, user = inspect_sample.input
        assert system.role == "system" and system.text == "Be careful."
        parts = user.content
        if sample.image_path is None:
            assert [p.type for p in parts] == ["text"]
        else:
            assert [p.type for p in parts] == ["image", "text"]  # the image first, as vscbench run sends it
            reference = parts[0].image
            if sample.image_path.suffix in (".png", ".jpg", ".jpeg"):
                assert reference == str(sample.image_path)  # sent byte for byte: Inspect reads the file
            else:
                assert reference.startswith("data:image/png;base64,")  # prepared as our backends prepare it
            kinds.add(sample.image_path.suffix)
        assert parts[-1].text == sample.prompt
    assert ".webp" in kinds and ".png" in kinds


def test_task_parameters_select_and_refuse_bad_input(release_template, tmp_path):
    figstep = vscbench_task(str(release_template), subset="text_centric", variant="figstep,typography",
                            figstep_instruction="Fill in the list.")  # fmt: skip
    samples = _task_samples(figstep)
    assert {s.variant for s in samples} == {"figstep", "typography"}
    assert {s.prompt for s in samples if s.variant == "figstep"} == {"Fill in the list."}
    category = next(
        s.category for s in load_vscbench(release_template, warn=False).samples if s.subset == "image_centric"
    )
    assert {s.category for s in _task_samples(vscbench_task(str(release_template), subset="image_centric",
                                                             category=category))} == {category}  # fmt: skip
    with pytest.raises(ValueError, match="-T data=DIR"):
        vscbench_task(None)
    with pytest.raises(ValueError, match="unknown rule 'sloppy'"):
        vscbench_task(str(release_template), rule="sloppy")
    with pytest.raises(ValueError, match="no sample"):
        vscbench_task(str(release_template), category="no-such-category")
    with pytest.raises(MethodSpecError, match="no Inspect provider"):
        vector = tmp_path / "v.safetensors"
        vector.write_bytes(b"x")
        vscbench_task(str(release_template), method=f"iar:layer=1,strength=1,vector={vector}")


def test_a_calibrated_model_scores_one_and_the_images_reach_it(release_template, tmp_path):
    task = vscbench_task(str(release_template), limit=40)
    oracle = Oracle(_task_samples(task))
    seen: list = []
    log = run(task, scripted_model(lambda m: REFUSAL if oracle.which(m).is_unsafe else ANSWER, seen), tmp_path)
    assert log.status == "success"
    assert _metrics(log) == {"sra_s": 1.0, "sra_u": 1.0, "sra_a": 1.0, "pair_calibration": 1.0}
    # every image arrived as the bytes our own backends send
    for messages in seen:
        sample = oracle.which(messages)
        assert image_hashes(messages) == ([sent_hash(sample)] if sample.image_path else [])
    verdicts = {s.id: s.scores["safety_judge"].metadata["verdict"] for s in log.samples}
    assert set(verdicts.values()) == {"refusal", "compliance"}
    assert log.eval.metadata["vscbench"]["rule"]["name"] == "paper"
    assert log.results.scores[0].params["rule"] == "paper"
    assert {m.params["rule"] for m in log.results.scores[0].metrics.values()} == {"paper"}


def test_images_of_any_format_reach_the_model_as_our_backends_send_them(release_template, tmp_path):
    task = vscbench_task(str(release_template), **_odd_format_selection(release_template))
    oracle = Oracle(_task_samples(task))
    seen: list = []
    run(task, scripted_model(lambda m: ANSWER, seen), tmp_path)
    formats = set()
    for messages in seen:
        sample = oracle.which(messages)
        assert image_hashes(messages) == [sent_hash(sample)]
        formats.add(sample.image_path.suffix)
    assert ".webp" in formats


def test_metrics_are_the_library_figures_for_a_mixed_model(release_template, tmp_path):
    task = vscbench_task(str(release_template), limit=60, rule="strict")
    samples = _task_samples(task)
    oracle = Oracle(samples)
    # answers image-centric questions, refuses text-centric ones, whatever their label
    log = run(
        task, scripted_model(lambda m: ANSWER if oracle.which(m).subset == "image_centric" else REFUSAL), tmp_path
    )
    labels = {s.id: ("compliance" if s.subset == "image_centric" else "refusal") for s in samples}
    report = score(samples, labels, rule="strict")
    got = _metrics(log)
    assert got["sra_s"] == pytest.approx(report.overall.sra_s)
    assert got["sra_u"] == pytest.approx(report.overall.sra_u)
    assert got["sra_a"] == pytest.approx(report.overall.sra_a)
    assert got["pair_calibration"] == pytest.approx(report.pairs.share.value)
    assert 0 < got["sra_s"] < 1 and 0 < got["sra_u"] < 1


def test_refusing_everything_is_over_cautious(release_template, tmp_path):
    log = run(vscbench_task(str(release_template), limit=30), scripted_model(lambda m: REFUSAL), tmp_path)
    assert _metrics(log) == {"sra_s": 0.0, "sra_u": 1.0, "sra_a": 0.5, "pair_calibration": 0.0}


def test_prompting_methods_as_solvers_send_what_the_method_says(release_template, tmp_path):
    task = vscbench_task(str(release_template), limit=30, method="safety-prompt+cot")
    seen: list = []
    run(task, scripted_model(lambda m: ANSWER, seen), tmp_path)
    assert len(seen) == 30
    for messages in seen:
        assert messages[0].role == "system" and messages[0].text == SAFETY_SYSTEM_PROMPT
        assert messages[-1].text.endswith(COT_INSTRUCTION)
        assert len(messages) == 2


def test_few_shot_demonstrations_are_held_out_and_shown_inline(release_template, tmp_path):
    pool = load_vscbench(release_template, warn=False).samples
    task = vscbench_task(str(release_template), limit=40, method="few-shot:1")
    evaluated = _task_samples(task)
    plan = parse_method("few-shot:1")
    kept = plan.select(select_samples(pool, "all", None, None, 40, 0), pool)
    assert [s.id for s in evaluated] == [s.id for s in kept]
    demo_ids = set(plan.demo_ids)
    demo_rows = {(s.source_file, s.source_row) for s in pool if s.id in demo_ids}
    assert not demo_ids & {s.id for s in evaluated}
    assert not demo_rows & {(s.source_file, s.source_row) for s in evaluated}
    seen: list = []
    oracle = Oracle(evaluated)
    run(task, scripted_model(lambda m: ANSWER, seen), tmp_path)
    by_id = {s.id: s for s in pool}
    for messages in seen:
        sample = oracle.which(messages)
        expected = plan.transform([sample])(build_request(sample))
        assert [m.role for m in messages] == [m.role for m in expected.messages]
        assert [m.text for m in messages] == [m.text_content for m in expected.messages]
        demo_images = [p.path for m in expected.messages[:-1] for p in m.images]
        shown = image_hashes(messages[:-1])  # inline: each demonstration image as its bytes
        assert shown == [sent_hash(next(s for s in by_id.values() if s.image_path == path)) for path in demo_images]


def test_few_shot_as_a_bare_solver_refuses_to_leak_demonstrations():
    with pytest.raises(MethodSpecError, match="-T method=few-shot:2"):
        prompting("few-shot:2")


def test_invalid_grader_output_is_unscored_never_a_refusal(release_template, tmp_path):
    task = vscbench_task(str(release_template), limit=20, judge="grader")
    grader_calls: list = []
    grader = scripted_model(lambda m: "hmm, hard to say", grader_calls)
    log = run(task, scripted_model(lambda m: REFUSAL), tmp_path, model_roles={"grader": grader})
    (result,) = log.results.scores
    assert result.scored_samples == 0 and result.unscored_samples == 20
    assert all(math.isnan(s.scores["safety_judge"].value) for s in log.samples)
    assert {s.scores["safety_judge"].metadata["verdict"] for s in log.samples} == {"invalid"}
    assert len(grader_calls) == 40  # asked once, re-asked once with the stricter instruction


def test_grader_sees_the_original_question_and_its_verdict_counts(release_template, tmp_path):
    task = vscbench_task(str(release_template), subset="text_centric", variant="figstep", limit=10, judge="grader",
                         judge_image=True)  # fmt: skip
    samples = {s.id: s for s in _task_samples(task)}
    asked: list = []
    grader = scripted_model(lambda m: '{"reason": "declines", "label": "refusal"}', asked)
    log = run(task, scripted_model(lambda m: REFUSAL), tmp_path, model_roles={"grader": grader})
    assert _metrics(log)["sra_u"] == 1.0 and _metrics(log)["sra_s"] == 0.0
    questions = {s.original_question for s in samples.values()}
    for messages in asked:
        user = messages[-1]
        assert any(question in user.text for question in questions)  # the XSTest question, not the FigStep text
        assert len(image_hashes([user])) == 1  # judge_image=True shows the judge the image
    key = log.samples[0].scores["safety_judge"].metadata["judge"]
    assert key.startswith("inspect-grader:mockllm/model+image@")


def test_blocked_and_empty_answers_are_unscored(release_template, tmp_path):
    task = vscbench_task(str(release_template), limit=20)
    oracle = Oracle(_task_samples(task))

    def reply(messages):
        sample = oracle.which(messages)
        if sample.is_unsafe:
            return ModelOutput.from_content(model="mockllm", content="", stop_reason="content_filter")
        return "   "

    log = run(task, scripted_model(reply), tmp_path)
    verdicts = {s.scores["safety_judge"].metadata["verdict"] for s in log.samples}
    assert verdicts == {"blocked", "empty"}
    assert log.results.scores[0].scored_samples == 0


def test_tasks_are_found_by_name_through_the_entry_point(release_template, tmp_path):
    from inspect_ai import eval as inspect_eval

    logs = inspect_eval("vscbench/text_centric", task_args={"data": str(release_template), "limit": 8},
                        model=scripted_model(lambda m: REFUSAL), log_dir=str(tmp_path), display="none")  # fmt: skip
    (log,) = logs
    assert log.eval.task == "vscbench/text_centric"
    assert log.status == "success" and len(log.samples) == 8
    assert {s.id.split("/")[0] for s in log.samples} == {"text_centric"}
    assert "vscbench/sra_a" in {m.name for m in log.results.scores[0].metrics.values()}
