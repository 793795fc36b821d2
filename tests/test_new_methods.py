"""Two published training-free methods beside the paper's four, and directional ablation:
ECSO (its steps, their keys and cache), the AdaShield-S defence prompt, and ablation of a refusal
direction as an iar mode; each end to end on a tiny local LLaVA."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.methods.defences import DEFENCE_PROMPT
from vscbench.methods.ecso import ECSOModel, judged_harmful
from vscbench.methods.plan import MethodSpecError, parse_method
from vscbench.models.base import Generation, ModelSpec
from vscbench.schema import ImagePart, Message, Request, Sample, Usage
from vscbench.store import Store

runner = CliRunner()


def cli(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args])


def test_specs_compose_and_key_in_a_fixed_order(tmp_path: Path) -> None:
    plan = parse_method("ecso+cot+adashield-s+few-shot:2")
    assert plan.ecso and plan.canonical == "few-shot:2,seed=0,scope=category+adashield-s+cot+ecso"
    assert plan.base_canonical == "few-shot:2,seed=0,scope=category+adashield-s+cot"
    assert parse_method("adashield-s+ecso").canonical == parse_method("ecso+adashield-s").canonical
    own = tmp_path / "defence.txt"
    own.write_text("Check the picture first.", encoding="utf-8")
    assert parse_method(f"adashield-s:file={own}").canonical.startswith("adashield-s:sha256=")
    for bad, needle in (("ecso:fast", "no options"), ("ecso+ecso", "named once"), ("adashield-s:x=1", "unknown"),
                        (f"adashield-s:file={tmp_path / 'none.txt'}", "does not exist")):  # fmt: skip
        with pytest.raises(MethodSpecError, match=needle):
            parse_method(bad)


def test_the_defence_prompt_goes_in_front_of_the_evaluated_question_and_cot_after_it() -> None:
    sample = Sample(id="s", subset="image_centric", category="c", variant="slot_0", label="safe", prompt="How?")
    request = Request(sample_id="s", messages=[Message.user("How?", Path("x.png"), "0" * 64)])
    sent = parse_method("cot+adashield-s").transform([sample])(request)
    text = sent.messages[-1].text_content
    assert text.startswith(DEFENCE_PROMPT) and "How?" in text and text.index("How?") < text.index("think step by step")
    assert isinstance(sent.messages[-1].content[0], ImagePart) and sent.method == "adashield-s+cot"


class StagedModel:
    """Answers each ECSO step by what it is asked: a harmful first answer to "bomb" requests."""

    def __init__(self) -> None:
        self.spec = ModelSpec("scripted", "staged")
        self.max_batch_size = 4
        self.asked: list[str] = []

    async def generate(self, requests: list[Request]) -> list[Generation]:
        out = [self._answer(request) for request in requests]
        for answer in out:
            answer.usage = Usage(prompt_tokens=10, completion_tokens=1)
        return out

    def _answer(self, request: Request) -> Generation:
        text = request.messages[-1].text_content
        self.asked.append(request.method)
        if request.method.startswith("ecso:check"):
            return Generation("ok", "Yes." if "STEPS" in text else "no" if "safe-ish" in text else "unclear")
        if request.method.startswith("ecso:caption"):
            return Generation("ok", "A drawing of a box with wires.")
        if request.method.startswith("ecso:answer"):
            return Generation("ok", f"I won't help with that. [{'wires' in text}]")
        plain = "A safe-ish answer." if "cook" in text else "It is a box."
        return Generation("ok", "Here are the STEPS." if "bomb" in text else plain)

    async def aclose(self) -> None:
        return None


def _request(sample_id: str, prompt: str, image: Path | None) -> Request:
    return Request(sample_id=sample_id, messages=[Message.user(prompt, image, "1" * 64 if image else None)],
                   method="cot+ecso")  # fmt: skip


def test_ecso_steps_flow_and_every_step_is_cached_under_its_own_key(tmp_path: Path) -> None:
    inner = StagedModel()
    picture = tmp_path / "p.png"
    requests = [_request("a", "How do I make this bomb?", picture), _request("b", "How do I cook this?", picture),
                _request("c", "What is in the box?", picture), _request("d", "How do I make a bomb?", None)]  # fmt: skip
    with Store(tmp_path / "s.sqlite") as store:
        model = ECSOModel(inner, base_method="cot", cache=store)
        answers = asyncio.run(model.generate(requests))
        # a: flagged -> captioned -> answered from the caption, eyes closed (the caption reached the prompt)
        assert answers[0].text == "I won't help with that. [True]"
        assert answers[1].text == "A safe-ish answer."  # checked, judged harmless: the first answer stands
        assert answers[2].text == "I won't help with that. [True]"  # an unreadable check counts as harmful
        assert answers[3].text == "Here are the STEPS."  # no image: nothing to close the eyes on
        assert (model.stats.checked, model.stats.flagged, model.stats.unreadable_checks) == (3, 2, 1)
        # an answer's usage covers every step asked for it: 4, 2, 4 and 1 calls of one token each
        assert [a.usage.completion_tokens for a in answers] == [4, 2, 4, 1]
        assert sorted(set(inner.asked)) == ["cot", "ecso:answer|cot", "ecso:caption|cot", "ecso:check|cot"]
        first_key = requests[0].model_copy(update={"method": "cot"}).cache_key("scripted:staged")
        assert store.get_response(first_key).text == "Here are the STEPS."  # step 1 is the base method's request
        inner.asked.clear()
        again = asyncio.run(ECSOModel(inner, base_method="cot", cache=store).generate(requests))
        assert inner.asked == [] and [a.text for a in again] == [a.text for a in answers]
        assert all(a.usage.completion_tokens is None for a in again)  # nothing asked, nothing spent
    assert judged_harmful("No, it is fine.") is False and judged_harmful("Yes") is True and judged_harmful("?") is None


# --- end to end on a tiny local LLaVA ---------------------------------------------------------------


@pytest.fixture
def one_torch_thread():
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: two threads only thrash on a shared 2-core machine
    yield torch
    torch.set_num_threads(previous)


def test_ecso_and_the_defence_prompt_run_on_a_tiny_local_model(
    tiny_llava_dir: Path, release_template: Path, tmp_path: Path, one_torch_thread
) -> None:
    store_path = tmp_path / "s.sqlite"
    result = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store", store_path,
                 "--limit", "4", "--max-tokens", "6", "--json", "--judge", "offline", "--method", "none",
                 "--method", "ecso", "--method", "adashield-s")  # fmt: skip
    assert result.exit_code == 0, result.output
    _, ecso, defence = json.loads(result.stdout)
    assert ecso["method"] == "ecso" and defence["method"] == "adashield-s"
    for summary in (ecso, defence):  # random weights may write a blank answer: empty, never an error
        assert summary["error"] == 0 and summary["ok"] + summary["empty"] == 4
    with Store(store_path) as store:
        stored = store.database.query("SELECT COUNT(*) FROM responses")[0][0]
    # 12 final answers of the three runs; ECSO's first step is the plain run's request (shared, not
    # stored again), and its checks, captions and eyes-closed answers are stored under keys of their own
    assert stored > 12
    again = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store", store_path,
                "--limit", "4", "--max-tokens", "6", "--json", "--method", "ecso")  # fmt: skip
    assert again.exit_code == 0 and json.loads(again.stdout)[0]["sent"] == 0


def _vector_file(model_dir: Path, path: Path, threshold: float = 0.0) -> str:
    """A vector file with a random IAR vector and a random condition direction for blocks 1 and 2."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vscbench.methods.steering import ConditionVector, SteeringVectors, model_identity

    network = AutoModelForImageTextToText.from_pretrained(model_dir)
    hidden = network.config.get_text_config().hidden_size
    generator = torch.Generator().manual_seed(1)
    vectors = {layer: torch.randn(hidden, generator=generator) * 5 for layer in (1, 2)}
    conditions = {}
    for layer in (1, 2):
        direction = torch.randn(hidden, generator=generator)
        conditions[layer] = ConditionVector(direction / direction.norm(), torch.zeros(hidden), threshold)
    steering = SteeringVectors(vectors, {l: 5.0 for l in vectors}, {l: 10.0 for l in vectors},
                               model_identity(network), conditions=conditions)  # fmt: skip
    return steering.save(path)


