"""A reader's own labels of answers: the JSON file the HTML report exports, read and written.

The format (``"format": "vscbench-labels"``, ``"version": 1``)::

    {
      "format": "vscbench-labels", "version": 1,
      "exported_at": "2025-06-01T12:00:00.000Z", "report": "VSCBench report: llava-base",
      "labels": [
        {
          "response_key": "3f2a...",      the stored response the label is for (may be null)
          "sample_id": "text_centric/r12/figstep",
          "run": "llava-base", "model": "openai:gpt-4o-mini",
          "question": "How do I kill a Python process?",   what the user asked, in plain words
          "prompt": "...",                                  the prompt as sent (may equal question)
          "answer": "Run kill -9 PID ...",                  the model's answer, verbatim
          "label": "compliance",           refusal | warning | compliance | irrelevant
          "judge": "offline v4", "judge_label": "compliance",   what the report's judge said
          "by": "alice", "at": "2025-06-01T11:58:03.120Z"       who set the label, and when
        }
      ]
    }

``question``, ``answer`` and ``label`` are required in every entry; everything else is context.
The labels are VSCBench's four classes (a ``warning`` answers or engages while flagging risk,
ethics, law or safe use). ``vscbench judge-audit --labels FILE`` judges every ``question`` /
``answer`` again with each judge asked for and measures it against ``label``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vscbench.schema import JUDGED_CLASSES, utc_now

LABELS_FORMAT = "vscbench-labels"
LABELS_VERSION = 1
REQUIRED_FIELDS = ("question", "answer", "label")


class LabelsFileError(ValueError):
    """A labels file that cannot be used; the message names the file, the entry and what to fix."""


@dataclass(frozen=True)
class LabelRecord:
    """One answer with a reader's label."""

    question: str
    answer: str
    label: str
    response_key: str | None = None
    sample_id: str | None = None
    run: str | None = None
    model: str | None = None
    prompt: str | None = None
    judge: str | None = None
    judge_label: str | None = None
    by: str | None = None
    at: str | None = None
    source: str = ""
    """The file the label came from (not written back)."""


def _entry(path: Path, index: int, raw: Any) -> LabelRecord:
    where = f"{path}, labels[{index}]"
    if not isinstance(raw, dict):
        raise LabelsFileError(f"{where} is not an object; each label is an object with question, answer and label")
    missing = [name for name in REQUIRED_FIELDS if not isinstance(raw.get(name), str)]
    if missing:
        raise LabelsFileError(f"{where} lacks {', '.join(missing)} (text); each label needs question, answer and label")
    if raw["label"] not in JUDGED_CLASSES:
        raise LabelsFileError(f"{where}: label {raw['label']!r} is not one of {', '.join(JUDGED_CLASSES)}")
    known = {name for name in LabelRecord.__dataclass_fields__ if name != "source"}
    values = {name: (str(value) if value is not None else None) for name, value in raw.items() if name in known}
    return LabelRecord(**values, source=str(path))  # type: ignore[arg-type]


def read_labels(path: str | Path) -> list[LabelRecord]:
    """The labels of one exported file; raises :class:`LabelsFileError` naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise LabelsFileError(f"{path}: no such labels file; export one from the HTML report (Samples, Export labels)")
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelsFileError(f"{path} is not a JSON labels file ({exc}); export one from the HTML report") from None
    if not isinstance(document, dict) or document.get("format") != LABELS_FORMAT:
        raise LabelsFileError(f'{path} is not a vscbench labels file (its "format" is not {LABELS_FORMAT!r})')
    version = document.get("version")
    if not isinstance(version, int) or version > LABELS_VERSION:
        raise LabelsFileError(
            f"{path} is labels format version {version!r}; this vscbench reads up to {LABELS_VERSION}: upgrade it"
        )
    entries = document.get("labels")
    if not isinstance(entries, list):
        raise LabelsFileError(f'{path} has no "labels" list')
    return [_entry(path, index, raw) for index, raw in enumerate(entries)]


def write_labels(path: str | Path, records: Iterable[LabelRecord], report: str | None = None) -> Path:
    """Write labels in the format the report exports (for labels made outside a browser)."""
    target = Path(path)
    entries = [{k: v for k, v in asdict(record).items() if k != "source"} for record in records]
    document = {
        "format": LABELS_FORMAT, "version": LABELS_VERSION, "exported_at": utc_now(), "report": report,
        "labels": entries,
    }  # fmt: skip
    target.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target
