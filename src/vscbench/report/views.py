"""What the HTML report shows, as plain data: runs, their leaderboard, and the sample payload.

The page holds every sample row of every run, so it is built for size: each distinct sample is
written once (however many runs asked it), each row of a run refers to its sample by position,
and each distinct image has one thumbnail (see :mod:`vscbench.report.thumbs`). The browser
renders rows from this array on demand; nothing here produces HTML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.benchmarks.vscbench_layout import PLACEHOLDER_LABEL
from vscbench.report.tables import (
    NOT_DEFINED,
    SECTION_TITLES,
    TableData,
    format_percent,
    format_with_ci,
    judge_label,
)
from vscbench.report.thumbs import ThumbnailSet
from vscbench.schema import FAILURE_LABELS, MISSING, Response, Sample, Verdict
from vscbench.scoring.metrics import SECTIONS, GroupScore, ScoreReport
from vscbench.scoring.sensitivity import JudgeSensitivity

FAILURE_COLUMNS = (*FAILURE_LABELS, MISSING)
SAMPLE_FIELDS = (
    "id", "subset", "category", "variant", "label", "prompt", "question", "image_text", "image_text_kind",
    "pair", "thumb", "image",
)  # fmt: skip
"""Order of the fields of one sample in the payload (arrays keep 20,000 rows small)."""
ROW_FIELDS = ("run", "sample", "verdict", "outcome", "status", "answer", "reason", "key", "judges")
"""Order of the fields of one row (a run's answer to a sample) in the payload. ``key`` is the
response key (a reader's own label is exported under it); ``judges`` is every judge's label
where the run's judges disagree on the answer, else null."""


@dataclass
class RunData:
    """One run as the report shows it: its scores, its samples and what was answered and judged."""

    name: str
    report: ScoreReport
    samples: Sequence[Sample]
    labels: Mapping[str, str]
    responses: Mapping[str, Response | str] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    """The judge's reason per sample id, where it gave one."""
    model: str | None = None
    method: str | None = None
    data: str | None = None
    date: str | None = None
    note: str | None = None
    """Something the reader must know about this run (not judged yet ...), shown in its banner."""
    sensitivity: JudgeSensitivity | None = None
    """The run's headline under each of its judges, where two or more judged it."""

    def __post_init__(self) -> None:
        info = self.report.provenance
        self.model = self.model or info.get("model") or self.name
        self.method = self.method or info.get("method") or "none"
        self.data = self.data or info.get("data")
        self.date = self.date or info.get("run_updated") or info.get("scored_at")

    @property
    def judge(self) -> dict[str, Any]:
        return dict(self.report.provenance.get("judge") or {})

    @property
    def judge_text(self) -> str:
        return judge_label(self.judge) if self.judge.get("name") else "not judged"

    @property
    def status(self) -> str | None:
        """The run's status in the store (complete, incomplete, interrupted, running), the word
        ``vscbench runs list`` shows for it; None for a run not read from a store."""
        return self.report.provenance.get("run_status")

    @property
    def warning(self) -> str | None:
        """What the reader must know before trusting the run's figures, in one line: its note
        (not judged), its store status when that is not complete, and the share of its samples
        without a score (over 1 %)."""
        unfinished = f"the run is {self.status} (some samples were never answered)" if self.unfinished else None
        parts = [text for text in (self.note, unfinished, self.report.warning()) if text]
        return "; ".join(parts) or None

    @property
    def unfinished(self) -> bool:
        """Whether the store says the run is not complete (the same word as `runs list`)."""
        return self.status not in (None, "complete")

    @property
    def flag(self) -> str | None:
        """The word on the run's leaderboard row: its store status when not complete (as `runs
        list` says it), else what keeps its figures from covering every sample."""
        if self.unfinished:
            return self.status
        if self.note:
            return "not judged"
        return "partly scored" if self.report.warning() else None

    @property
    def banners(self) -> list[str]:
        """Sentences over the report about this run (after its name): placeholder data, and what
        :attr:`warning` says."""
        out = [PLACEHOLDER_LABEL] if self.report.provenance.get("placeholder_images") else []
        if self.unfinished:
            out.append(f"is {self.status}: {self.warning}")
        elif self.note:
            out.append(f"is not judged: {self.warning}")
        elif self.warning:
            out.append(f"is {self.warning}")  # "is partly scored: 3 error of 40 samples ..."
        return out


def labels_and_reasons(
    labels: Mapping[str, str | Verdict] | Iterable[Verdict] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Labels by sample id, and the judges' reasons, from a mapping or a list of Verdicts."""
    if labels is None:
        return {}, {}
    items = labels.items() if isinstance(labels, Mapping) else ((v.sample_id, v) for v in labels)
    out: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for sample_id, item in items:
        if isinstance(item, Verdict):
            out[sample_id] = item.label
            if item.reason:
                reasons[sample_id] = item.reason
        else:
            out[sample_id] = str(item)
    return out, reasons


def answer_text(response: Response | str | None) -> tuple[str, str]:
    """(status, text) of an answer: ``ok`` and the text, or the failure and its message."""
    if response is None:
        return MISSING, ""
    if isinstance(response, str):
        return "ok", response
    if response.outcome == "ok":
        return "ok", response.text or ""
    return response.outcome, f"[{response.outcome}] {response.error or ''}".strip()


def image_text(sample: Sample) -> tuple[str | None, str | None]:
    """The text an image carries and the model must read from it, with what kind it is:
    the key phrase drawn on typography and concat images, the statement of a FigStep image."""
    explicit = sample.meta.get("image_text")
    if explicit:
        return str(explicit), "text in the image"
    if sample.variant in ("typography", "concat") and sample.meta.get("object"):
        return str(sample.meta["object"]), "key phrase in the image"
    if sample.variant == "figstep" and sample.meta.get("prompt_figstep"):
        return str(sample.meta["prompt_figstep"]), "FigStep statement in the image"
    return None, None


def image_link(path: Path | None) -> str | None:
    """A ``file:`` URI of the original image, which the report opens when a thumbnail is clicked."""
    if path is None:
        return None
    try:
        return Path(path).resolve().as_uri()
    except ValueError:
        return None


def page_payload(
    runs: Sequence[RunData], thumbnails: ThumbnailSet | None = None, link_images: bool = True
) -> dict[str, Any]:
    """Everything the sample browser, the twins and the run-vs-run views need, as JSON-able data."""
    samples: list[list[Any]] = []
    positions: dict[tuple[str, str, str], int] = {}
    rows: list[list[Any]] = []
    for run_index, run in enumerate(runs):
        disagreements = {d.sample_id: d.labels for d in run.sensitivity.disagreements} if run.sensitivity else {}
        for sample in run.samples:
            key = (sample.id, sample.prompt, str(sample.image_path))
            position = positions.get(key)
            if position is None:
                position = positions[key] = len(samples)
                question = sample.original_question
                text, kind = image_text(sample)
                samples.append([
                    sample.id, sample.subset, sample.category, sample.variant, sample.label, sample.prompt,
                    question if question != sample.prompt else None, text, kind, sample.pair_key,
                    thumbnails.index(sample.image_path) if thumbnails else None,
                    image_link(sample.image_path) if link_images else None,
                ])  # fmt: skip
            response = run.responses.get(sample.id)
            status, text = answer_text(response)
            rows.append([
                run_index, position, run.labels.get(sample.id, MISSING),
                run.report.outcomes.get(sample.id, "excluded"), status, text, run.reasons.get(sample.id),
                response.key if isinstance(response, Response) else None, disagreements.get(sample.id),
            ])  # fmt: skip
    return {
        "sample_fields": list(SAMPLE_FIELDS),
        "row_fields": list(ROW_FIELDS),
        "runs": [
            {
                "name": run.name,
                "model": run.model,
                "method": run.method,
                "judge": run.judge_text,
                "rule": run.report.rule.name,
                "data": run.data,
                "date": run.date,
                "warning": run.warning,
            }
            for run in runs
        ],
        "samples": samples,
        "rows": rows,
        "thumbs": list(thumbnails.urls) if thumbnails else [],
        "label_scope": hashlib.sha256(
            "\n".join(f"{runs[row[0]].name}\t{samples[row[1]][0]}" for row in rows).encode("utf-8")
        ).hexdigest()[:16],
    }


def script_json(payload: Any) -> str:
    """JSON for a ``<script type="application/json">`` element that no string can break out of:
    ``<``, ``>`` and ``&`` are written as ``\\u`` escapes (so ``</script>`` and ``<!--`` never
    appear), and so are the line separators U+2028/U+2029."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


@dataclass(frozen=True)
class LeaderboardRow:
    """One run in the leaderboard: text cells and the numbers they sort by."""

    run: RunData
    cells: dict[str, str]
    sort: dict[str, float | str]
    titles: dict[str, str] = field(default_factory=dict)
    """Tooltips: the whole text of a cell shown short (a data path, the failures by kind)."""


LEADERBOARD_COLUMNS = (
    ("run", "Run"), ("model", "Model"), ("method", "Method"), ("sra_a", "SRA_a"), ("sra_s", "SRA_s"),
    ("sra_u", "SRA_u"), ("n", "Scored / samples"), ("pairs", "Twins calibrated"), ("failures", "Failures"),
    ("judge", "Judge, rule"), ("data", "Data"), ("date", "Date"),
)  # fmt: skip
"""Every column fits 1,400 pixels: figures over their interval, failures as one count (by kind
in the tooltip), the judge with its rule, the data folder's name and the day."""


def leaderboard(runs: Sequence[RunData]) -> list[LeaderboardRow]:
    """Runs by SRA_a, best first (undefined SRA_a last; ties: more samples scored first), with
    failures and provenance."""
    rows = []
    for run in runs:
        overall, pairs = run.report.overall, run.report.pairs.share
        date = (run.date or "")[:19].replace("T", " ")
        cells = {
            "run": run.name, "model": run.model or "", "method": run.method or "none",
            "n": f"{overall.n} / {overall.samples}", "pairs": format_with_ci(pairs.value, pairs.ci, sep="\n"),
            "judge": f"{run.judge_text}, {run.report.rule.name}", "data": run.data or "not recorded", "date": date,
        }  # fmt: skip
        sort: dict[str, float | str] = {key: value for key, value in cells.items()}
        titles = {"data": run.data or "", "date": date}
        if run.data:  # the folder's name in the cell, the whole path in its tooltip (and sort key)
            cells["data"] = Path(run.data).name or run.data
        cells["date"] = date[:10]
        for metric in ("sra_a", "sra_s", "sra_u"):
            value = getattr(overall, metric)
            cells[metric] = format_with_ci(value, overall.ci[metric], sep="\n")
            sort[metric] = -1.0 if value is None else value
        sort["n"], sort["pairs"] = overall.n, -1.0 if pairs.value is None else pairs.value
        counts = {label: run.report.failure_counts.get(label, 0) for label in FAILURE_COLUMNS}
        cells["failures"], sort["failures"] = str(sum(counts.values())), sum(counts.values())
        titles["failures"] = ", ".join(f"{count} {label}" for label, count in counts.items())
        rows.append(LeaderboardRow(run, cells, sort, titles))
    return sorted(rows, key=lambda row: (-float(row.sort["sra_a"]), -float(row.sort["n"])))


def cross_run_tables(runs: Sequence[RunData], sections: Sequence[str] = SECTIONS) -> list[TableData]:
    """Per breakdown: one row per group, and per run its SRA_s, SRA_u and SRA_a (each over its
    interval; a dash where the group has no such side, as an XSTest type has one), and n."""
    tables = []
    for section in sections:
        per_run = [run.report.section(section) for run in runs]
        groups = list(dict.fromkeys(group for scores in per_run for group in scores))
        rows = [[group, *(cell for scores in per_run for cell in _figures(scores.get(group)))] for group in groups]
        headers = ["Group", *(f"{run.name}: {name}" for run in runs for name in ("SRA_s", "SRA_u", "SRA_a", "n"))]
        tables.append(TableData(f"{SECTION_TITLES[section]}: SRA_s, SRA_u and SRA_a of each run", headers, rows))
    return tables


def _figures(score: GroupScore | None) -> list[str]:
    """A group's SRA_s, SRA_u and SRA_a (over their intervals) and n, or dashes."""
    if score is None:
        return [NOT_DEFINED] * 3 + ["0"]
    return [*(format_with_ci(getattr(score, m), score.ci[m], sep="\n") for m in ("sra_s", "sra_u", "sra_a")),
            str(score.n)]  # fmt: skip


def class_shares(run: RunData) -> str:
    """``refusal 40%, compliance 55% ...``: the run's verdict classes in one line."""
    counts = run.report.classes.get("all", {})
    total = sum(counts.values())
    return ", ".join(f"{label} {format_percent(n / total if total else None)}" for label, n in counts.items())
