"""Local vision-language models through transformers, generated in left-padded batches.

A local model is fastest when it sees many prompts at once, so this backend takes batches
(``max_batch_size``) and runs them through one ``model.generate`` call. Everything that is
specific to one checkpoint (prompt format, image tokens, image preprocessing) is left to the
checkpoint's own processor and chat template, so any ``AutoModelForImageTextToText`` model works;
the little that differs between families (how a system prompt is taken, a processor's video
part, dtypes a family cannot run in) is data in :mod:`vscbench.models.hf_families`.

Activation steering reuses this class: it reads :attr:`HFModel.model` to find decoder layers,
:meth:`HFModel.prepare_inputs` to tokenise exactly as generation does, and passes a
``context`` factory to :meth:`HFModel.generate_batch` to install its hooks around generation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vscbench.images import load_rgb
from vscbench.models.base import Generation, ModelSpec, ModelSpecError
from vscbench.models.hf_families import Family, chat_inputs, dtype_problem, family_of, load_processor
from vscbench.schema import GenerationConfig, ImagePart, Request, TextPart, Usage


class ImageLoadError(ValueError):
    """A request's image could not be decoded; only that request fails."""


@dataclass
class PreparedBatch:
    """Model inputs for the requests of one batch that could be prepared.

    ``indices`` maps each row of ``inputs`` back to its position in the request list given to
    :meth:`HFModel.prepare_inputs`; ``errors`` holds the reason for every request left out.
    All rows are left-padded to ``prompt_length`` tokens, so generated tokens start there.
    """

    inputs: Any
    indices: list[int]
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def prompt_length(self) -> int:
        return int(self.inputs["input_ids"].shape[1]) if self.indices else 0


#: Builds a context manager entered around ``model.generate`` for one batch (steering hooks).
GenerationContext = Callable[[PreparedBatch], AbstractContextManager[Any]]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA if present, then Apple MPS, then CPU, unless the caller names one."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(
    device: torch.device, dtype: str | torch.dtype | None = None, avoid_float16: bool = False
) -> torch.dtype:
    """bf16 on CUDA where supported (fp16 otherwise), fp16 on MPS, fp32 on CPU; or as asked.

    ``avoid_float16`` (a family that overflows in it) makes the automatic choice float32 where it
    would be float16; a float16 asked for by name is returned, for the caller to refuse.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is not None and dtype != "auto":
        names = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32"}
        resolved = getattr(torch, names.get(dtype, dtype), None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use bfloat16, float16 or float32")
        return resolved
    half = torch.float32 if avoid_float16 else torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else half
    if device.type == "mps":
        return half
    return torch.float32


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, without transformers' list of every known class."""
    text = " ".join(str(exc).split()).split(" Model type should be one of")[0].rstrip(".")
    text = text or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_hf_conversation(request: Request) -> list[dict[str, Any]]:
    """The request's messages in the transformers chat format, images decoded to RGB.

    The system prompt is one of the messages (requests are built with it); leading system
    messages are joined into one text (blank line between), since many chat templates accept
    only one system turn and one text in it.
    Raises :class:`ImageLoadError` naming the file when an image cannot be decoded.
    """
    max_side = request.config.max_image_side
    conversation: list[dict[str, Any]] = []
    for message in request.messages:
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                try:
                    image = load_rgb(part.path, max_side)
                except Exception as exc:  # any decoder failure is this request's problem only
                    raise ImageLoadError(f"cannot read image {part.path}: {type(exc).__name__}: {exc}") from exc
                parts.append({"type": "image", "image": image})
            elif isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
        conversation.append({"role": message.role, "content": parts})
    # the system prompt is already a message (placed once, when the request was built); several
    # leading system turns are joined into one text, as the API backends join them: many chat
    # templates accept one system turn, and many glue a turn's text parts together with nothing
    # between them, or read only the first (Gemma 3, DeepSeek-VL)
    while len(conversation) > 1 and conversation[0]["role"] == conversation[1]["role"] == "system":
        first, second = conversation.pop(0), conversation.pop(0)
        texts = [part["text"] for part in [*first["content"], *second["content"]] if part["type"] == "text"]
        conversation.insert(0, {"role": "system", "content": [{"type": "text", "text": "\n\n".join(texts)}]})
    return conversation


