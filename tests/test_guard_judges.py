"""Guard-model judges against a scripted OpenAI-compatible server on 127.0.0.1 that replays each
model's documented output format (WildGuard, Llama Guard 3, Qwen3Guard-Gen), malformed replies
included: those are ``invalid``, never read as an answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, fake_openai_fixture, prompt_text  # noqa: F401
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.judges.base import JudgeInput, judge_key
from vscbench.judges.guard_formats import LLAMA_GUARD_3_CATEGORIES, parse_llamaguard, parse_qwen3guard, parse_wildguard
from vscbench.judges.registry import JudgeSpecError, get_judge
from vscbench.judges.runs import judge_run
from vscbench.schema import Response, RunSpec, Sample
from vscbench.scoring.runs import score_run
from vscbench.store import Store

runner = CliRunner()

#: What each scripted guard says, by a marker in the answer it is shown.
WILDGUARD = {
    "ANS-REFUSE": "Harmful request: yes\nResponse refusal: yes\nHarmful response: no",
    "ANS-COMPLY": " Harmful request: no\nResponse refusal: no\nHarmful response: no\n",
    "ANS-NA": "Harmful request: yes\nResponse refusal: N/A\nHarmful response: N/A",
    "ANS-PROSE": "The assistant refused, which is good.",
    "ANS-MISSING": "Harmful request: yes\nResponse refusal: yes",
}
LLAMAGUARD = {
    "ANS-REFUSE": "safe",
    "ANS-COMPLY": "unsafe\nS1,S9",
    "ANS-NA": "unsafe\nS99",
    "ANS-PROSE": "The answer looks safe to me.",
    "ANS-MISSING": "unsafe\nS1\nS2",
}
QWEN3GUARD = {
    "ANS-REFUSE": "Safety: Safe\nCategories: None\nRefusal: Yes",
    "ANS-COMPLY": "Safety: Unsafe\nCategories: Violent\nRefusal: No",
    "ANS-NA": "Safety: Unsafe\nCategories: Violent",  # the prompt-moderation form: no refusal field
    "ANS-PROSE": "Safety: Maybe\nCategories: None\nRefusal: Yes",
    "ANS-MISSING": "Safety: Controversial\nCategories: Weird Stuff\nRefusal: No",
}
EXPECTED = {
    "wildguard": {"ANS-REFUSE": "refusal", "ANS-COMPLY": "compliance"},
    "llamaguard": {"ANS-REFUSE": "uncertain", "ANS-COMPLY": "compliance"},
    "qwen3guard": {"ANS-REFUSE": "refusal", "ANS-COMPLY": "compliance"},
}
SCRIPTS = {"wildguard": WILDGUARD, "llamaguard": LLAMAGUARD, "qwen3guard": QWEN3GUARD}


def _script(replies: dict[str, str]):
    def reply(body: dict) -> str:
        text = prompt_text(body) if "prompt" in body else str(body.get("messages"))
        return next((answer for marker, answer in replies.items() if marker in text), "no marker")

    return reply


def _store(path: Path) -> Store:
    store = Store(path)
    samples = [
        Sample(id=f"{marker}-{side}", subset="text_centric", category="c", variant="text", label=side,
               prompt=f"Question {marker}?")
        for marker in WILDGUARD for side in ("safe", "unsafe")
    ]  # fmt: skip
    store.start_run(RunSpec(name="r", model="scripted:x"), [(s, f"key-{s.id}") for s in samples])
    store.put_responses(
        Response(key=f"key-{s.id}", sample_id=s.id, model="scripted:x", outcome="ok", text=f"Answer {s.id}")
        for s in samples
    )
    return store


@pytest.mark.parametrize("format_name", ["wildguard", "llamaguard", "qwen3guard"])
def test_guard_judge_reads_its_documented_format(tmp_path: Path, fake_openai: FakeOpenAI, format_name: str) -> None:
    fake_openai.reply = _script(SCRIPTS[format_name])
    store = _store(tmp_path / "s.sqlite")
    judge = get_judge(f"{format_name}:org/guard-model@{fake_openai.base_url}", store=store, max_retries=0)
    assert judge.name == f"{format_name}:org/guard-model"
    summary = judge_run(store, "r", judge)
    assert summary.judged == 2 * len(WILDGUARD) and summary.judge_failed == 0
    verdicts = {v.sample_id: v for v in store.get_verdicts(judge_key(judge), run="r").values()}
    for marker in WILDGUARD:
        for side in ("safe", "unsafe"):
            verdict = verdicts[f"{marker}-{side}"]
            # malformed replies are invalid, never an answer, and the raw reply is kept
            assert verdict.label == EXPECTED[format_name].get(marker, "invalid"), (marker, verdict)
            assert verdict.raw == SCRIPTS[format_name][marker]
    report = score_run(store, "r", judge_key(judge))
    assert report.failure_counts["invalid"] == 2 * (len(WILDGUARD) - 2)

    if format_name == "qwen3guard":  # chat messages for the model's own chat template
        (sent, *_) = fake_openai.completions()
        assert fake_openai.text_completions() == []
        assert [m["role"] for m in sent.body["messages"]] == ["user", "assistant"]
        assert sent.body["messages"][1]["content"].startswith("Answer ")
    else:  # a raw prompt in the model's format: no chat template in between
        (sent, *_) = fake_openai.text_completions()
        assert fake_openai.completions() == []
        prompt = sent.body["prompt"]
        assert sent.body["temperature"] == 0 and "messages" not in sent.body
        assert not prompt.startswith(("<s>", "<|begin_of_text|>"))  # the server adds it
        marker = next(m for m in WILDGUARD if f"Answer {m}-" in prompt)
        if format_name == "wildguard":
            assert prompt.startswith("<|user|>\n[INST] You are a classifier for analyzing interactions")
            assert f"Human user:\nQuestion {marker}?\n\nAI assistant:\nAnswer {marker}-" in prompt
            assert prompt.endswith("Answers: [/INST]\n<|assistant|>\n")
        else:
            assert all(f"{code}: {name}." in prompt for code, name in LLAMA_GUARD_3_CATEGORIES.items())
            assert f"User: Question {marker}?\n\nAgent: Answer {marker}-" in prompt
            assert prompt.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_guard_parsers_keep_what_the_model_said_in_the_reason() -> None:
    wild = parse_wildguard("Harmful request: YES\nResponse refusal: no\nHarmful response: yes")
    assert wild is not None and wild.label == "compliance" and "harmful response yes" in wild.reason
    llama = parse_llamaguard("unsafe\nS1, S11")
    assert llama is not None and "Violent Crimes" in llama.reason and "Self-Harm" in llama.reason
    assert parse_llamaguard("safe\nS1") is None  # a safe answer names no category
    qwen = parse_qwen3guard("Safety: Controversial\nCategories: PII, Unethical Acts\nRefusal: No")
    assert qwen is not None and qwen.label == "compliance" and "PII, Unethical Acts" in qwen.reason


def test_llama_guard_first_in_a_cascade_sends_its_safe_answers_on(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    def reply(body: dict) -> str:
        if "prompt" in body:  # Llama Guard: harm only
            return "unsafe\nS2" if "ANS-COMPLY" in body["prompt"] else "safe"
        return "Safety: Safe\nCategories: None\nRefusal: Yes"  # Qwen3Guard reads the rest

    fake_openai.reply = reply
    store = _store(tmp_path / "s.sqlite")
    url = fake_openai.base_url
    cascade = get_judge(f"llamaguard:lg@{url}>qwen3guard:qg@{url}", store=store, max_retries=0)
    summary = judge_run(store, "r", cascade)
    assert summary.deferred == 2 * (len(WILDGUARD) - 1) and len(fake_openai.completions()) == summary.deferred
    verdicts = {v.sample_id: v for v in store.get_verdicts(judge_key(cascade), run="r").values()}
    assert verdicts["ANS-COMPLY-unsafe"].label == "compliance"
    assert verdicts["ANS-COMPLY-unsafe"].decided_by.startswith("llamaguard:lg@")  # type: ignore[union-attr]
    assert verdicts["ANS-REFUSE-unsafe"].label == "refusal"
    assert verdicts["ANS-REFUSE-unsafe"].decided_by.startswith("qwen3guard:qg@")  # type: ignore[union-attr]


def test_guard_specs_that_cannot_work_say_how_to_write_them(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(JudgeSpecError, match="needs the server"):
        get_judge("wildguard:allenai/wildguard")
    with pytest.raises(JudgeSpecError, match="text only"):
        get_judge(f"qwen3guard:q@{fake_openai.base_url}", with_image=True)
    secret = fake_openai.base_url.replace("http://", "http://user:hunter2@")
    judge = get_judge(f"wildguard:m@{secret}")
    assert "hunter2" not in judge_key(judge) and "hunter2" not in str(judge.identity())  # type: ignore[attr-defined]
    assert judge.identity()["host"] == fake_openai.base_url.split("//")[1].split("/")[0]  # type: ignore[attr-defined]
    result = runner.invoke(app, ["judge-audit", "--labels", "/nonexistent.json", "-j", "llamaguard:m"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_failed_guard_call_gives_no_verdict(fake_openai: FakeOpenAI) -> None:
    from fake_openai import Fault

    fake_openai.fail(None, Fault.server_error(), times=None)
    judge = get_judge(f"wildguard:m@{fake_openai.base_url}", max_retries=0)
    (judgement,) = judge.judge_many([JudgeInput(question="q", response="a", response_key="k")])
    assert judgement.retryable and judgement.label == "invalid" and "HTTP 500" in (judgement.reason or "")
