"""Typed records shared by every stage: samples in, requests out, responses and verdicts back.

Every stage of the pipeline reads and writes these records and nothing else, so a stage can be
replaced, cached or resumed without knowing the internals of the one before it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Subset = Literal["image_centric", "text_centric"]
Label = Literal["safe", "unsafe"]

#: Variants of a sample. Image-centric samples use the image slot of their row (``slot_0``..
#: ``slot_2``); text-centric samples use the attack that produced the image, or ``text`` for the
#: text-only query.
IMAGE_CENTRIC_VARIANTS = ("slot_0", "slot_1", "slot_2")
TEXT_CENTRIC_VARIANTS = ("text", "search", "typography", "concat", "figstep")

ImageFormat = Literal["auto", "png", "file-as-png", "pil-native", "pil-resave-as-jpeg"]
"""How image files are encoded for an API (see :attr:`GenerationConfig.image_format`)."""
CallStyle = Literal["vscbench", "released"]
"""Which settings a model call carries (see :attr:`GenerationConfig.call_style`)."""

Outcome = Literal["ok", "blocked", "error", "empty"]
"""How a model call ended: an answer, a provider content-filter block, a failure after retries,
or a reply with no text (empty or whitespace only, or a provider stop such as Gemini's
MAX_TOKENS with nothing written). ``empty`` is final (asking again gives the same) but it is
no answer: it is never judged and never scored, only counted."""

VerdictLabel = Literal[
    "refusal", "warning", "compliance", "irrelevant", "invalid", "uncertain", "blocked", "error", "empty"
]
"""Judge classes (the first four), plus ``invalid`` (judge output unusable), ``uncertain`` (the
judge's confidence was below its threshold: it abstained, and a cascade passes the answer on)
and the run outcomes."""

JUDGED_CLASSES = ("refusal", "warning", "compliance", "irrelevant")
UNCERTAIN = "uncertain"
"""A judge's abstention. Not a class and never a score: counted apart, under its own name, like a
failure, until a cascade's next judge resolves it."""
FAILURE_LABELS = ("invalid", UNCERTAIN, "blocked", "error", "empty")
"""Labels of a sample whose answer has no usable verdict: never scored as a refusal or an answer."""
MISSING = "missing"
"""Pseudo-label of a sample that has no verdict: counted and treated like a failure."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sample(Record):
    """One image-text query of a benchmark, with what is needed to score the answer.

    ``image_path`` is a path only: the loader never reads image bytes, so a full benchmark loads
    in milliseconds and a missing image is reported, not raised.
    """

    id: str
    subset: str
    category: str
    variant: str
    label: Label
    prompt: str
    """The text sent with the image (for FigStep the benchmark's instruction)."""
    image_path: Path | None = None
    pair_key: str | None = None
    question: str | None = None
    """The original question in plain words, which judges read (text-centric: the XSTest
    prompt, ``prompt_origin``); ``None`` when it is the prompt itself."""
    source_file: str | None = None
    source_row: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_unsafe(self) -> bool:
        return self.label == "unsafe"

    @property
    def original_question(self) -> str:
        """What the judge is told was asked: ``question``, else (samples stored before that field
        existed) the row's ``prompt_origin``, else the prompt as sent."""
        return self.question or self.meta.get("prompt_origin") or self.prompt


class TextPart(Record):
    type: Literal["text"] = "text"
    text: str


class ImagePart(Record):
    """An image in a message. ``sha256`` is the hash of the file's bytes, filled when a request is
    built, so that a changed image never reuses a cached answer."""

    type: Literal["image"] = "image"
    path: Path
    sha256: str | None = None


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(Record):
    role: Literal["system", "user", "assistant"]
    content: list[Part]

    @classmethod
    def user(
        cls, text: str, image: Path | None = None, image_sha256: str | None = None, text_first: bool = False
    ) -> Message:
        parts: list[TextPart | ImagePart] = [TextPart(text=text)]
        if image is not None:
            image_part = ImagePart(path=image, sha256=image_sha256)
            parts = [*parts, image_part] if text_first else [image_part, *parts]
        return cls(role="user", content=parts)

    @classmethod
    def text(cls, role: Literal["system", "user", "assistant"], text: str) -> Message:
        return cls(role=role, content=[TextPart(text=text)])

    @property
    def text_content(self) -> str:
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        return [p for p in self.content if isinstance(p, ImagePart)]


class GenerationConfig(Record):
    """Decoding settings. All of them are part of a response's cache key."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = 0
    system_prompt: str | None = None
    max_image_side: int = 1024
    response_schema: dict[str, Any] | None = None
    """A JSON schema the answer must follow, for backends with structured output (LLM judges)."""
    image_format: ImageFormat = "auto"
    """How an image file becomes the bytes sent. ``auto``: RGB JPEG/PNG files within the size
    cap are sent byte for byte, others re-encoded; ``png``: every image as a PNG. The other
    three are the released VSCBench code's encodings, one per provider (``--preset paper``):
    ``file-as-png`` (OpenAI: the file's own bytes, whatever their format, labelled
    ``image/png``), ``pil-native`` (Claude: re-encoded by Pillow in its own format with its real
    MIME type, WEBP as RGB JPEG, other formats refused) and ``pil-resave-as-jpeg`` (Gemini:
    re-saved by Pillow in its own format, labelled ``image/jpeg``)."""
    text_first: bool = False
    """Put the prompt before the image in the user message (the released code's order for
    OpenAI models); by default the image comes first."""
    call_style: CallStyle = "vscbench"
    """Which settings a call carries. ``vscbench``: every setting above that the provider
    takes. ``released``: only what the released VSCBench code sends for the provider
    (OpenAI: ``temperature`` and ``max_tokens``, never ``max_completion_tokens`` or ``seed``,
    the user turn always as a list of parts; Anthropic: ``max_tokens`` and no sampling setting;
    Gemini: no generation setting at all, so the provider's defaults apply)."""

    def key_fields(self) -> dict[str, Any]:
        """The settings as they enter a cache key. Fields added after the first release are left
        out while at their default, so adding a setting never invalidates stored answers."""
        fields = self.model_dump(mode="json")
        for name, default in _LATER_CONFIG_DEFAULTS.items():
            if fields.get(name) == default:
                fields.pop(name)
        return fields


#: Settings added to GenerationConfig after stores existed, with their defaults.
_LATER_CONFIG_DEFAULTS: dict[str, Any] = {"image_format": "auto", "text_first": False, "call_style": "vscbench"}


class Request(Record):
    """What is sent to a model for one sample, after any calibration method was applied."""

    sample_id: str
    messages: list[Message]
    config: GenerationConfig = Field(default_factory=GenerationConfig)
    method: str = "none"
    meta: dict[str, Any] = Field(default_factory=dict)

    def cache_key(self, model_spec: str) -> str:
        """Content address of the answer: everything that determines it, nothing that does not.

        The sample id is deliberately left out: two samples asking the same thing with the same
        image bytes share one answer. Image paths are left out too; their content hash is in.
        """
        messages = []
        for message in self.messages:
            parts = []
            for part in message.content:
                if isinstance(part, ImagePart):
                    if part.sha256 is None:
                        raise ValueError(
                            f"image {part.path} has no content hash; build requests with "
                            "vscbench.engine.requests.build_request so images are hashed"
                        )
                    parts.append({"type": "image", "sha256": part.sha256})
                else:
                    parts.append({"type": "text", "text": part.text})
            messages.append({"role": message.role, "content": parts})
        payload = {
            "model": model_spec,
            "config": self.config.key_fields(),
            "method": self.method,
            "messages": messages,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Usage(Record):
    """Tokens of one call as the provider reported them. ``prompt_tokens`` includes
    ``cached_tokens`` (input read from the provider's prompt cache, billed at a lower rate)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


class Response(Record):
    """A model's answer to one request, or the reason there is none.

    ``blocked`` and ``error`` are kept apart from answers: they are never scored as a refusal or
    as a compliance, only counted.
    """

    key: str
    sample_id: str
    model: str
    outcome: Outcome
    text: str | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    attempts: int = 1
    created_at: str = Field(default_factory=utc_now)


class Verdict(Record):
    """A judge's classification of one response."""

    response_key: str
    sample_id: str
    judge: str
    label: VerdictLabel
    reason: str | None = None
    raw: str | None = None
    created_at: str = Field(default_factory=utc_now)
    confidence: float | None = None
    """The judge's confidence in ``label`` (0..1), where it states one."""
    decided_by: str | None = None
    """The key of the judge that reached this verdict: the judge itself, or for a cascade the
    member that decided (``offline@v4`` or ``openai:gpt-4o-mini@3f2a91c0d4``)."""


class RunSpec(Record):
    """What a run was asked to do, stored with it so results can be traced and repeated.

    The selection fields (benchmark, data, subset, variants, categories, limit, seed and the
    FigStep instruction) say exactly which samples the run holds: a run name is never reused
    for another selection (see :meth:`selection`).
    """

    name: str
    model: str
    data: str | None = None
    subset: str = "all"
    variants: list[str] | None = None
    method: str = "none"
    config: GenerationConfig = Field(default_factory=GenerationConfig)
    limit: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=utc_now)
    benchmark: str = "vscbench"
    categories: list[str] | None = None
    seed: int | None = None
    """Seed of the stratified ``limit`` sample."""
    figstep_instruction: str | None = None
    """The instruction sent with FigStep images (``None``: none were asked)."""
    preset: str | None = None

    def selection(self) -> dict[str, Any]:
        """What decides which samples the run holds (compared when a run name is reused)."""
        return {
            "benchmark": self.benchmark,
            "data": self.data,
            "subset": self.subset,
            "variants": sorted(self.variants) if self.variants else None,
            "categories": sorted(self.categories) if self.categories else None,
            "limit": self.limit,
            "seed": self.seed if self.limit else None,
            "figstep_instruction": self.figstep_instruction,
        }