def _batch_key(request: Request) -> tuple[Any, ...]:
    """Requests that share this key can share one ``generate`` call.

    Text-only requests are kept apart from requests with images: several processors pair
    images with rows wrongly, or refuse, when only some rows of a batch have images.
    """
    config: GenerationConfig = request.config
    sampling = config.temperature > 0
    has_images = any(message.images for message in request.messages)
    return (
        config.max_tokens,
        sampling,
        config.temperature if sampling else None,
        config.top_p if sampling else None,
        config.seed if sampling else None,
        has_images,
    )


class HFModel:
    """A transformers image-text-to-text model answering requests in batches.

    ``spec.name`` is a local folder or a hub id (hub ids need the files in the local cache
    when offline). Greedy decoding unless a request's temperature is above zero.
    ``attn_implementation`` (``sdpa``, ``eager``, ``flash_attention_2``; ``-M`` on the command
    line) goes to transformers as is; left out, transformers picks.
    """

    def __init__(
        self,
        spec: ModelSpec,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 8,
        trust_remote_code: bool = False,
        attn_implementation: str | None = None,
    ) -> None:
        from transformers import AutoConfig, AutoModelForImageTextToText

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.spec = spec
        self.max_batch_size = batch_size
        self.device = pick_device(device)
        source = spec.name
        looks_like_path = source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
        if looks_like_path:
            local = Path(source).expanduser()
            if not local.is_dir():
                raise ModelSpecError(f"model folder {local} does not exist (from spec {spec})")
            source = str(local)
        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as exc:  # no config.json, or a model type this transformers does not know
            raise ModelSpecError(f"cannot read the config of {source!r}: {_one_line(exc)}") from exc
        #: How this checkpoint's family differs (``None``: a model type vscbench has not verified).
        self.family: Family | None = family_of(config)
        self.dtype = pick_dtype(self.device, dtype, avoid_float16=bool(self.family and self.family.avoid_float16))
        problem = dtype_problem(self.family, str(self.dtype).removeprefix("torch."))
        if problem:
            raise ModelSpecError(f"{spec}: {problem}")
        try:
            self.processor = load_processor(source, getattr(config, "model_type", None), trust_remote_code)
            extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
            self.model = AutoModelForImageTextToText.from_pretrained(
                source, dtype=self.dtype, trust_remote_code=trust_remote_code, **extra
            )
        except (OSError, ValueError, ImportError) as exc:  # missing files, or a checkpoint of another kind
            raise ModelSpecError(
                f"cannot load {source!r} as an image-text-to-text model: {_one_line(exc)}. Pass a local folder "
                "with the weights and processor files, or a hub id that is in the local cache."
            ) from exc
        if getattr(self.processor, "image_processor", None) is None:
            raise ModelSpecError(
                f"{source!r} has no image processor (only a tokenizer was found): the folder lacks its "
                "processor files (processor_config.json or preprocessor_config.json)"
            )
        self.model.to(self.device).eval()  # type: ignore[arg-type]
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"  # generated tokens must follow the prompt directly
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._lock = threading.Lock()  # one generate at a time: parallel calls only thrash memory

    def prepare_inputs(self, requests: list[Request]) -> PreparedBatch:
        """Tokenise requests with their images, left-padded, on the model's device.

        Requests whose image cannot be decoded are left out and listed in ``errors``.
        Raises if the processor rejects the batch as a whole.
        """
        conversations: list[list[dict[str, Any]]] = []
        indices: list[int] = []
        errors: dict[int, str] = {}
        for position, request in enumerate(requests):
            try:
                conversations.append(to_hf_conversation(request))
                indices.append(position)
            except ImageLoadError as exc:
                errors[position] = str(exc)
        if not conversations:
            return PreparedBatch(inputs={}, indices=[], errors=errors)
        inputs = chat_inputs(self.processor, conversations, self.family, add_generation_prompt=True)
        inputs = inputs.to(device=self.device, dtype=self.dtype)
        return PreparedBatch(inputs=inputs, indices=indices, errors=errors)

    def generate_batch(self, requests: list[Request], context: GenerationContext | None = None) -> list[Generation]:
        """Blocking generation for any number of requests, in order; never raises per request.

        Requests are grouped by decoding settings (and by having images or not) and cut into
        batches of ``max_batch_size``;
        seeded sampling runs one request at a time so that its answer is reproducible.
        If a batch fails as a whole it is retried one request at a time, so one bad request
        cannot take its neighbours down with it.
        """
        results: list[Generation | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for position, request in enumerate(requests):
            groups.setdefault(_batch_key(request), []).append(position)
        with self._lock:
            for key, positions in groups.items():
                # a seeded sample draws from one RNG stream per call: batching it with others
                # would make its answer depend on its neighbours, so it runs on its own
                size = 1 if key[1] and key[4] is not None else self.max_batch_size
                for start in range(0, len(positions), size):
                    chunk = positions[start : start + size]
                    answers = self._generate_isolating_failures([requests[i] for i in chunk], context)
                    for position, answer in zip(chunk, answers):
                        results[position] = answer
        return [r if r is not None else Generation(outcome="error", error="no result") for r in results]

    async def generate(self, requests: list[Request]) -> list[Generation]:
        """Run :meth:`generate_batch` in a worker thread so the event loop keeps serving."""
        return await asyncio.to_thread(self.generate_batch, requests)

    async def aclose(self) -> None:
        """Free accelerator memory held by cached allocations; the weights stay loaded."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _generate_isolating_failures(
        self, requests: list[Request], context: GenerationContext | None
    ) -> list[Generation]:
        try:
            return self._generate_same_config(requests, context)
        except Exception as exc:  # noqa: BLE001  (a batch that fails as a whole is retried row by row)
            if len(requests) == 1:
                return [Generation(outcome="error", error=f"{type(exc).__name__}: {exc}")]
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            return [self._generate_isolating_failures([r], context)[0] for r in requests]

    def _generate_same_config(self, requests: list[Request], context: GenerationContext | None) -> list[Generation]:
        prepared = self.prepare_inputs(requests)
        results: list[Generation] = [
            Generation(outcome="error", error=prepared.errors.get(i, "not generated")) for i in range(len(requests))
        ]
        if not prepared.indices:
            return results
        config = requests[prepared.indices[0]].config
        hooks = context(prepared) if context is not None else nullcontext()
        sampling = config.temperature > 0
        options: dict[str, Any] = {
            "max_new_tokens": config.max_tokens,
            "do_sample": sampling,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sampling:
            options.update(temperature=config.temperature, top_p=config.top_p or 1.0, top_k=0)
        else:  # checkpoints often ship sampling defaults; greedy must not warn about them
            options.update(temperature=None, top_p=None, top_k=None)
        fork_devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices, device_type=self.device.type), hooks:
            if sampling and config.seed is not None:
                torch.manual_seed(config.seed)
            with torch.inference_mode():
                output = self.model.generate(**prepared.inputs, **options)
        new_tokens = output[:, prepared.prompt_length :].cpu()
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        prompt_lengths = prepared.inputs["attention_mask"].sum(dim=1).tolist()
        for row, position in enumerate(prepared.indices):
            results[position] = Generation(
                outcome="ok",
                text=texts[row].strip(),
                usage=Usage(
                    prompt_tokens=int(prompt_lengths[row]),
                    completion_tokens=self._count_generated(new_tokens[row]),
                ),
            )
        return results

    def _count_generated(self, tokens: torch.Tensor) -> int:
        """Tokens up to and including the first end-of-sequence token (the rest is padding)."""
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        for index, token in enumerate(tokens.tolist()):
            if token in eos_ids:
                return index + 1
        return int(tokens.shape[0])