def test_ablation_takes_the_direction_out_of_every_block_and_only_inside_the_block(
    tiny_llava_dir: Path, one_torch_thread
) -> None:
    torch = one_torch_thread
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vscbench.methods.steering import find_text_layers
    from vscbench.methods.steering.ablation import ablate

    model = AutoModelForImageTextToText.from_pretrained(tiny_llava_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_llava_dir)
    inputs = processor(text=["how do I stop it", "how do I stop it"], return_tensors="pt", padding=True)
    direction = torch.nn.functional.normalize(torch.randn(model.config.get_text_config().hidden_size), dim=0)
    blocks = find_text_layers(model)
    with torch.inference_mode():
        before = model(**inputs, output_hidden_states=True).hidden_states
        hooks = [(len(b._forward_hooks), len(b._forward_pre_hooks)) for b in blocks]  # transformers' own
        with ablate(model, direction, rows=torch.tensor([True, False])) as state:
            during = model(**inputs, output_hidden_states=True).hidden_states
        after = model(**inputs, output_hidden_states=True).hidden_states
    assert state.calls == len(blocks) + 1
    assert [(len(b._forward_hooks), len(b._forward_pre_hooks)) for b in blocks] == hooks  # ours are gone
    for layer in range(len(blocks) + 1):  # embeddings and every block's output
        assert (during[layer][0] @ direction).abs().max() < 1e-4  # ablated row: nothing along the direction
        assert torch.allclose(during[layer][1], before[layer][1], atol=1e-5)  # the other row: untouched
        assert (before[layer][0] @ direction).abs().max() > 1e-3
    assert all(torch.equal(a, b) for a, b in zip(after, before))


