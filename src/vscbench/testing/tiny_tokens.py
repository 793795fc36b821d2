"""What every tiny random-weight model needs besides its config: a tokenizer, a chat template, weights
that make answers differ, and a folder that ``hf:`` loads.

The tokenizer is word-level over a small vocabulary (built with the ``tokenizers`` library, no
download); each family's special tokens are registered as special added tokens, and the named
ones (``image_token``, ``boi_token``, ...) as attributes the family's processor reads. The chat
templates copy the structure of each family's released template (roles, turn markers, where
the image placeholder goes), reduced to what a request of vscbench contains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_VOCABULARY = (
    "i can cannot help with that this is not safe sorry here how to do the a an image picture "
    "shows person process kill stop run answer question yes no please step first then finally "
    "it you we they warning careful legal illegal drug knife cook recipe medicine dose take "
    "should would could will 1 2 3 4 5 . , ! ? : ; ( ) - sure okay list item content"
)
#: A small vocabulary: enough words that decoding produces varied, readable tokens.
WORDS: tuple[str, ...] = tuple(_VOCABULARY.split())

#: Role words the templates write (``USER:``, ``User:``, ``model``...), so they are not ``<unk>``.
ROLE_WORDS = ("user", "assistant", "system", "USER", "ASSISTANT", "User", "Assistant", "System", "model")


def word_tokenizer(
    specials: Sequence[str],
    *,
    eos: str,
    pad: str,
    bos: str | None = None,
    unk: str = "<unk>",
    named: Mapping[str, str] | None = None,
    chat_template: str | None = None,
    words: Sequence[str] = (),
) -> Any:
    """A left-padding word-level fast tokenizer whose ids start with ``specials`` in the order given.

    ``named`` maps attribute names a processor reads (``image_token``, ``boi_token``, ...) to
    tokens of ``specials``; transformers saves them, so the loaded tokenizer has them too.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in [*specials, unk, *WORDS, *ROLE_WORDS, *words]:
        vocab.setdefault(token, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    named = dict(named or {})
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=pad,
        extra_special_tokens=named,
        padding_side="left",
    )
    plain = [token for token in specials if token not in {bos, eos, unk, pad, *named.values()}]
    tokenizer.add_tokens([AddedToken(token, special=True, normalized=False) for token in plain], special_tokens=True)
    tokenizer.chat_template = chat_template
    return tokenizer


def spread_output_head(model: Any, seed: int) -> None:
    """Give the untied output head unit-variance weights (seeded), so answers depend on the input.

    With transformers' small initialisation (std 0.02) a random model's logits are dominated by
    the residual stream's last input token, and every prompt gets the same one-token answer
    repeated: a batched-against-one-by-one comparison of such answers would prove nothing.
    """
    import torch

    head = model.get_output_embeddings().weight
    if head is model.get_input_embeddings().weight:
        raise ValueError(
            "the output head is tied to the input embeddings; build the config with tie_word_embeddings=False"
        )
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        head.copy_(torch.randn(head.shape, generator=generator))


def save_tiny(model: Any, processor: Any, tokenizer: Any, out: Path) -> Path:
    """Save weights, generation config and processor to ``out`` and return it.

    The generation config names the tokenizer's end, padding and start tokens, so greedy
    generation stops and pads as the family's own checkpoints do.
    """
    config = model.generation_config
    eos = model.config.get_text_config().eos_token_id
    config.eos_token_id = eos if eos is not None else tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def text_config(vocab: int, hidden: int, layers: int, tokenizer: Any, model_type: str, **extra: Any) -> dict[str, Any]:
    """The text decoder of a tiny model: ``layers`` blocks, two heads, untied output head."""
    config: dict[str, Any] = {
        "model_type": model_type,
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id,
        "tie_word_embeddings": False,
    }
    config.update(extra)
    return config


def vision_config(hidden: int, image_size: int | list[int], patch: int | list[int], **extra: Any) -> dict[str, Any]:
    """A two-block vision tower (fewer blocks than the text decoder's, so they are never mistaken)."""
    config: dict[str, Any] = {
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": patch,
    }
    config.update(extra)
    return config


# ---- chat templates: each family's released structure, reduced -----------------------------------

_TEXT = "{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}"


def _parts(image: str) -> str:
    """The parts of a message in their order, an image written as ``image``."""
    return (
        "{% for p in m['content'] %}{% if p['type'] == 'image' %}" + image + "{% elif p['type'] == 'text' %}"
        "{{ p['text'] }}{% endif %}{% endfor %}"
    )


#: LLaVA-1.5 (llava-hf): ``USER: <image>\\nquestion ASSISTANT:``, images before the text.
LLAVA15 = (
    "{% for m in messages %}{% if m['role'] == 'system' %}" + _TEXT + " "
    "{% else %}{{ m['role'].upper() + ': ' }}{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>\n"
    "{% endif %}{% endfor %}" + _TEXT + "{% if m['role'] == 'assistant' %}</s>{% else %} {% endif %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

#: LLaVA-NeXT on Mistral: ``[INST] <image>\\nquestion [/INST]``, a system text before the first turn.
MISTRAL_INST = (
    "{% for m in messages %}{% if m['role'] == 'system' %}" + _TEXT + "\n"
    "{% elif m['role'] == 'user' %}[INST] {% for p in m['content'] %}{% if p['type'] == 'image' %}<image>\n"
    "{% endif %}{% endfor %}" + _TEXT + " [/INST]{% else %}" + _TEXT + "</s>{% endif %}{% endfor %}"
)


def chatml(image: str) -> str:
    """ChatML (Qwen, InternVL, LLaVA-OneVision): ``<|im_start|>role\\n...<|im_end|>``."""
    return (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n" + _parts(image) + "<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


#: DeepSeek-VL (deepseek-community): a default system text, ``User: ...\\n\\nAssistant:``; one system text.
DEEPSEEK_VL = (
    "{% if messages[0]['role'] != 'system' %}You are a helpful language and vision assistant.\n\n{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'][0]['text'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: " + _parts("<image_placeholder>") + "\n\n"
    "{% else %}Assistant: " + _TEXT + "<｜end▁of▁sentence｜>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

#: Idefics3 and SmolVLM: ``<|im_start|>User:<image>question<end_of_utterance>\\nAssistant:``.
IDEFICS3 = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}"
    "{% if m['content'][0]['type'] == 'image' %}:{% else %}: {% endif %}" + _parts("<image>") + "<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)

#: Gemma 3: the first text of a system message is folded into the first user turn; roles alternate.
GEMMA3 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{% set prefix = messages[0]['content'][0]['text'] + '\n\n' %}{% set turns = messages[1:] %}"
    "{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for m in turns %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ prefix if loop.first else '' }}"
    + _parts("<start_of_image>")
    + "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
