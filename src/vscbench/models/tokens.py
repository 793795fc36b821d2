"""Input tokens of a request, estimated offline before anything is sent.

Text: no provider's tokenizer ships offline with vscbench (tiktoken downloads its vocabulary on
first use; Claude and Gemini have no offline tokenizer), so text is counted by a stated
approximation: ``ceil(UTF-8 bytes / 4)``. Against OpenAI's o200k tokenizer it was measured at
-7 % to +13 % on English prompts, answers, docs, code and JSON, and +24 % on Chinese; single
short texts can be off by about 30 %, sums over many calls far less. Each message adds
:data:`MESSAGE_TOKENS` (role and separators) and every request :data:`REPLY_TOKENS` (the
reply's priming), as OpenAI's chat format does; a structured-output schema is counted as text
where the backend sends it (:data:`SCHEMA_PROVIDERS`).

Images: by the provider's published rule (:class:`~vscbench.models.pricing.ImageRule`), for the
size actually sent: the file's size read from its header, downscaled as the backends downscale
(longer side at most ``max_image_side``). The image bytes are never decoded here.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache

from PIL import Image

from vscbench.models.pricing import ImageRule
from vscbench.schema import ImagePart, Request

BYTES_PER_TOKEN = 4
#: Backends that send a request's ``response_schema`` to the provider (Anthropic's has none).
SCHEMA_PROVIDERS = frozenset({"openai", "google"})
MESSAGE_TOKENS = 4
REPLY_TOKENS = 3


def text_tokens(text: str) -> int:
    """The approximation of a text's tokens: ``ceil(UTF-8 bytes / 4)``."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


@lru_cache(maxsize=65536)
def _header_size(path: str, mtime_ns: int) -> tuple[int, int]:
    with Image.open(path) as image:  # reads the header only
        return image.size


def sent_size(path: str | os.PathLike[str], max_side: int | None) -> tuple[int, int]:
    """(width, height) of an image as the backends send it: the longer side capped at
    ``max_side`` (0 or None: as it is), the aspect ratio kept."""
    key = os.fspath(path)
    width, height = _header_size(key, os.stat(key).st_mtime_ns)
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def image_tokens(rule: ImageRule, width: int, height: int) -> int:
    """Tokens of one image of this size under a provider's rule (see ``prices.json``)."""
    w, h = float(width), float(height)
    if rule.rule == "fixed":
        return int(rule.tokens or 0)
    if rule.rule == "tiles":  # fit in 2048 x 2048, then shortest side 768 (both only shrink)
        shrink = min(1.0, 2048 / max(w, h))
        w, h = w * shrink, h * shrink
        shrink = min(1.0, 768 / min(w, h))
        w, h = w * shrink, h * shrink
        return int(rule.base or 0) + int(rule.tile or 0) * math.ceil(w / 512) * math.ceil(h / 512)
    if rule.rule == "patches":  # 32-px patches, at most 1536 (scaled down to fit)
        cap = 1536
        if math.ceil(w / 32) * math.ceil(h / 32) > cap:
            ratio = math.sqrt(32 * 32 * cap / (w * h))
            ratio *= min(math.floor(w * ratio / 32) / (w * ratio / 32), math.floor(h * ratio / 32) / (h * ratio / 32))
            w, h = w * ratio, h * ratio
        patches = min(cap, math.ceil(w / 32) * math.ceil(h / 32))
        return math.ceil(patches * (rule.multiplier or 1.0))
    if rule.rule == "pixels":  # area / pixels_per_token, after the long-edge and token caps
        per_token = rule.pixels_per_token or 750.0
        if rule.max_long_edge:
            shrink = min(1.0, rule.max_long_edge / max(w, h))
            w, h = w * shrink, h * shrink
        if rule.max_tokens and w * h / per_token > rule.max_tokens:
            shrink = math.sqrt(rule.max_tokens * per_token / (w * h))
            w, h = w * shrink, h * shrink
        tokens = math.ceil(w * h / per_token - 1e-9)
        return min(tokens, rule.max_tokens) if rule.max_tokens else tokens
    # gemini_tiles: one unit for a small image, else one per tile
    unit, small, side = int(rule.tokens or 258), int(rule.small_side or 384), int(rule.tile_side or 768)
    if w <= small and h <= small:
        return unit
    return unit * math.ceil(w / side) * math.ceil(h / side)


def request_tokens(request: Request, rule: ImageRule | None, schema_sent: bool = True) -> tuple[int, int]:
    """(estimated input tokens, images left uncounted) of one request. Images are counted by
    ``rule``; with no rule (a local model) they are left out and counted as uncounted. A
    structured-output schema counts where the backend sends one (``schema_sent``)."""
    total, uncounted = REPLY_TOKENS, 0
    side = request.config.max_image_side
    for message in request.messages:
        total += MESSAGE_TOKENS
        for part in message.content:
            if isinstance(part, ImagePart):
                if rule is None:
                    uncounted += 1
                else:
                    total += image_tokens(rule, *sent_size(part.path, side))
            else:
                total += text_tokens(part.text)
    if schema_sent and request.config.response_schema is not None:
        total += text_tokens(json.dumps(request.config.response_schema, separators=(",", ":")))
    return total, uncounted
