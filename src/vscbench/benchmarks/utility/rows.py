"""Rows of the published POPE and ScienceQA schemas -> :class:`~vscbench.schema.Sample`.

Images arrive as dataset structs (``{"bytes": ..., "path": ...}``), PIL images, or paths; each is
written once into a content-addressed cache folder (``<sha256>.<ext>``) so a sample's
``image_path`` is a plain file like every other benchmark's. POPE asks 9,000 questions about 500
images, so content addressing also keeps the cache 18 times smaller than one file per row.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vscbench.benchmarks.findings import Finding
from vscbench.benchmarks.utility.prompts import OPTION_LETTERS, pope_prompt, scienceqa_prompt
from vscbench.schema import Sample

POPE_COLUMNS = ("image", "question", "answer", "category")
#: ``hint`` (the context) is published too, but a file without it is still usable.
SCIENCEQA_COLUMNS = ("image", "question", "choices", "answer", "subject")
#: ScienceQA columns copied into ``Sample.meta`` when present, for slicing results later.
SCIENCEQA_EXTRA = ("grade", "topic", "category", "skill", "task")

_FORMAT_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}


class RowProblem(Exception):
    """A row that cannot become a sample; carries the finding that explains why."""

    def __init__(self, kind: str, column: str | None, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.column, self.detail = kind, column, detail


def default_image_cache() -> Path:
    """Where dataset images are materialised unless the caller says otherwise."""
    root = os.environ.get("VSCBENCH_CACHE_DIR") or Path.home() / ".cache" / "vscbench"
    return Path(root) / "utility_images"


_MAGIC = (
    (b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)  # fmt: skip


def _image_extension(data: bytes) -> str:
    """The file extension for encoded image bytes: magic numbers first (no decoding), then PIL."""
    for magic, extension in _MAGIC:
        if data.startswith(magic):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            return _FORMAT_EXTENSIONS.get(opened.format or "", (opened.format or "img").lower())
    except (UnidentifiedImageError, OSError) as error:
        raise RowProblem("undecodable_image", "image", f"image bytes are not an image: {error}")


def store_image_bytes(data: bytes, cache_dir: Path) -> Path:
    """Write ``data`` to ``cache_dir/<sha[:2]>/<sha256>.<ext>`` unless it is there; return it.

    The write goes through a temporary file and an atomic rename, so parallel loaders and an
    interrupted run never leave a half-written image behind a valid name.
    """
    digest = hashlib.sha256(data).hexdigest()
    target = cache_dir / digest[:2] / f"{digest}.{_image_extension(data)}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def image_bytes(value: Any, base_dir: Path | None) -> bytes | None:
    """The encoded bytes of an image cell in any of the forms the published files use.

    ``None``/empty means the row has no image (ScienceQA's text-only questions). A path is
    resolved against ``base_dir`` (the folder of a JSONL file). Base64 text is accepted in
    ``bytes`` because JSON cannot hold raw bytes.
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) or None
    if isinstance(value, str):
        return _read_image_path(value, base_dir) if value.strip() else None
    if isinstance(value, Mapping):
        raw = value.get("bytes")
        if isinstance(raw, str) and raw:
            try:
                return base64.b64decode(raw, validate=True)
            except ValueError as error:
                raise RowProblem("undecodable_image", "image", f"bytes are not base64: {error}")
        if raw:
            return bytes(raw)
        path = value.get("path")
        return _read_image_path(path, base_dir) if path else None
    if hasattr(value, "save"):  # a decoded PIL image
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    raise RowProblem("undecodable_image", "image", f"unsupported image value {type(value).__name__}")


def _read_image_path(path: str, base_dir: Path | None) -> bytes:
    candidate = Path(path)
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if not candidate.is_file():
        raise RowProblem("missing_image", "image", f"image file {candidate} does not exist")
    return candidate.read_bytes()


