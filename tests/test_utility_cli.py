"""`vscbench utility` and `run_utility`: fixture datasets in the published POPE and ScienceQA
schemas, a fake OpenAI server with scripted replies, and figures checked by hand."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fake_openai import FakeOpenAI, Fault, fake_openai_fixture, prompt_text  # noqa: F401  (fixture)
from PIL import Image
from typer.testing import CliRunner

from vscbench.benchmarks.utility.loader import HUB_DEFAULTS
from vscbench.benchmarks.utility.prompts import POPE_INSTRUCTION, SCIENCEQA_INSTRUCTION
from vscbench.cli import app
from vscbench.methods.prompting import COT_INSTRUCTION
from vscbench.store import Store
from vscbench.workflows.tradeoff import score_utility_run
from vscbench.workflows.utility import run_utility


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGES = [png((200, 10, 10)), png((10, 200, 10)), png((10, 10, 200))]

#: (category, question_id, object, gold, scripted reply) -> hand count below.
POPE_CASES = [
    ("random", "1", "dog", "yes", "Yes."),  # TP
    ("random", "2", "cat", "yes", "No, there isn't."),  # FN
    ("random", "3", "car", "no", "No, there isn't."),  # TN
    ("random", "4", "bus", "no", "Yes."),  # FP
    ("random", "5", "cup", "yes", "Yes."),  # TP
    ("adversarial", "1", "fork", "yes", "Yes."),  # TP
    ("adversarial", "2", "kite", "yes", "It is a picture of a kitchen."),  # FN, unextractable
    ("adversarial", "3", "sink", "no", "No, there isn't."),  # TN
    ("adversarial", "4", "vase", "no", "No"),  # TN
]
# Overall TP 3, FP 1, FN 2, TN 3 (n 9): accuracy 6/9, precision 3/4, recall 3/5, F1 6/9, yes 4/9.
# random: TP 2, FP 1, FN 1, TN 1: accuracy 3/5, precision 2/3, recall 2/3, yes 3/5.
# adversarial: TP 1, FN 1, TN 2: accuracy 3/4, precision 1, recall 1/2, F1 2/3, yes 1/4.

#: (question, choices, gold index, subject, has image, scripted reply)
SCIENCEQA_CASES = [
    ("What is 6 times 7?", ["41", "42", "43"], 1, "natural science", True, "(B)"),  # correct
    ("Which one is warm?", ["fire", "ice"], 0, "natural science", True, "The answer is B"),  # wrong
    ("Which letter is third?", ["x", "y", "z", "w"], 2, "social science", True, "The answer is C"),  # correct
    ("Which animal barks?", ["cat", "dog"], 1, "social science", True, "Hard to say."),  # unextractable
    ("A question without a picture?", ["a", "b"], 0, "language science", False, "(A)"),  # dropped: no image
    ("Which way is up?", ["up", "down"], 0, "natural science", True, "(A)"),  # correct
]
# Overall 3/5; natural science 2/3; social science 1/2; one unextractable.

REPLIES = {f"Is there a {obj} in the image?": reply for _, _, obj, _, reply in POPE_CASES}
REPLIES |= {question: reply for question, *_, reply in SCIENCEQA_CASES}


def scripted_reply(body: dict) -> str:
    text = prompt_text(body)
    for question, reply in REPLIES.items():
        if question in text:
            return reply
    return "unscripted question"


def pope_rows() -> list[dict]:
    return [
        {"id": str(i), "question_id": qid, "question": f"Is there a {obj} in the image?", "answer": gold,
         "image_source": f"COCO_{i}", "image": {"bytes": IMAGES[i % 3], "path": None}, "category": category}
        for i, (category, qid, obj, gold, _) in enumerate(POPE_CASES)
    ]  # fmt: skip


def write_pope(path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(pope_rows()), path)
    return path


def scienceqa_dataset():
    import datasets

    features = datasets.Features({
        "image": datasets.Image(), "question": datasets.Value("string"),
        "choices": datasets.Sequence(datasets.Value("string")), "answer": datasets.Value("int8"),
        "hint": datasets.Value("string"), "task": datasets.Value("string"), "grade": datasets.Value("string"),
        "subject": datasets.Value("string"), "topic": datasets.Value("string"),
    })  # fmt: skip
    columns = {
        "image": [
            {"bytes": IMAGES[i % 3], "path": None} if case[4] else None for i, case in enumerate(SCIENCEQA_CASES)
        ],
        "question": [case[0] for case in SCIENCEQA_CASES],
        "choices": [case[1] for case in SCIENCEQA_CASES],
        "answer": [case[2] for case in SCIENCEQA_CASES],
        "hint": [""] * len(SCIENCEQA_CASES),
        "task": ["closed choice"] * len(SCIENCEQA_CASES),
        "grade": ["grade4"] * len(SCIENCEQA_CASES),
        "subject": [case[3] for case in SCIENCEQA_CASES],
        "topic": ["t"] * len(SCIENCEQA_CASES),
    }
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(columns, features=features)})


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.reply = scripted_reply
    return fake_openai


@pytest.fixture(autouse=True)
def image_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "image-cache"
    monkeypatch.setenv("VSCBENCH_CACHE_DIR", str(cache))
    return cache


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_pope_cli_figures_by_hand_and_rerun_sends_nothing(tmp_path, fake):
    data = write_pope(tmp_path / "pope.parquet")
    store = tmp_path / "store.sqlite"
    model = f"openai:fake-vlm@{fake.base_url}"
    result = invoke(
        "utility", "--benchmark", "pope", "--model", model, "--data", str(data), "--store", str(store), "--json"
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)

    sent = fake.completions()
    assert len(sent) == 9 and payload["summary"]["sent"] == 9 and payload["summary"]["ok"] == 9
    assert all(len(r.image_urls) == 1 and r.prompt.endswith(POPE_INSTRUCTION) for r in sent)
    overall = payload["scores"]["benchmarks"]["pope"]["overall"]
    cells = (overall["true_positive"], overall["false_positive"], overall["false_negative"], overall["true_negative"])
    assert cells == (3, 1, 2, 3) and overall["n"] == 9
    assert overall["accuracy"]["value"] == pytest.approx(6 / 9)
    assert overall["precision"]["value"] == pytest.approx(3 / 4)
    assert overall["recall"]["value"] == pytest.approx(3 / 5)
    assert overall["f1"]["value"] == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    assert overall["yes_ratio"]["value"] == pytest.approx(4 / 9)
    assert overall["accuracy"]["low"] < 6 / 9 < overall["accuracy"]["high"]
    by_category = payload["scores"]["benchmarks"]["pope"]["by_category"]
    assert by_category["random"]["accuracy"]["value"] == pytest.approx(3 / 5)
    assert by_category["random"]["precision"]["value"] == pytest.approx(2 / 3)
    assert by_category["random"]["yes_ratio"]["value"] == pytest.approx(3 / 5)
    assert by_category["adversarial"]["recall"]["value"] == pytest.approx(1 / 2)
    assert by_category["adversarial"]["f1"]["value"] == pytest.approx(2 / 3)
    assert by_category["adversarial"]["yes_ratio"]["value"] == pytest.approx(1 / 4)
    assert payload["scores"]["unextractable"] == 1
    assert payload["scores"]["unextractable_examples"] == [
        {"sample_id": "pope/adversarial/2", "reply": "It is a picture of a kitchen."}
    ]
    run = payload["run"]
    assert run == "fake-vlm-pope"

    fake.requests.clear()
    again = invoke("utility", "--benchmark", "pope", "--model", model, "--data", str(data), "--store", str(store))
    assert again.exit_code == 0, again.output
    assert fake.completions() == []  # everything came from the store
    text = " ".join(again.stdout.split())
    assert "sent 0, cached 9" in text
    assert "POPE" in text and "adversarial" in text and "66.7%" in text
    assert "unextractable replies (counted wrong): 1" in text and "picture of a kitchen" in text

    with Store(store) as opened:
        spec = opened.get_run(run)
        rescored = score_utility_run(opened, run)
    assert spec.benchmark == "pope" and spec.method == "none" and spec.data == str(data)
    assert spec.meta["experiment"]["selection"]["benchmark"] == "pope" and payload["source"]["kind"] == "parquet"
    assert rescored.to_dict() == payload["scores"]
    # the experiment stored with the run re-creates it: same samples, same keys, nothing to send
    from vscbench.experiment import Experiment, run_experiment

    with Store(store) as opened:
        recorded = Experiment.from_run(opened, run)
    replay = run_experiment(recorded, dry_run=True).runs[0]
    assert (replay.run, replay.summary["cached"], replay.summary["would_send"]) == (run, 9, 0)


def test_scienceqa_saved_dataset_scored_by_subject_and_rescored_without_data(tmp_path, fake):
    folder = tmp_path / "sqa"
    scienceqa_dataset().save_to_disk(str(folder))
    with Store(tmp_path / "store.sqlite") as store:
        result = run_utility("scienceqa", f"openai:fake-vlm@{fake.base_url}", store, data=folder)
        report = result.report.scienceqa
        assert result.summary.samples == 5 and result.source.rows_without_image == 1
        assert report.overall.correct == 3 and report.overall.n == 5
        assert report.overall.accuracy.value == pytest.approx(3 / 5)
        assert report.groups["natural science"].accuracy.value == pytest.approx(2 / 3)
        assert report.groups["social science"].accuracy.value == pytest.approx(1 / 2)
        assert "language science" not in report.groups  # its only question has no image
        assert result.report.unextractable_examples == [{"sample_id": "scienceqa/3", "reply": "Hard to say."}]
        assert all(r.prompt.endswith(SCIENCEQA_INSTRUCTION) for r in fake.completions())

        shutil.rmtree(folder)  # the store alone is enough to score again
        assert score_utility_run(store, result.run).to_dict() == result.report.to_dict()


def test_failed_calls_count_as_no_response_and_are_retried(tmp_path, fake):
    fake.fail("Is there a dog", Fault.server_error(), times=None)
    data = write_pope(tmp_path / "pope.parquet")
    model = f"openai:fake-vlm@{fake.base_url}"
    with Store(tmp_path / "store.sqlite") as store:
        first = run_utility("pope", model, store, data=data, model_options={"max_retries": 0})
        assert first.summary.error == 1 and first.report.no_response_ids == ["pope/random/1"]
        assert first.report.pope.overall.true_positive == 2  # the failed "yes" question is a miss
        fake.clear()
        second = run_utility("pope", model, store, data=data, model_options={"max_retries": 0})
    assert [r.prompt.splitlines()[0] for r in fake.completions()] == ["Is there a dog in the image?"]
    assert second.summary.sent == 1 and second.report.no_response_ids == []
    assert second.report.pope.overall.true_positive == 3


def test_run_spec_records_pinned_hub_dataset_and_method(tmp_path, fake, monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return datasets.Dataset.from_list(pope_rows()[:4])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    pinned = HUB_DEFAULTS["pope"]
    with Store(tmp_path / "store.sqlite") as store:
        result = run_utility("pope", f"openai:fake-vlm@{fake.base_url}", store, method="cot")
        spec = store.get_run(result.run)
    assert calls == [(pinned.dataset_id, {"name": pinned.config, "split": pinned.split, "revision": pinned.revision})]
    options = spec.meta["experiment"]["selection"]["benchmark_options"]  # what re-creates the data exactly
    assert (options["dataset_id"], options["revision"], options["split"]) == ("lmms-lab/POPE", pinned.revision, "test")
    assert spec.benchmark == "pope" and spec.method == "cot" and spec.meta["method"]["canonical"] == "cot"
    assert result.run == "fake-vlm-pope-cot"
    sent = fake.completions()
    assert len(sent) == 4 and all(POPE_INSTRUCTION in r.prompt and r.prompt.endswith(COT_INSTRUCTION) for r in sent)

    store_path = tmp_path / "cli.sqlite"
    cli = invoke("utility", "-b", "pope", "--model", f"openai:fake-vlm@{fake.base_url}", "--dataset-id", "me/pope",
                 "--revision", "abc123", "--split", "val", "--store", str(store_path), "--json")  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert calls[-1] == ("me/pope", {"name": None, "split": "val", "revision": "abc123"})
    with Store(store_path) as store:
        options = store.get_run(json.loads(cli.stdout)["run"]).meta["experiment"]["selection"]["benchmark_options"]
    assert (options["dataset_id"], options["revision"], options["split"]) == ("me/pope", "abc123", "val")
    assert json.loads(cli.stdout)["source"]["kind"] == "hub"


def test_bad_input_gives_clear_errors(tmp_path, fake):
    data = write_pope(tmp_path / "pope.parquet")
    store = str(tmp_path / "store.sqlite")
    model = f"openai:fake-vlm@{fake.base_url}"

    unknown = invoke("utility", "--benchmark", "mmlu", "--model", model, "--data", str(data), "--store", store)
    assert unknown.exit_code == 2 and "'mmlu' is not one of pope, scienceqa" in unknown.output
    missing = invoke(
        "utility", "-b", "pope", "--model", model, "--data", str(tmp_path / "absent.parquet"), "--store", store
    )
    assert missing.exit_code == 2 and "absent.parquet does not exist" in missing.output
    method = invoke(
        "utility", "-b", "pope", "--model", model, "--data", str(data), "--method", "pray", "--store", store
    )
    assert method.exit_code == 2 and "unknown prompting method 'pray'" in method.output
    few_shot = invoke(
        "utility", "-b", "pope", "--model", model, "--data", str(data), "--method", "few-shot:1", "--store", store
    )
    assert few_shot.exit_code == 2 and "few-shot" in few_shot.output and "safe/unsafe pairs" in few_shot.output
    bad_model = invoke("utility", "-b", "pope", "--model", "gpt4", "--data", str(data), "--store", store)
    assert bad_model.exit_code == 2 and "PROVIDER:MODEL" in bad_model.output
    schema = tmp_path / "wrong.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "q", "image": None}]), schema)
    wrong = invoke("utility", "-b", "pope", "--model", model, "--data", str(schema), "--store", store)
    assert wrong.exit_code == 2 and "wrong.parquet lacks column(s)" in wrong.output
    assert fake.completions() == []  # nothing was sent for any bad command
