"""From samples to requests: which samples to ask, and the exact messages sent for each.

Building a request hashes its image, because the hash is part of the answer's cache key. Hashes
are remembered per (path, mtime, size) so that a re-run, or a resumed run that seeds the cache
from the store, does not read every image again.

Calibration methods plug in through ``transform``: a callable mapping a built Request to the
Request actually sent (it should set ``Request.method`` so the cache key tells methods apart).
"""

from __future__ import annotations

import os
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from vscbench.images import file_sha256
from vscbench.schema import GenerationConfig, Message, Request, Sample

RequestTransform = Callable[[Request], Request]
"""A prompting method: Request in, Request out (see ``vscbench.methods``)."""

FileStamp = tuple[int, int]
"""(mtime_ns, size) of a file: when either changes, the file is hashed again."""


class ImageHashCache:
    """Content hashes of image files, reused while a file's mtime and size are unchanged.

    Thread-safe. ``entries`` can be persisted (the store keeps them) and loaded back with
    :meth:`update`, so a new process skips hashing files it already knows.
    """

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[FileStamp, str]] = {}
        self._lock = threading.Lock()
        self.hashed = 0
        """How many files this cache actually read (a resumed run should read none)."""

    def sha256(self, path: str | os.PathLike[str]) -> str:
        key = os.fspath(path)
        info = os.stat(key)
        stamp = (info.st_mtime_ns, info.st_size)
        with self._lock:
            known = self._hashes.get(key)
        if known is not None and known[0] == stamp:
            return known[1]
        digest = file_sha256(key)
        with self._lock:
            self._hashes[key] = (stamp, digest)
            self.hashed += 1
        return digest

    def update(self, entries: Iterable[tuple[str, int, int, str]]) -> None:
        """Add known hashes as (path, mtime_ns, size, sha256) rows."""
        with self._lock:
            for path, mtime_ns, size, digest in entries:
                self._hashes[path] = ((mtime_ns, size), digest)

    def entries(self) -> list[tuple[str, int, int, str]]:
        with self._lock:
            return [(path, stamp[0], stamp[1], digest) for path, (stamp, digest) in self._hashes.items()]


#: The process-wide cache used when no cache is passed.
default_hash_cache = ImageHashCache()


def build_request(
    sample: Sample,
    config: GenerationConfig | None = None,
    method: str = "none",
    hashes: ImageHashCache | None = None,
) -> Request:
    """The plain request for a sample: the config's system prompt (if any), then one user
    message holding the image (hashed) and the prompt."""
    config = config or GenerationConfig()
    messages: list[Message] = []
    if config.system_prompt:
        messages.append(Message.text("system", config.system_prompt))
    image_sha256 = None
    if sample.image_path is not None:
        image_sha256 = (hashes or default_hash_cache).sha256(sample.image_path)
    messages.append(Message.user(sample.prompt, sample.image_path, image_sha256, text_first=config.text_first))
    return Request(sample_id=sample.id, messages=messages, config=config, method=method)


def unsent_key(sample: Sample) -> str:
    """The key a sample of a run that is never sent is recorded under; no response is ever
    stored there, so scores count it as missing. ``--preset paper`` keeps such samples: the
    rows the released code sends and this tool cannot (an empty prompt, a missing image)."""
    return f"unsent:{sample.id}"


def build_requests(
    samples: Iterable[Sample],
    config: GenerationConfig | None = None,
    transform: RequestTransform | None = None,
    hashes: ImageHashCache | None = None,
) -> list[Request]:
    """Requests for many samples, each passed through ``transform`` when one is given."""
    requests = [build_request(sample, config, hashes=hashes) for sample in samples]
    if transform is not None:
        requests = [transform(request) for request in requests]
    return requests