def _text(row: Mapping[str, Any], column: str, required: bool = True) -> str:
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowProblem("missing_value", column, f"column {column!r} is empty")
        return ""
    return str(value).strip()


def pope_sample(row: Mapping[str, Any], row_index: int, image_path: Path | None, source_file: str) -> Sample:
    """One POPE row -> Sample. The id is ``pope/<category>/<question_id>`` when the row has a
    question id (it restarts at 1 in each category), else ``pope/<id>`` or the row index."""
    question = _text(row, "question")
    category = _text(row, "category").lower()
    gold = _text(row, "answer").lower().rstrip(".")
    if gold not in ("yes", "no"):
        raise RowProblem("bad_answer", "answer", f"answer {row.get('answer')!r} is not yes/no")
    if image_path is None:
        raise RowProblem("missing_image", "image", "POPE row has no image")
    question_id = row.get("question_id")
    if question_id not in (None, ""):
        sample_id = f"pope/{category}/{question_id}"
    elif row.get("id") not in (None, ""):
        sample_id = f"pope/{row['id']}"
    else:
        sample_id = f"pope/row{row_index}"
    meta = {
        "benchmark": "pope",
        "gold": gold,
        "question": question,
        "question_id": None if question_id is None else str(question_id),
        "image_source": row.get("image_source"),
    }
    return Sample(
        id=sample_id,
        subset="pope",
        category=category,
        variant="image",
        label="safe",
        prompt=pope_prompt(question),
        image_path=image_path,
        source_file=source_file,
        source_row=row_index,
        meta=meta,
    )


def scienceqa_sample(row: Mapping[str, Any], row_index: int, image_path: Path | None, source_file: str) -> Sample:
    """One ScienceQA row -> Sample; ``meta`` keeps the options and the gold index and letter."""
    question = _text(row, "question")
    subject = _text(row, "subject").lower()
    choices = row.get("choices")
    if not isinstance(choices, (list, tuple)) or len(choices) < 2:
        raise RowProblem("bad_choices", "choices", f"choices {choices!r} is not a list of 2+")
    if len(choices) > len(OPTION_LETTERS):
        raise RowProblem("bad_choices", "choices", f"{len(choices)} choices is too many")
    choices = [str(choice) for choice in choices]
    answer = row.get("answer")
    try:
        gold_index = int(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RowProblem("bad_answer", "answer", f"answer {answer!r} is not an option index")
    if not 0 <= gold_index < len(choices):
        raise RowProblem("bad_answer", "answer", f"answer {gold_index} is outside 0..{len(choices) - 1}")
    hint = _text(row, "hint", required=False)
    sample_id = f"scienceqa/{row['id']}" if row.get("id") not in (None, "") else f"scienceqa/{row_index}"
    meta: dict[str, Any] = {
        "benchmark": "scienceqa",
        "gold_index": gold_index,
        "gold_letter": OPTION_LETTERS[gold_index],
        "choices": choices,
        "question": question,
        "hint": hint,
    }
    meta.update({key: row[key] for key in SCIENCEQA_EXTRA if row.get(key) not in (None, "")})
    return Sample(
        id=sample_id,
        subset="scienceqa",
        category=subject,
        variant="image" if image_path is not None else "text",
        label="safe",
        prompt=scienceqa_prompt(question, choices, hint),
        image_path=image_path,
        source_file=source_file,
        source_row=row_index,
        meta=meta,
    )


SampleBuilder = Callable[[Mapping[str, Any], int, "Path | None", str], Sample]
BUILDERS: dict[str, SampleBuilder] = {"pope": pope_sample, "scienceqa": scienceqa_sample}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {"pope": POPE_COLUMNS, "scienceqa": SCIENCEQA_COLUMNS}


def finding_for(problem: RowProblem, source_file: str, row_index: int) -> Finding:
    """A finding located by the 0-based row of the loaded split (these files have no sheet rows)."""
    return Finding(problem.kind, source_file, row_index, problem.column, problem.detail)
