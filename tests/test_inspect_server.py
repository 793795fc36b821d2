"""An image-bearing VSCBench task through Inspect's OpenAI-compatible provider and a local server.

The server (tests/fake_openai.py) records every request, so the test checks what Inspect really
sent against what our own OpenAI backend sends for the same sample: the same text, the same
image bytes, the same generation settings. The API key must reach neither the log nor the store.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai", reason="the 'inspect' extra (inspect-ai) is not installed")

from fake_openai import FakeOpenAI, prompt_text
from inspect_ai.model import get_model

from inspect_fakes import REFUSAL, run
from vscbench.engine.requests import build_request
from vscbench.inspect import vscbench_task
from vscbench.inspect.log_import import import_log
from vscbench.inspect.messages import sample_from_metadata
from vscbench.judges.base import judge_key
from vscbench.judges.registry import get_judge
from vscbench.models.base import load_model
from vscbench.scoring.runs import score_run
from vscbench.store import Store

API_KEY = "sk-test-SECRET-inspect-0123456789"


def _parts(message: dict) -> list[tuple[str, object]]:
    """A chat message's content as (type, text or image bytes), whatever shape the client chose."""
    content = message["content"]
    if isinstance(content, str):
        return [("text", content)]
    out: list[tuple[str, object]] = []
    for part in content:
        if part["type"] == "text":
            out.append(("text", part["text"]))
        else:
            url = part["image_url"]["url"]
            out.append(("image", base64.b64decode(url.split(",", 1)[1])))
    return out


def test_inspect_sends_what_vscbench_run_sends(release_template, tmp_path):
    task = vscbench_task(str(release_template), subset="text_centric", variant="typography,text", limit=6)
    samples = {s.prompt: s for s in (sample_from_metadata(x.metadata) for x in task.dataset)}
    assert any(s.image_path is not None for s in samples.values())
    with FakeOpenAI(reply=lambda body: REFUSAL if "kill" in prompt_text(body) else "Here you go: ...") as fake:
        model = get_model("openai-api/fake/fake-model", base_url=fake.base_url, api_key=API_KEY, memoize=False)
        log = run(task, model, tmp_path / "logs")
        sent = [r.body for r in fake.completions()]
        ours = load_model(f"openai:fake-model@{fake.base_url}")
        assert log.status == "success" and len(sent) == 6
        for body in sent:
            sample = samples[prompt_text(body)]
            expected = asyncio.run(ours.request_body(build_request(sample)))
            assert [m["role"] for m in body["messages"]] == [m["role"] for m in expected["messages"]]
            assert [_parts(m) for m in body["messages"]] == [_parts(m) for m in expected["messages"]]
            assert body["max_tokens"] == expected["max_tokens"] == 512
            assert body["temperature"] == expected["temperature"] == 0.0
            assert body["seed"] == expected["seed"] == 0
        assert {r.headers["authorization"] for r in fake.completions()} == {f"Bearer {API_KEY}"}
    assert API_KEY.encode() not in Path(log.location).read_bytes()
    store_path = tmp_path / "store.sqlite"
    with Store(store_path) as store:
        (summary,) = import_log(store, log.location)
        assert summary.outcomes == {"ok": 6}
        report = score_run(store, summary.run, judge_key(get_judge("offline")))
        assert report.overall.n == 6
    assert API_KEY.encode() not in store_path.read_bytes()
