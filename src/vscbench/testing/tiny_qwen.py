"""A tiny random-weight Qwen2-VL, built from a config in code.

Qwen2-VL differs from LLaVA in the ways that break naive activation hooks: 3-D (M-RoPE) position
ids, a vision tower whose blocks live under ``model.visual.blocks``, a text decoder nested under
``model.model.language_model``, and a processor that expands ``<|image_pad|>`` by the image's
patch grid. Tests and benchmarks use this model to exercise those paths in milliseconds on a CPU,
without downloaded weights. Its answers are random tokens; only the mechanics are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vscbench.testing.tiny_vlm import _WORDS

#: Qwen's chat markup, reduced to what the processor and the generation code need.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<unk>",
)

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _processor_class() -> type[Any]:
    """Qwen2-VL's processor without its video processor, under its own name.

    transformers 5.x builds ``Qwen2VLProcessor`` with a video processor, which needs torchvision;
    the tiny model is image-only. The saved folder names ``Qwen2VLProcessor``, so ``hf:FOLDER``
    loads it (image-only where torchvision is missing, see :mod:`vscbench.models.hf_families`).
    """
    from transformers import Qwen2VLProcessor

    from vscbench.models.hf_families import image_only_processor

    return image_only_processor(Qwen2VLProcessor)


def build_qwen_tokenizer():
    """A word-level fast tokenizer carrying Qwen2-VL's special tokens (pad = ``<|endoftext|>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(QWEN_SPECIAL_TOKENS)}
    for word in _WORDS + ["user", "assistant", "system"]:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:7]),
        padding_side="left",
    )
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def build_tiny_qwen2_vl(
    path: str | Path,
    num_hidden_layers: int = 4,
    hidden_size: int = 32,
    image_side: int = 16,
    seed: int = 0,
) -> Path:
    """Save a tiny random Qwen2-VL with its processor to ``path`` and return the folder.

    The vision tower gets 3 blocks against the text decoder's ``num_hidden_layers`` (default 4),
    so code that must find the text layers cannot pass by picking the vision blocks. Images are
    resized to ``image_side`` x ``image_side`` pixels: with patch 4 and merge 2 a 16-pixel image
    becomes 4 ``<|image_pad|>`` tokens.
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_qwen_tokenizer()
    patch, merge = 4, 2
    num_heads = 2
    head_dim = hidden_size // num_heads
    half = head_dim // 2
    mrope_section = [half - 2 * (half // 3), half // 3, half // 3]
    token_id = tokenizer.convert_tokens_to_ids
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_heads,
            "num_key_value_heads": num_heads,
            "max_position_embeddings": 512,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section},
            "bos_token_id": token_id("<|endoftext|>"),
            "eos_token_id": token_id("<|im_end|>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        vision_config={
            "depth": 3,
            "embed_dim": hidden_size,
            "hidden_size": hidden_size,
            "mlp_ratio": 2,
            "num_heads": num_heads,
            "patch_size": patch,
            "spatial_merge_size": merge,
            "temporal_patch_size": 2,
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.pad_token_id
    pixels = image_side * image_side
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": pixels, "longest_edge": pixels},
        patch_size=patch,
        merge_size=merge,
        temporal_patch_size=2,
    )
    processor = _processor_class()(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN_CHAT_TEMPLATE
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def load_tiny_qwen2_vl(path: str | Path) -> tuple[Any, Any]:
    """Load a model saved by :func:`build_tiny_qwen2_vl`: ``(model in eval mode, processor)``."""
    from transformers import Qwen2VLForConditionalGeneration

    from vscbench.models.hf_families import load_processor

    model = Qwen2VLForConditionalGeneration.from_pretrained(path).eval()
    processor = load_processor(str(path), "qwen2_vl")
    processor.tokenizer.padding_side = "left"
    return model, processor