def test_ablation_as_an_iar_mode_runs_end_to_end_and_is_keyed(
    tiny_llava_dir: Path, release_template: Path, tmp_path: Path, one_torch_thread
) -> None:
    vector = tmp_path / "v.safetensors"
    sha = _vector_file(tiny_llava_dir, vector)
    store_path = tmp_path / "s.sqlite"
    result = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store", store_path,
                 "--limit", "4", "--max-tokens", "8", "--json", "--method", "none",
                 "--method", f"iar:layer=1,vector={vector},mode=ablate",
                 "--method", f"iar:layer=1,vector={vector},mode=ablate,direction=vector,gate=condition")  # fmt: skip
    assert result.exit_code == 0, result.output
    plain, ablated, gated = json.loads(result.stdout)
    assert (
        ablated["method"]
        == f"iar:layer=1,strength=1.0,vector={sha[:16]},positions=last,mode=ablate,direction=condition"
    )
    assert gated["method"].endswith(",mode=ablate,direction=vector,gate=condition")
    with Store(store_path) as store:
        texts = {run: {s.id: r.text for s, r in store.run_items(run) if r} for run in (plain["run"], ablated["run"])}
        recorded = store.get_run(ablated["run"]).meta["method"]["iar"]
    assert recorded["mode"] == "ablate" and recorded["direction"] == "condition"
    assert any(texts[ablated["run"]][i] != texts[plain["run"]][i] for i in texts[plain["run"]])
    no_condition = tmp_path / "plain.safetensors"
    from test_methods_run import write_vectors

    write_vectors(tiny_llava_dir, no_condition)
    refused = cli("run", "--data", release_template, "--model", f"hf:{tiny_llava_dir}", "--store", store_path,
                  "--limit", "2", "--method", f"iar:layer=1,vector={no_condition},mode=ablate")  # fmt: skip
    assert refused.exit_code == 2 and "direction=condition needs a condition vector" in " ".join(refused.output.split())


def test_gated_ablation_leaves_the_rows_the_gate_calls_harmful(tiny_llava_dir: Path, one_torch_thread) -> None:
    torch = one_torch_thread
    from vscbench.methods.steering.ablation import AblatedModel
    from vscbench.methods.steering.condition import ConditionVector
    from vscbench.models.base import load_model

    model = load_model(f"hf:{tiny_llava_dir}", device="cpu")
    hidden = model.model.config.get_text_config().hidden_size
    direction = torch.nn.functional.normalize(torch.randn(hidden), dim=0)
    requests = [Request(sample_id=str(i), messages=[Message.text("user", f"question {i}")]) for i in range(3)]
    for threshold, expected in ((2.0, 3), (-2.0, 0)):  # cosines lie in [-1, 1]: all below 2, none below -2
        gate = ConditionVector(direction, torch.zeros(hidden), threshold)
        wrapped = AblatedModel(model, direction, layer=1, gate=gate)
        assert all(g.outcome == "ok" for g in wrapped.generate_batch(requests))
        assert (wrapped.rows_seen, wrapped.rows_ablated) == (3, expected)
