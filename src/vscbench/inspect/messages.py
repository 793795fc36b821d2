"""Between our records and Inspect's: samples become Inspect samples, messages cross both ways.

An Inspect sample carries the messages `vscbench run` would send for it (built by
:func:`vscbench.engine.requests.build_request`, so the system prompt, the order of image and text and
the image bytes are the same), and our :class:`~vscbench.schema.Sample` in its metadata, so
solvers, the scorer, the metrics and the log importer all read the same record.

Images: a file that every vision API accepts as it is (an RGB JPEG or PNG within the size cap)
is passed by path, and Inspect reads and sends its bytes unchanged; any other file is prepared
by :func:`vscbench.images.data_url` exactly as our own backends prepare it and passed inline.
Images that a solver adds at run time (few-shot demonstrations) are always inline: Inspect
only reads files named in a sample's input before the evaluation starts.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    Content,
    ContentImage,
    ContentText,
)

from vscbench.engine.requests import ImageHashCache, build_request
from vscbench.images import data_url, prepared_bytes
from vscbench.schema import GenerationConfig, ImagePart, Message, Request, Sample, TextPart

#: Metadata key of an Inspect sample holding our Sample record (as JSON).
SAMPLE_KEY = "vscbench_sample"
#: Flat metadata fields copied next to it, for Inspect's ``grouped()`` metrics and the viewer.
FLAT_FIELDS = ("subset", "category", "variant", "label", "pair_key")


class UnsupportedMessageError(ValueError):
    """A message our prompting methods cannot carry (tool calls, audio, video...)."""


def image_reference(path: Path, config: GenerationConfig, file_sha256: str | None = None) -> str:
    """What an Inspect ContentImage holds for a sample's image: the path when the file goes to
    the API byte for byte, otherwise a data URL of the image as our backends send it.

    ``file_sha256`` (the file's hash, known once a request is built) saves reading it twice."""
    data, mime = prepared_bytes(path, config.max_image_side, config.image_format)
    digest = file_sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    if hashlib.sha256(data).hexdigest() == digest:
        return str(path)
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def to_inspect_messages(messages: Sequence[Message], image: Callable[[ImagePart], Content]) -> list[ChatMessage]:
    """Our messages as Inspect chat messages; ``image`` turns each image part into content."""
    out: list[ChatMessage] = []
    for message in messages:
        parts: list[Content] = [
            image(part) if isinstance(part, ImagePart) else ContentText(text=part.text) for part in message.content
        ]
        if message.role == "system":
            out.append(ChatMessageSystem(content=message.text_content))
        elif message.role == "assistant":
            out.append(ChatMessageAssistant(content=message.text_content))
        else:
            out.append(ChatMessageUser(content=parts))
    return out


def inspect_sample(sample: Sample, config: GenerationConfig, hashes: ImageHashCache | None = None) -> InspectSample:
    """The Inspect sample for one of ours: the request `vscbench run` would send, our record in
    the metadata, and the label (safe or unsafe) as the target."""
    request = build_request(sample, config, hashes=hashes)
    digest = next((part.sha256 for m in request.messages for part in m.images), None)

    def image(part: ImagePart) -> Content:
        return ContentImage(image=image_reference(part.path, config, part.sha256))

    metadata: dict[str, Any] = {field: getattr(sample, field) for field in FLAT_FIELDS}
    metadata[SAMPLE_KEY] = sample.model_dump(mode="json")
    metadata["image_sha256"] = digest
    return InspectSample(
        id=sample.id, input=to_inspect_messages(request.messages, image), target=sample.label, metadata=metadata
    )


def sample_from_metadata(metadata: dict[str, Any] | None) -> Sample | None:
    """Our Sample record from an Inspect sample's metadata (None when it holds none)."""
    if not metadata or SAMPLE_KEY not in metadata:
        return None
    return Sample.model_validate(metadata[SAMPLE_KEY])


# -- Inspect messages -> our Request and back, so our prompting methods apply to a TaskState --


def _placeholder(index: int) -> ImagePart:
    token = f"inspect-image-{index}"
    return ImagePart(path=Path(token), sha256=token)


def request_from_state(sample_id: str, messages: Sequence[ChatMessage]) -> tuple[Request, dict[str, ContentImage]]:
    """A Request holding the state's messages; each image becomes a placeholder part, returned
    with the content it stands for so :func:`messages_from_request` can put it back untouched."""
    images: dict[str, ContentImage] = {}
    converted: list[Message] = []
    for message in messages:
        if message.role not in ("system", "user", "assistant"):
            raise UnsupportedMessageError(
                f"sample {sample_id}: a {message.role} message cannot go through a vscbench prompting method; "
                "put the method before any tool-using solver"
            )
        if isinstance(message.content, str):
            converted.append(Message.text(message.role, message.content))
            continue
        parts: list[TextPart | ImagePart] = []
        for content in message.content:
            if isinstance(content, ContentText):
                parts.append(TextPart(text=content.text))
            elif isinstance(content, ContentImage):
                placeholder = _placeholder(len(images))
                images[str(placeholder.path)] = content
                parts.append(placeholder)
            else:
                raise UnsupportedMessageError(
                    f"sample {sample_id}: {content.type} content cannot go through a vscbench prompting method"
                )
        converted.append(Message(role=message.role, content=parts))
    return Request(sample_id=sample_id, messages=converted), images


def messages_from_request(
    request: Request, images: dict[str, ContentImage], config: GenerationConfig
) -> list[ChatMessage]:
    """The Inspect messages of a transformed request: the state's own images as they were, and
    images the method added (few-shot demonstrations) inline, prepared as our backends do."""

    def image(part: ImagePart) -> Content:
        known = images.get(str(part.path))
        if known is not None:
            return known
        return ContentImage(image=data_url(str(part.path), config.max_image_side, config.image_format))

    return to_inspect_messages(request.messages, image)


def content_image_sha256(image: str, attachments: dict[str, str] | None = None) -> str:
    """A stable hash of an image as a log holds it: the bytes of a data URL (after resolving an
    ``attachment://`` reference), else the reference text itself."""
    if image.startswith("attachment://") and attachments:
        image = attachments.get(image.removeprefix("attachment://"), image)
    if image.startswith("data:") and ";base64," in image:
        try:
            return hashlib.sha256(base64.b64decode(image.split(";base64,", 1)[1])).hexdigest()
        except ValueError:
            pass
    return hashlib.sha256(image.encode("utf-8")).hexdigest()
