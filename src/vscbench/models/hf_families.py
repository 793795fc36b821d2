"""How each open vision-language model family differs, in one table, for the ``hf:`` backend and steering.

transformers has a native class for every family the paper evaluates and for the ones people
evaluate now, and the processor plus chat template of a checkpoint already do most of the
family-specific work (image placement, image-token expansion). What is left differs per family
and is written here once, as data, instead of as branches in the backend:

- where the language model's decoder blocks sit (steering hooks one of them);
- how a system prompt is accepted (some templates read only the first text part of it);
- which processors carry a video processor (it needs torchvision, which an image benchmark does
  not: such processors are loaded image-only when torchvision is missing) and which need a
  package only for videos (SmolVLM's ``num2words``);
- dtypes a family cannot run in (Gemma 3 overflows in float16);
- the ``-M`` options worth knowing, and checkpoints in the native format.

:func:`family_for` maps a config's ``model_type`` to its :class:`Family`; a model type that is
not listed still runs through the generic path (its own processor and chat template).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass
from typing import Any, Literal

#: The transformers release the families below were verified with (tiny models in tests/test_hf_families.py).
VERIFIED_TRANSFORMERS = "5.25.0"

SystemStyle = Literal["turn", "one_text"]


@dataclass(frozen=True)
class Family:
    """One model family: what the backend and the steering code must know about it."""

    name: str
    title: str
    #: Config ``model_type`` values of the family; transformers maps each to its own model and processor class.
    model_types: tuple[str, ...]
    #: Dotted attribute paths from the loaded ``*ForConditionalGeneration`` to the text decoder's
    #: block list, current transformers first; only these are tried for a known family.
    decoder_paths: tuple[str, ...]
    #: The placeholder the chat template writes for an image; the processor expands it.
    image_token: str
    #: ``turn``: the template takes a system turn as is; ``one_text``: it reads only the first
    #: text part of the system message, so several system texts are joined into one part.
    system: SystemStyle = "turn"
    #: ``(module, name)`` of a dependency the processor needs only for videos; a stand-in that
    #: refuses videos is installed when the package is missing.
    video_only_imports: tuple[tuple[str, str], ...] = ()
    #: The family overflows in float16: ``auto`` picks float32 instead, an explicit float16 is refused.
    avoid_float16: bool = False
    #: ``-M`` options worth knowing for this family (none is required).
    options: tuple[str, ...] = ()
    #: Checkpoints in the native transformers format (what ``hf:`` loads without remote code).
    checkpoints: tuple[str, ...] = ()
    notes: str = ""
    #: Where the family ran on real weights, with the figures; empty: only its tiny random model
    #: (tests/test_hf_families.py) has run, on a CPU.
    real_weights: str = ""

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["video_only_imports"] = [f"{module}:{name}" for module, name in self.video_only_imports]
        return record


_LM = "model.language_model.layers"
_TILES = "--max-image-side (tiling: each tile adds image tokens)"
_PIXELS = "--max-image-side (dynamic resolution: tokens grow with pixels)"

FAMILIES: tuple[Family, ...] = (
    Family(
        "llava", "LLaVA-1.5", ("llava",),
        decoder_paths=(_LM, "language_model.model.layers"), image_token="<image>",
        checkpoints=("llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf"),
        notes="also VLGuard and SPA-VL (LLaVA-1.5 fine-tunes): their original-LLaVA weights need transformers' "
        "convert_llava_weights_to_hf.py first",
    ),
    Family(
        "llava_next", "LLaVA-NeXT", ("llava_next",),
        decoder_paths=(_LM, "language_model.model.layers"), image_token="<image>",
        options=(_TILES,), checkpoints=("llava-hf/llava-v1.6-mistral-7b-hf", "llava-hf/llava-v1.6-vicuna-7b-hf"),
        notes="anyres: the image is tiled on a grid of pinpoints, each tile adds its image tokens",
    ),
    Family(
        "llava_onevision", "LLaVA-OneVision", ("llava_onevision",),
        decoder_paths=(_LM, "language_model.model.layers"), image_token="<image>",
        options=(_TILES,), checkpoints=("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
        notes="anyres_max_9 tiling; the processor carries a video processor (loaded image-only without torchvision)",
    ),
    Family(
        "qwen2_vl", "Qwen2-VL", ("qwen2_vl",), decoder_paths=(_LM, "model.layers"), image_token="<|image_pad|>",
        options=(_PIXELS,), checkpoints=("Qwen/Qwen2-VL-7B-Instruct", "Qwen/Qwen2-VL-2B-Instruct"),
        notes="3-D (M-RoPE) positions; dynamic resolution; the released generation config adds a repetition "
        "penalty that greedy decoding keeps",
    ),
    Family(
        "qwen2_5_vl", "Qwen2.5-VL", ("qwen2_5_vl",), decoder_paths=(_LM,), image_token="<|image_pad|>",
        options=(_PIXELS,), checkpoints=("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct"),
        notes="window attention in the vision tower; otherwise as Qwen2-VL",
    ),
    Family(
        "qwen3_vl", "Qwen3-VL", ("qwen3_vl",), decoder_paths=(_LM,), image_token="<|image_pad|>",
        options=(_PIXELS,), checkpoints=("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-2B-Instruct"),
        notes="DeepStack adds vision features to the first text blocks' outputs; 32-px merged patches",
    ),
    Family(
        "internvl", "InternVL", ("internvl",), decoder_paths=(_LM,),
        image_token="<IMG_CONTEXT>", options=(_TILES,),
        checkpoints=("OpenGVLab/InternVL3-8B-hf", "OpenGVLab/InternVL3-1B-hf"),
        notes="the original OpenGVLab/InternVL* repos are remote code with their own chat(); use the -hf ones. "
        "Images are cut into 448-px crops (up to 12 and a thumbnail)",
    ),
    Family(
        "deepseek_vl", "DeepSeek-VL", ("deepseek_vl", "deepseek_vl_hybrid"),
        decoder_paths=(_LM,), image_token="<image_placeholder>", system="one_text",
        checkpoints=("deepseek-community/deepseek-vl-7b-chat", "deepseek-community/deepseek-vl-1.3b-chat"),
        notes="also the SAM + SigLIP hybrid (deepseek_vl_hybrid). The original deepseek-ai repos need the deepseek_vl "
        "package; use the converted deepseek-community ones. The template reads one system text",
    ),
    Family(
        "idefics3", "Idefics3 / SmolVLM", ("idefics3", "smolvlm"), decoder_paths=("model.text_model.layers",),
        image_token="<image>", options=(_TILES,),
        video_only_imports=(("transformers.models.smolvlm.processing_smolvlm", "num2words"),),
        checkpoints=("HuggingFaceM4/Idefics3-8B-Llama3", "HuggingFaceTB/SmolVLM-Instruct"),
        notes="the decoder is model.text_model, not language_model; images are split into tiles; SmolVLM's "
        "processor wants num2words, only for videos",
    ),
    Family(
        "gemma3", "Gemma 3", ("gemma3",), decoder_paths=(_LM,), image_token="<start_of_image>", system="one_text",
        avoid_float16=True, options=("-M dtype=bfloat16|float32 (float16 overflows, transformers#36822)",),
        checkpoints=("google/gemma-3-4b-it", "google/gemma-3-12b-it"),
        notes="the template folds the system text into the first user turn and reads only its first part; "
        "bidirectional attention over image tokens (token_type_ids)",
    ),
)  # fmt: skip

_BY_TYPE: dict[str, Family] = {model_type: family for family in FAMILIES for model_type in family.model_types}


def family_for(model_type: str | None) -> Family | None:
    """The family of a config ``model_type`` (``None`` when it is not listed)."""
    return _BY_TYPE.get(model_type or "")


def family_of(model_or_config: Any) -> Family | None:
    """The family of a loaded model or of its config."""
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", None)
    return family_for(model_type if isinstance(model_type, str) else None)


def resolve_path(root: Any, dotted: str) -> Any:
    """``root.a.b.c`` for ``"a.b.c"``, or ``None`` where an attribute is missing."""
    node = root
    for part in dotted.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def normalise_conversation(conversation: list[dict[str, Any]], family: Family | None) -> list[dict[str, Any]]:
    """The conversation as the family's chat template expects it.

    ``one_text`` families (Gemma 3, DeepSeek-VL) read only the first text part of a system
    message, so its text parts are joined into one; everything else passes unchanged.
    """
    if family is None or family.system != "one_text":
        return conversation
    result = []
    for message in conversation:
        if message["role"] == "system" and isinstance(message["content"], list) and len(message["content"]) > 1:
            text = "\n\n".join(part["text"] for part in message["content"] if part.get("type") == "text")
            message = {**message, "content": [{"type": "text", "text": text}]}
        result.append(message)
    return result


def chat_inputs(
    processor: Any, conversations: list[list[dict[str, Any]]], family: Family | None, add_generation_prompt: bool
) -> Any:
    """Token ids, masks and pixel inputs of a batch of chats, rendered by the checkpoint's own
    template and processor, padded on the side the tokenizer says (left for generation)."""
    return processor.apply_chat_template(
        [normalise_conversation(conversation, family) for conversation in conversations],
        add_generation_prompt=add_generation_prompt,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs={"padding": True},
    )


class _NoVideoProcessor:
    """Stands in for the video processor of a processor loaded image-only: the attributes some
    processors read on every call (SmolVLM's frame defaults) are ``None``, and a video is refused."""

    num_frames = None
    fps = None
    valid_kwargs = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("this processor was loaded without its video processor (install torchvision for videos)")


def image_only_processor(cls: type[Any]) -> type[Any]:
    """``cls`` without its video processor, under the same class name.

    The video processor needs torchvision, which the ``local`` extra does not install and an
    image benchmark does not use. The subclass drops it from the processor's parts, so it loads
    from, and saves to, the same files as ``cls`` (``processor_class`` keeps its name, and a
    machine with torchvision loads the saved folder with the full class).
    """

    class ImageOnly(cls):
        @classmethod
        def get_attributes(klass) -> list[str]:
            return [name for name in super().get_attributes() if name != "video_processor"]

        @classmethod
        def from_dict(klass, processor_dict: dict[str, Any], **kwargs: Any) -> Any:
            return super().from_dict({**processor_dict, "video_processor": None}, **kwargs)

        @property
        def video_processor(self) -> _NoVideoProcessor:
            return _NoVideoProcessor()

    ImageOnly.__name__ = cls.__name__
    ImageOnly.__qualname__ = cls.__qualname__
    ImageOnly.__doc__ = f"{cls.__name__} loaded image-only (no video processor)."
    return ImageOnly


def install_video_only_stand_ins(family: Family | None) -> None:
    """Give a processor module a stand-in for a package it needs only for videos, when missing.

    SmolVLM's processor refuses to start without ``num2words``, which it uses only to write the
    frame count of a video prompt; with the stand-in it starts, and a video prompt fails.
    """
    for module_name, attribute in family.video_only_imports if family else ():
        if importlib.util.find_spec(attribute) is not None:
            continue
        module = importlib.import_module(module_name)
        if getattr(module, attribute, None) is None:
            setattr(module, attribute, _missing_for_videos(attribute))


def _missing_for_videos(package: str) -> Any:
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise ImportError(f"videos need the {package} package: pip install {package}")

    return stand_in


def _has_video_processor(cls: type) -> bool:
    getter = getattr(cls, "get_attributes", None)
    return callable(getter) and "video_processor" in getter()


def load_processor(source: str, model_type: str | None, trust_remote_code: bool = False) -> Any:
    """The checkpoint's processor: ``AutoProcessor``, or the family's processor image-only when
    ``AutoProcessor`` fails for want of its video processor (torchvision not installed)."""
    import transformers
    from transformers import AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    family = family_for(model_type)
    install_video_only_stand_ins(family)
    try:
        return AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ImportError, ValueError) as exc:
        name = PROCESSOR_MAPPING_NAMES.get(model_type or "")
        cls: Any = getattr(transformers, name, None) if isinstance(name, str) else None
        if cls is None or not _has_video_processor(cls):
            raise
        try:
            return image_only_processor(cls).from_pretrained(source)
        except (OSError, ImportError, ValueError, TypeError, AttributeError):
            raise exc from None


def dtype_problem(family: Family | None, dtype_name: str) -> str | None:
    """Why ``dtype_name`` cannot run this family, or ``None`` when it can."""
    if family is not None and family.avoid_float16 and dtype_name == "float16":
        return (f"{family.title} overflows in float16 (activations exceed its range; transformers#36822): "
                "use -M dtype=bfloat16 or float32")  # fmt: skip
    return None


def transformers_classes(model_type: str) -> tuple[str | None, str | None]:
    """The model and processor class names the installed transformers has for ``model_type``."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    model = MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.get(model_type)
    processor = PROCESSOR_MAPPING_NAMES.get(model_type)
    return (model if isinstance(model, str) else None, processor if isinstance(processor, str) else None)


def installed_transformers() -> str | None:
    """The installed transformers version, or ``None`` without transformers."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transformers")
    except PackageNotFoundError:
        return None
