"""A tiny random-weight model of every verified family, built from a config in code and saved to a folder.

Each builder writes a folder that ``hf:FOLDER`` loads with the family's native transformers
classes: config, seeded random weights, a word-level tokenizer carrying the family's special
tokens, the family's image processor and processor, and a chat template shaped like the
family's released one. Nothing is downloaded. The models run the real code paths (image
preprocessing and tiling, image-token expansion, M-RoPE, DeepStack, SAM + SigLIP, ...) in
milliseconds on a CPU; their answers are random words, only the mechanics are real.

Sizes: 3 text blocks against 2 vision blocks (steering must find the text ones), hidden 32,
images of 32 to 64 pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from vscbench.testing import tiny_tokens as tt

HIDDEN = 32
TEXT_LAYERS = 3
#: SigLIP/CLIP towers: 32-px images in 8-px patches (16 patches).
IMAGE, PATCH = 32, 8
#: LLaVA-NeXT / OneVision anyres grid: a 32-px base tile, and up to 2 x 2 tiles.
PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64]]


def _finish(model_cls: Any, config: Any, processor: Any, tokenizer: Any, out: str | Path, seed: int) -> Path:
    import torch

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    tt.spread_output_head(model, seed)
    return tt.save_tiny(model, processor, tokenizer, folder)


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in tokens]


def _llava_style(kind: str, out: str | Path, seed: int) -> Path:
    """LLaVA-1.5 (CLIP + Llama), LLaVA-NeXT (CLIP + Mistral, anyres) and LLaVA-OneVision (SigLIP + Qwen2)."""
    import transformers as tf

    if kind == "llava_onevision":
        tokenizer = tt.word_tokenizer(
            ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"], eos="<|im_end|>",
            pad="<|endoftext|>", named={"image_token": "<image>", "video_token": "<video>"},
            chat_template=tt.chatml("<image>\n"),
        )  # fmt: skip
    else:
        template = tt.LLAVA15 if kind == "llava" else tt.MISTRAL_INST
        tokenizer = tt.word_tokenizer(
            ["<pad>", "<s>", "</s>", "<image>", "[INST]", "[/INST]"], eos="</s>", pad="<pad>", bos="<s>",
            named={"image_token": "<image>"}, chat_template=template,
        )  # fmt: skip
    image_token, video_token = _ids(tokenizer, "<image>", "<video>")
    config: Any
    image_processor: Any
    processor: Any
    common: dict[str, Any] = {"image_token_index": image_token, "vision_feature_layer": -1}
    if kind == "llava":
        vision = tt.vision_config(HIDDEN, IMAGE, PATCH, model_type="clip_vision_model", projection_dim=HIDDEN)
        text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "llama")
        config = tf.LlavaConfig(vision_config=vision, text_config=text, image_seq_length=16,
                                vision_feature_select_strategy="default", **common)  # fmt: skip
        image_processor = tf.CLIPImageProcessorPil(size={"shortest_edge": IMAGE},
                                                   crop_size={"height": IMAGE, "width": IMAGE})  # fmt: skip
        processor = tf.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                                      vision_feature_select_strategy="default", chat_template=tokenizer.chat_template,
                                      image_token="<image>", num_additional_image_tokens=1)  # fmt: skip
        return _finish(tf.LlavaForConditionalGeneration, config, processor, tokenizer, out, seed)
    if kind == "llava_next":
        vision = tt.vision_config(HIDDEN, IMAGE, PATCH, model_type="clip_vision_model", projection_dim=HIDDEN)
        text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "mistral", sliding_window=None)
        config = tf.LlavaNextConfig(vision_config=vision, text_config=text, image_grid_pinpoints=PINPOINTS,
                                    image_seq_length=16, vision_feature_select_strategy="default", **common)  # fmt: skip
        image_processor = tf.LlavaNextImageProcessorPil(size={"shortest_edge": IMAGE}, image_grid_pinpoints=PINPOINTS,
                                                        crop_size={"height": IMAGE, "width": IMAGE})  # fmt: skip
        processor = tf.LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                                          vision_feature_select_strategy="default", image_token="<image>",
                                          chat_template=tokenizer.chat_template, num_additional_image_tokens=1)  # fmt: skip
        return _finish(tf.LlavaNextForConditionalGeneration, config, processor, tokenizer, out, seed)
    from vscbench.models.hf_families import image_only_processor

    vision = tt.vision_config(HIDDEN, IMAGE, PATCH, model_type="siglip_vision_model")
    text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "qwen2")
    config = tf.LlavaOnevisionConfig(vision_config=vision, text_config=text, image_grid_pinpoints=PINPOINTS,
                                     video_token_index=video_token, vision_feature_select_strategy="full", **common)  # fmt: skip
    image_processor = tf.LlavaOnevisionImageProcessorPil(size={"height": IMAGE, "width": IMAGE},
                                                         image_grid_pinpoints=PINPOINTS)  # fmt: skip
    processor = image_only_processor(tf.LlavaOnevisionProcessor)(
        image_processor=image_processor, tokenizer=tokenizer, num_image_tokens=16, image_token="<image>",
        video_token="<video>", vision_feature_select_strategy="full", chat_template=tokenizer.chat_template,
    )  # fmt: skip
    return _finish(tf.LlavaOnevisionForConditionalGeneration, config, processor, tokenizer, out, seed)


def _qwen_style(kind: str, out: str | Path, seed: int) -> Path:
    """Qwen2-VL, Qwen2.5-VL (window attention) and Qwen3-VL (DeepStack): M-RoPE, dynamic resolution."""
    import transformers as tf

    from vscbench.models.hf_families import image_only_processor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]  # fmt: skip
    tokenizer = tt.word_tokenizer(specials, eos="<|im_end|>", pad="<|endoftext|>",
                                  chat_template=tt.chatml("<|vision_start|><|image_pad|><|vision_end|>"))  # fmt: skip
    image, video, start, end = _ids(tokenizer, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    half = HIDDEN // 2 // 2  # half the head dimension (2 heads)
    rope = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [half - 2 * (half // 3), half // 3, half // 3],
    }
    patch = 8 if kind == "qwen3_vl" else 4  # Qwen3-VL's patches are larger than Qwen2(.5)-VL's (16 px against 14)
    vision: dict[str, Any] = {"depth": 2, "hidden_size": HIDDEN, "num_heads": 2, "patch_size": patch,
                              "spatial_merge_size": 2, "temporal_patch_size": 2}  # fmt: skip
    text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, kind + "_text", rope_parameters=rope)
    text.pop("model_type")
    config_cls: Any
    model_cls: Any
    processor_cls: Any
    if kind == "qwen2_vl":
        vision.update(embed_dim=HIDDEN, mlp_ratio=2)
        config_cls, model_cls, processor_cls = tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration, tf.Qwen2VLProcessor
    elif kind == "qwen2_5_vl":
        vision.update(intermediate_size=HIDDEN * 2, out_hidden_size=HIDDEN, window_size=16, fullatt_block_indexes=[1])
        config_cls, model_cls = tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration
        processor_cls = tf.Qwen2_5_VLProcessor
    else:
        vision.update(intermediate_size=HIDDEN * 2, out_hidden_size=HIDDEN, num_position_embeddings=16,
                      deepstack_visual_indexes=[0])  # fmt: skip
        text.update(head_dim=HIDDEN // 2, rope_parameters={**rope, "mrope_interleaved": True})
        config_cls, model_cls, processor_cls = tf.Qwen3VLConfig, tf.Qwen3VLForConditionalGeneration, tf.Qwen3VLProcessor
    config = config_cls(text_config=text, vision_config=vision, image_token_id=image, video_token_id=video,
                        vision_start_token_id=start, vision_end_token_id=end, tie_word_embeddings=False)  # fmt: skip
    pixels = (patch * 8) ** 2  # at most 8 x 8 patches: 16 image tokens after the 2 x 2 merge
    image_processor = tf.Qwen2VLImageProcessorPil(size={"shortest_edge": (patch * 2) ** 2, "longest_edge": pixels},
                                                  patch_size=patch, merge_size=2, temporal_patch_size=2)  # fmt: skip
    processor = image_only_processor(processor_cls)(image_processor=image_processor, tokenizer=tokenizer,
                                                    chat_template=tokenizer.chat_template)  # fmt: skip
    return _finish(model_cls, config, processor, tokenizer, out, seed)


def build_tiny_internvl(out: str | Path, seed: int = 0) -> Path:
    """InternVL (native class): InternViT + Qwen2, 32-px crops (at most 4 and a thumbnail), pixel shuffle."""
    import transformers as tf

    from vscbench.models.hf_families import image_only_processor

    named = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}  # fmt: skip
    tokenizer = tt.word_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *named.values()], eos="<|im_end|>",
                                  pad="<|endoftext|>", named=named, chat_template=tt.chatml("<IMG_CONTEXT>\n"))  # fmt: skip
    vision = tt.vision_config(HIDDEN, [IMAGE, IMAGE], [PATCH, PATCH])
    text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "qwen2")
    (context,) = _ids(tokenizer, "<IMG_CONTEXT>")
    config = tf.InternVLConfig(vision_config=vision, text_config=text, image_token_id=context, image_seq_length=4,
                               downsample_ratio=0.5, tie_word_embeddings=False)  # fmt: skip
    image_processor = tf.GotOcr2ImageProcessorPil(size={"height": IMAGE, "width": IMAGE}, max_patches=4)
    processor = image_only_processor(tf.InternVLProcessor)(image_processor=image_processor, tokenizer=tokenizer,
                                                           image_seq_length=4, chat_template=tokenizer.chat_template)  # fmt: skip
    return _finish(tf.InternVLForConditionalGeneration, config, processor, tokenizer, out, seed)


def build_tiny_deepseek_vl(out: str | Path, seed: int = 0, hybrid: bool = False) -> Path:
    """DeepSeek-VL: SigLIP + Llama, 16 image tokens; ``hybrid`` adds the SAM high-resolution tower (64 px)."""
    import transformers as tf

    eos = "<｜end▁of▁sentence｜>"
    tokenizer = tt.word_tokenizer(["<｜begin▁of▁sentence｜>", eos, "<image_placeholder>"], eos=eos, pad=eos,
                                  bos="<｜begin▁of▁sentence｜>", named={"image_token": "<image_placeholder>"},
                                  chat_template=tt.DEEPSEEK_VL, words=("You", "are", "helpful", "language", "and",
                                                                       "vision", "assistant"))  # fmt: skip
    vision = tt.vision_config(HIDDEN, IMAGE, PATCH, model_type="siglip_vision_model")
    text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "llama")
    (image,) = _ids(tokenizer, "<image_placeholder>")
    config: Any
    image_processor: Any
    processor_cls: Any
    model_cls: Any
    if hybrid:
        sam = {"hidden_size": 16, "output_channels": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
               "image_size": 64, "patch_size": 16, "window_size": 2, "global_attn_indexes": [1], "mlp_dim": 32,
               "num_pos_feats": 8}  # fmt: skip
        config = tf.DeepseekVLHybridConfig(vision_config=vision, text_config=text, high_res_vision_config=sam,
                                                image_token_id=image, tie_word_embeddings=False)  # fmt: skip
        image_processor = tf.DeepseekVLHybridImageProcessorPil(size={"height": IMAGE, "width": IMAGE},
                                                                    high_res_size={"height": 64, "width": 64})  # fmt: skip
        processor_cls, model_cls = tf.DeepseekVLHybridProcessor, tf.DeepseekVLHybridForConditionalGeneration
    else:
        config = tf.DeepseekVLConfig(vision_config=vision, text_config=text, image_token_id=image,
                                     tie_word_embeddings=False)  # fmt: skip
        image_processor = tf.DeepseekVLImageProcessorPil(size={"height": IMAGE, "width": IMAGE})
        processor_cls, model_cls = tf.DeepseekVLProcessor, tf.DeepseekVLForConditionalGeneration
    processor = processor_cls(image_processor=image_processor, tokenizer=tokenizer, num_image_tokens=16,
                              chat_template=tokenizer.chat_template)  # fmt: skip
    return _finish(model_cls, config, processor, tokenizer, out, seed)


def build_tiny_idefics3(out: str | Path, seed: int = 0, smolvlm: bool = False) -> Path:
    """Idefics3 (or SmolVLM): SigLIP-style tower + Llama, images split into 32-px tiles plus a global one."""
    import transformers as tf

    from vscbench.models.hf_families import family_for, image_only_processor, install_video_only_stand_ins

    tiles = [f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)]
    named = {"fake_image_token": "<fake_token_around_image>", "image_token": "<image>",
             "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"}  # fmt: skip
    tokenizer = tt.word_tokenizer(["<|im_start|>", "<end_of_utterance>", "<|endoftext|>", "<fake_token_around_image>",
                                   "<image>", "<global-img>", *tiles], eos="<end_of_utterance>", pad="<|endoftext|>",
                                  bos="<|im_start|>", named=named if smolvlm else None,
                                  chat_template=tt.IDEFICS3)  # fmt: skip
    vision = tt.vision_config(HIDDEN, IMAGE, PATCH)
    text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "llama")
    (image,) = _ids(tokenizer, "<image>")
    kwargs: dict[str, Any] = {"size": {"longest_edge": 2 * IMAGE}, "max_image_size": {"longest_edge": IMAGE}}
    if smolvlm:
        install_video_only_stand_ins(family_for("smolvlm"))
        config: Any = tf.SmolVLMConfig(vision_config=vision, text_config=text, image_token_id=image, scale_factor=2,
                                       tie_word_embeddings=False)  # fmt: skip
        processor = image_only_processor(tf.SmolVLMProcessor)(
            image_processor=tf.SmolVLMImageProcessorPil(**kwargs), tokenizer=tokenizer, video_processor=None,
            image_seq_len=4, chat_template=tokenizer.chat_template,
        )  # fmt: skip
        return _finish(tf.SmolVLMForConditionalGeneration, config, processor, tokenizer, out, seed)
    config = tf.Idefics3Config(vision_config=vision, text_config=text, image_token_id=image, scale_factor=2,
                               tie_word_embeddings=False)  # fmt: skip
    processor = tf.Idefics3Processor(image_processor=tf.Idefics3ImageProcessorPil(**kwargs), tokenizer=tokenizer,
                                     image_seq_len=4, chat_template=tokenizer.chat_template)  # fmt: skip
    return _finish(tf.Idefics3ForConditionalGeneration, config, processor, tokenizer, out, seed)


def build_tiny_gemma3(out: str | Path, seed: int = 0) -> Path:
    """Gemma 3: SigLIP + Gemma 3 text (sliding-window and global layers), 4 soft image tokens per image."""
    import transformers as tf

    named = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tokenizer = tt.word_tokenizer(["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", *named.values()],
                                  eos="<eos>", pad="<pad>", bos="<bos>", named=named, chat_template=tt.GEMMA3)  # fmt: skip
    stop = _ids(tokenizer, "<eos>", "<end_of_turn>")
    text = tt.text_config(len(tokenizer), HIDDEN, TEXT_LAYERS, tokenizer, "gemma3_text", num_key_value_heads=1,
                          head_dim=16, query_pre_attn_scalar=16, sliding_window=16, eos_token_id=stop,
                          layer_types=["sliding_attention", "sliding_attention", "full_attention"])  # fmt: skip
    text.pop("model_type")
    vision = tt.vision_config(HIDDEN, IMAGE, PATCH, model_type="siglip_vision_model", vision_use_head=False)
    boi, eoi, soft = _ids(tokenizer, *named.values())
    config = tf.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, boi_token_index=boi,
                             eoi_token_index=eoi, image_token_index=soft, tie_word_embeddings=False)  # fmt: skip
    processor = tf.Gemma3Processor(image_processor=tf.Gemma3ImageProcessorPil(size={"height": IMAGE, "width": IMAGE}),
                                   tokenizer=tokenizer, chat_template=tokenizer.chat_template, image_seq_length=4)  # fmt: skip
    return _finish(tf.Gemma3ForConditionalGeneration, config, processor, tokenizer, out, seed)


#: model type -> builder ``(folder, seed) -> folder``: one tiny model per model type of every verified family.
TINY_BUILDERS: dict[str, Callable[[str | Path, int], Path]] = {
    "llava": lambda out, seed: _llava_style("llava", out, seed),
    "llava_next": lambda out, seed: _llava_style("llava_next", out, seed),
    "llava_onevision": lambda out, seed: _llava_style("llava_onevision", out, seed),
    "qwen2_vl": lambda out, seed: _qwen_style("qwen2_vl", out, seed),
    "qwen2_5_vl": lambda out, seed: _qwen_style("qwen2_5_vl", out, seed),
    "qwen3_vl": lambda out, seed: _qwen_style("qwen3_vl", out, seed),
    "internvl": build_tiny_internvl,
    "deepseek_vl": build_tiny_deepseek_vl,
    "deepseek_vl_hybrid": lambda out, seed: build_tiny_deepseek_vl(out, seed, hybrid=True),
    "idefics3": build_tiny_idefics3,
    "smolvlm": lambda out, seed: build_tiny_idefics3(out, seed, smolvlm=True),
    "gemma3": build_tiny_gemma3,
}


def build_tiny_family(model_type: str, out: str | Path, seed: int = 0) -> Path:
    """Save a tiny random model of ``model_type`` (a key of :data:`TINY_BUILDERS`) to ``out``."""
    if model_type not in TINY_BUILDERS:
        raise ValueError(f"no tiny builder for model type {model_type!r}; known: {', '.join(TINY_BUILDERS)}")
    return TINY_BUILDERS[model_type](out, seed)