def select_samples(
    samples: Sequence[Sample],
    subset: str = "all",
    variants: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int | None = 0,
    shares: Literal["proportional", "equal"] = "proportional",
) -> list[Sample]:
    """Filter samples, then (with ``limit``) take a stratified sample of them.

    ``categories`` match a sample's category or, for text-centric samples, its XSTest type
    (``contrast_homonyms`` selects the unsafe half of ``homonyms``).

    The limit is shared among (subset, label) groups in proportion to their sizes (largest
    remainders; every group gets at least one sample when the limit allows), so a limited run
    weighs the groups as the full selection does and its pooled figures estimate the same
    thing; a quick 100-sample run still measures both sides of both subsets. ``shares="equal"``
    gives every group the same share instead (a group smaller than its share gives the rest to
    the others): a balanced set for building steering data, not an estimate. Within a subset, whole safe/unsafe twin pairs (same ``pair_key``) are
    taken first, so pair calibration can be measured on a small run too. The choice is deterministic for a seed, and the result keeps the
    original order.
    """
    chosen = [
        s
        for s in samples
        if (subset in (None, "all") or s.subset == subset)
        and (not variants or s.variant in variants)
        and (not categories or s.category in categories or s.meta.get("type") in categories)
    ]
    if limit is None or limit >= len(chosen):
        return chosen
    if limit <= 0:
        return []
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, sample in enumerate(chosen):
        groups[(sample.subset, sample.label)].append(index)
    sizes = {group: len(members) for group, members in groups.items()}
    quota = proportional_quota(sizes, limit) if shares == "proportional" else equal_quota(sizes, limit)
    rng = random.Random(seed if seed is not None else 0)
    keep: set[int] = set()
    for subset_name in sorted({g[0] for g in groups}):
        # whole safe/unsafe twin pairs first, so a small run still measures pair calibration
        twins: dict[str, dict[str, int]] = defaultdict(dict)
        for label in ("safe", "unsafe"):
            for index in groups.get((subset_name, label), []):
                key = chosen[index].pair_key
                if key and label not in twins[key]:
                    twins[key][label] = index
        pairs = sorted(tuple(t.values()) for t in twins.values() if len(t) == 2)
        wanted = min(quota.get((subset_name, "safe"), 0), quota.get((subset_name, "unsafe"), 0), len(pairs))
        for pair in rng.sample(pairs, wanted):
            keep.update(pair)
        for label in ("safe", "unsafe"):
            group = (subset_name, label)
            if group not in groups:
                continue
            rest = [i for i in groups[group] if i not in keep]
            keep.update(rng.sample(rest, quota[group] - wanted))
    return [chosen[i] for i in sorted(keep)]


def proportional_quota(sizes: dict[tuple[str, str], int], limit: int) -> dict[tuple[str, str], int]:
    """``limit`` shared in proportion to ``sizes`` (largest remainders, ties in name order), at
    least one per group while the limit allows; no group gets more than it has."""
    total = sum(sizes.values())
    names = sorted(sizes)
    floor = {name: min(1, sizes[name]) if limit >= len(names) else 0 for name in names}
    left = limit - sum(floor.values())
    exact = {name: left * sizes[name] / total for name in names}
    quota = {name: min(sizes[name], floor[name] + int(exact[name])) for name in names}
    order = sorted(names, key=lambda n: (-(exact[n] - int(exact[n])), n))
    spare = min(limit, total) - sum(quota.values())
    while spare > 0:
        for name in (n for n in order if quota[n] < sizes[n]):
            quota[name] += 1
            spare -= 1
            if spare == 0:
                break
    return quota


def equal_quota(sizes: dict[tuple[str, str], int], limit: int) -> dict[tuple[str, str], int]:
    """``limit`` shared equally (ties in name order); a group smaller than its share gives the
    rest to the others."""
    quota = dict.fromkeys(sizes, 0)
    left, open_groups = limit, sorted(sizes)
    while left > 0 and open_groups:
        share, extra = divmod(left, len(open_groups))
        for position, group in enumerate(open_groups):
            grant = min(share + (1 if position < extra else 0), sizes[group] - quota[group])
            quota[group] += grant
            left -= grant
        open_groups = [g for g in open_groups if quota[g] < sizes[g]]
    return quota
