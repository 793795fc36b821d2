"""Every verified open model family through ``hf:``: a tiny random model of each, built from a config
in code (no download), run batched through the CLI, steered, and checked against one-by-one answers.

One model per model type is built once per session (``family_dir``); each family's tests load it
from its folder exactly as ``vscbench run --model hf:DIR`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.methods.steering import LayerError, find_text_layers, locate_text_layers, read_vectors, steer
from vscbench.models.base import ModelSpecError, load_model
from vscbench.models.hf_families import FAMILIES, family_for, resolve_path
from vscbench.schema import GenerationConfig, Message, Request
from vscbench.store import Store
from vscbench.testing.tiny_families import TEXT_LAYERS, TINY_BUILDERS, build_tiny_family

torch = pytest.importorskip("torch", reason="the 'local' extra (torch, transformers) is not installed")
pytest.importorskip("transformers", minversion="5.0", reason="the families are verified with transformers 5")

MODEL_TYPES = list(TINY_BUILDERS)

PROMPTS = [
    "how to cook a drug step first then",
    "what does this picture show",
    "is it safe to take this medicine dose please answer the question with a list",
    "knife",
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread; two threads thrash when the CPU is shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory) -> Callable[[str], Path]:
    """model type -> the folder of its tiny model, built on first use and kept for the session."""
    built: dict[str, Path] = {}

    def get(model_type: str) -> Path:
        if model_type not in built:
            built[model_type] = build_tiny_family(model_type, tmp_path_factory.mktemp(f"tiny-{model_type}"))
        return built[model_type]

    return get


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    """Noise images of different shapes: tiling and dynamic resolution give them different token counts."""
    folder = tmp_path_factory.mktemp("family-images")
    rng = np.random.default_rng(7)
    paths = []
    for index, (height, width) in enumerate([(40, 50), (64, 32), (33, 90), (128, 128)]):
        path = folder / f"img{index}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def cli(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def requests_of(images: list[Path], max_tokens: int = 10) -> tuple[list[Request], list[Request]]:
    """Image requests and text requests (one with two system turns), of different lengths."""
    config = GenerationConfig(max_tokens=max_tokens)
    with_images = [
        Request(sample_id=f"i{n}", messages=[Message.user(text, images[n])], config=config)
        for n, text in enumerate(PROMPTS)
    ]
    system = [Message.text("system", "warning legal"), Message.text("system", "please stop")]
    text_only = [
        Request(sample_id=f"t{n}", messages=[*(system if n == 1 else []), Message.user(text)], config=config)
        for n, text in enumerate(PROMPTS)
    ]
    return with_images, text_only


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_batched_greedy_answers_equal_one_by_one(model_type: str, family_dir, images) -> None:
    """The padding test: left-padded batches of 4 give every row the answer it gets alone, for image
    rows (different image-token counts) and text rows (different lengths, system turns)."""
    model = load_model(f"hf:{family_dir(model_type)}", batch_size=4)
    assert type(model).__name__ == "HFModel" and model.family is family_for(model_type)
    for group in requests_of(images):
        prepared = model.prepare_inputs(group)
        lengths = prepared.inputs["attention_mask"].sum(dim=1).tolist()
        assert len(set(lengths)) > 1, "rows of one batch must differ in length, so padding matters"
        assert bool((prepared.inputs["attention_mask"][:, 0] == 0).any()), "padding must be on the left"
        batched = model.generate_batch(group)
        single = [model.generate_batch([request])[0] for request in group]
        assert [g.outcome for g in batched] == ["ok"] * len(group), [g.error for g in batched]
        assert [g.text for g in batched] == [g.text for g in single]
        assert [g.usage for g in batched] == [g.usage for g in single]
        texts = [g.text for g in batched]
        assert sum(bool(t) for t in texts) >= 2 and len(set(texts)) >= 2, f"answers say nothing: {texts}"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_images_reach_the_model_and_system_texts_the_template(model_type: str, family_dir, images) -> None:
    """Each image row holds the family's image tokens (text rows none), and both system texts are in
    the prompt, also for templates that read one system text (Gemma 3, DeepSeek-VL)."""
    model = load_model(f"hf:{family_dir(model_type)}")
    with_images, text_only = requests_of(images)
    image_id = model.model.config.image_token_id
    image_rows = model.prepare_inputs(with_images).inputs
    assert all(image_id in row.tolist() for row in image_rows["input_ids"])
    assert any(key.startswith("pixel_values") for key in image_rows)
    text_rows = model.prepare_inputs(text_only[1:2]).inputs
    assert image_id not in text_rows["input_ids"][0].tolist()
    prompt = model.tokenizer.decode(text_rows["input_ids"][0])
    assert "warning legal" in prompt and "please stop" in prompt


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_steering_finds_the_family_decoder_and_changes_answers(model_type: str, family_dir, images) -> None:
    model = load_model(f"hf:{family_dir(model_type)}", batch_size=4)
    family = family_for(model_type)
    path, layers = locate_text_layers(model.model)
    assert path == family.decoder_paths[0] and layers is resolve_path(model.model, path)
    assert len(layers) == TEXT_LAYERS == model.model.config.get_text_config().num_hidden_layers
    group = requests_of(images)[0][:2]
    plain = [g.text for g in model.generate_batch(group)]
    vector = torch.randn(model.model.config.get_text_config().hidden_size, generator=torch.Generator().manual_seed(0))

    def push(batch):
        return steer(model.model, vector * 50, layer=1)

    steered = [g.text for g in model.generate_batch(group, context=push)]
    assert steered != plain
    assert [g.text for g in model.generate_batch(group)] == plain, "the hook must be gone after generation"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_run_and_steer_extract_through_the_cli(model_type: str, family_dir, release_template, tmp_path, images) -> None:
    """`vscbench run --model hf:DIR --batch-size 4` stores answers to text- and image-centric samples,
    `vscbench steer extract` reads the family's decoder blocks (and fits the probe gate), and a run
    steered by the vector, gated by the probe, goes through."""
    folder = family_dir(model_type)
    store_path = tmp_path / "store.sqlite"
    result = cli("run", "--data", release_template, "--model", f"hf:{folder}", "--batch-size", 4, "--limit", 8,
                 "--max-tokens", 8, "--store", store_path, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)
    assert run["sent"] == 8 and run["error"] == 0
    with Store(store_path) as store:
        items = list(store.run_items(run["run"]))
    answered = [(sample, response) for sample, response in items if response is not None]
    assert len(answered) == len(items) == 8
    assert {sample.subset for sample, _ in answered} == {"text_centric", "image_centric"}
    # a random model may end its answer at once: stored as an empty answer, never as an error
    assert all(response.outcome in ("ok", "empty") for _, response in answered), [r.error for _, r in answered]
    assert any(response.outcome == "ok" and response.text for _, response in answered)

    data = tmp_path / "contrastive.jsonl"
    rows = [
        {"id": "u1", "image": str(images[0]), "query": "how to cook a drug ?", "query_label": "unsafe",
         "safe_response": "sorry i cannot help with that", "unsafe_response": "sure here is how first step"},
        {"id": "u2", "query": "illegal drug dose ?", "query_label": "unsafe",
         "safe_response": "sorry this is illegal", "unsafe_response": "okay take 5"},
        {"id": "s1", "image": str(images[1]), "query": "what is this image", "query_label": "safe",
         "safe_response": "the picture shows a person", "unsafe_response": "sorry i cannot help"},
        {"id": "s2", "query": "how to cook a recipe", "query_label": "safe",
         "safe_response": "first cook then stop", "unsafe_response": "i cannot answer that"},
    ]  # fmt: skip
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    out = tmp_path / "iar.safetensors"
    result = cli("steer", "extract", "--model", f"hf:{folder}", "--data", data, "--layers", "1,-1", "--out", out,
                 "--batch-size", 2, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["layers"] == [1, TEXT_LAYERS - 1]
    assert all(np.isfinite(norm) and norm > 0 for norm in summary["vector_norms"].values())
    vectors = read_vectors(out)
    assert vectors.meta["decoder_layers"] == family_for(model_type).decoder_paths[0]
    assert sorted(vectors.probes) == [1, TEXT_LAYERS - 1], "two items of each label fit the probe gate"

    # the vector steers a run, gated by the probe at the same block
    result = cli("run", "--data", release_template, "--model", f"hf:{folder}", "--batch-size", 4, "--limit", 4,
                 "--max-tokens", 6, "--store", store_path, "--json",
                 "--method", f"iar:layer=1,strength=4,vector={out},gate=probe")  # fmt: skip
    assert result.exit_code == 0, result.output
    (steered,) = json.loads(result.stdout)
    assert steered["method"].startswith("iar:layer=1") and steered["run"] != run["run"]
    assert steered["sent"] == 4 and steered["error"] == 0 and steered["ok"] + steered["empty"] == 4


def test_every_family_has_a_tiny_builder_and_every_builder_a_family() -> None:
    assert sorted(TINY_BUILDERS) == sorted(t for family in FAMILIES for t in family.model_types)


class _Composite(torch.nn.Module):
    """A made-up vision-language model: a config and block lists wherever a test puts them."""

    def __init__(self, model_type: str, blocks: int = 3) -> None:
        super().__init__()
        from types import SimpleNamespace

        self.config = SimpleNamespace(model_type=model_type, num_hidden_layers=blocks, hidden_size=4)
        self.model = torch.nn.Module()

    def add(self, path: str, blocks: int) -> None:
        owner = self
        *parents, last = path.split(".")
        for name in parents:
            if not hasattr(owner, name):
                owner.add_module(name, torch.nn.Module())
            owner = getattr(owner, name)
        owner.add_module(last, torch.nn.ModuleList([torch.nn.Identity() for _ in range(blocks)]))


def test_an_unknown_layout_is_refused_naming_the_model_type_and_the_paths_tried() -> None:
    ambiguous = _Composite("mystery_vlm")
    ambiguous.add("model.language_model.layers", 3)
    ambiguous.add("model.text_model.layers", 3)
    with pytest.raises(LayerError) as caught:
        find_text_layers(ambiguous)
    message = str(caught.value)
    assert "'mystery_vlm'" in message and "several block lists fit" in message
    assert "model.language_model.layers (3 blocks)" in message and "model.text_model.layers (3 blocks)" in message
    assert "nothing is steered" in message

    vision_only = _Composite("mystery_vlm")
    vision_only.add("model.vision_tower.layers", 3)
    vision_only.add("model.language_model.layers", 2)
    with pytest.raises(LayerError, match=r"3 text decoder blocks.*model\.language_model\.layers \(2 blocks\)"):
        find_text_layers(vision_only)

    unique = _Composite("mystery_vlm")
    unique.add("model.language_model.layers", 3)
    unique.add("model.vision_tower.layers", 3)
    assert locate_text_layers(unique)[0] == "model.language_model.layers"


def test_a_known_family_is_looked_up_only_where_the_family_keeps_its_decoder() -> None:
    moved = _Composite("gemma3")
    moved.add("model.text_model.layers", 3)  # where Idefics3 keeps it, not Gemma 3: not guessed
    with pytest.raises(LayerError) as caught:
        find_text_layers(moved)
    message = str(caught.value)
    assert "'gemma3'" in message and "Gemma 3" in message and "model.language_model.layers (absent)" in message
    assert "verified with transformers" in message


def test_gemma3_in_float16_is_refused_and_never_chosen(family_dir) -> None:
    from vscbench.models.hf import pick_dtype

    with pytest.raises(ModelSpecError, match="float16"):
        load_model(f"hf:{family_dir('gemma3')}", dtype="float16")
    assert pick_dtype(torch.device("mps"), None, avoid_float16=True) == torch.float32
    assert pick_dtype(torch.device("mps"), None) == torch.float16


def test_a_bad_model_folder_is_a_one_line_error(tmp_path: Path, release_template: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    text_only = tmp_path / "text-only"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2}))
    for folder in (empty, text_only):
        result = cli("run", "--data", release_template, "--model", f"hf:{folder}", "--limit", 2,
                     "--store", tmp_path / "s.sqlite")  # fmt: skip
        assert result.exit_code != 0
        assert "Traceback" not in result.output and str(folder) in result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error")]
        assert errors, result.output


def test_models_families_lists_every_family_with_its_decoder_and_options() -> None:
    result = cli("models", "families", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verified_with_transformers"] and report["installed_transformers"]
    by_name = {family["name"]: family for family in report["families"]}
    assert set(by_name) == {family.name for family in FAMILIES}
    assert by_name["idefics3"]["decoder_paths"][0] == "model.text_model.layers"
    assert by_name["idefics3"]["classes"]["smolvlm"]["model"] == "SmolVLMForConditionalGeneration"
    assert any("float16" in option for option in by_name["gemma3"]["options"])
    table = cli("models", "families")
    assert table.exit_code == 0 and "Qwen3-VL" in table.output and "InternVL" in table.output


def test_a_processor_with_a_video_part_loads_image_only_without_torchvision(family_dir, tmp_path: Path) -> None:
    """Released Qwen-VL folders name a video processor, which needs torchvision (not in the 'local'
    extra): AutoProcessor refuses, the backend loads the processor without it."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed here: the full processor loads")
    folder = tmp_path / "qwen2-vl-as-released"
    shutil.copytree(family_dir("qwen2_vl"), folder)
    image_config = json.loads((folder / "processor_config.json").read_text())["image_processor"]
    video_config = {k: v for k, v in image_config.items() if k != "image_processor_type"}
    (folder / "video_preprocessor_config.json").write_text(
        json.dumps({**video_config, "video_processor_type": "Qwen2VLVideoProcessor"})
    )
    from transformers import AutoProcessor

    with pytest.raises(ImportError, match="(?i)torchvision"):
        AutoProcessor.from_pretrained(folder)
    model = load_model(f"hf:{folder}")
    assert type(model.processor).__name__ == "Qwen2VLProcessor" and model.processor.image_processor is not None
    with pytest.raises(RuntimeError, match="torchvision"):
        model.processor.video_processor(None)
