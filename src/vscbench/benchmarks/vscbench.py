"""Loader for the official VSCBench release layout.

A release is a folder holding two spreadsheets and two image folders::

    vscbench_image_centric.xlsx        Category, Prompt, safe_img_0..2, unsafe_img_0..2
    vscbench_text_centric.xlsx         type, focus, prompt_origin, prompt_mm, object, search_img,
                                       typography_img, concat_img, prompt_figstep, figstep_img
    vscbench_image_centric_images/<Category>/<file>
    vscbench_text_centric_images/<search|typography|concat|figstep>/<file>

The loader never reads image bytes (it only checks that files exist), reports every defect it
meets as a :class:`~vscbench.benchmarks.findings.Finding`, keeps every sample that can still be asked,
and accounts for the ones it cannot use.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.benchmarks.cells import MAX_PROMPT_CHARS, ImageIndex, NonText, clean_cell, prompt_cell  # noqa: F401
from vscbench.benchmarks.findings import DatasetError, Finding, HasFindings, count_kinds
from vscbench.benchmarks.released import raw_cells, released_samples
from vscbench.benchmarks.sheets import check_columns, missing_columns_error, prompt_warnings, read_sheet
from vscbench.benchmarks.vscbench_layout import (
    CONTRAST_TWINS,
    DEFAULT_FIGSTEP_INSTRUCTION,
    IMAGE_CENTRIC_CATEGORIES,
    IMAGE_CENTRIC_COLUMNS,
    IMAGE_CENTRIC_DIR,
    IMAGE_CENTRIC_FILE,
    PLACEHOLDER_FILE,
    PLACEHOLDER_LABEL,
    TEXT_CENTRIC_CATEGORY,
    TEXT_CENTRIC_COLUMNS,
    TEXT_CENTRIC_DIR,
    TEXT_CENTRIC_FILE,
    TEXT_CENTRIC_TYPES,
    TEXT_IMAGE_VARIANTS,
)
from vscbench.schema import Sample

__all__ = [
    "CONTRAST_TWINS",
    "DEFAULT_FIGSTEP_INSTRUCTION",
    "IMAGE_CENTRIC_CATEGORIES",
    "IMAGE_CENTRIC_COLUMNS",
    "IMAGE_CENTRIC_DIR",
    "IMAGE_CENTRIC_FILE",
    "TEXT_CENTRIC_CATEGORY",
    "TEXT_CENTRIC_COLUMNS",
    "TEXT_CENTRIC_DIR",
    "TEXT_CENTRIC_FILE",
    "TEXT_CENTRIC_TYPES",
    "TEXT_IMAGE_VARIANTS",
    "LoadReport",
    "VSCBenchData",
    "check_columns",
    "count_group",
    "is_release",
    "load_vscbench",
    "read_sheet",
    "xstest_pair_rows",
]

log = logging.getLogger(__name__)

_IMAGE_REFERENCE = re.compile(r"\b(in|of) the (image|picture)\b", re.IGNORECASE)


@dataclass
class LoadReport(HasFindings):
    """What the loader met: defects, and how many samples of each subset it kept or could not use."""

    findings: list[Finding] = field(default_factory=list)
    loaded: Counter = field(default_factory=Counter)
    unusable: dict[str, str] = field(default_factory=dict)
    """Sample id -> reason, for every sample the data describes but that cannot be asked."""
    placeholder: bool = False
    """The images are generated placeholders (:data:`PLACEHOLDER_FILE`), not the benchmark's."""

    def expected(self) -> dict[str, int]:
        """Samples described by the data, per group: loaded + unusable."""
        totals: Counter = Counter(self.loaded)
        for sample_id in self.unusable:
            totals[count_group(sample_id)] += 1
        return dict(totals)

    def summary(self) -> str:
        parts = [f"{n} {group}" for group, n in sorted(self.loaded.items())]
        text = "loaded " + ", ".join(parts)
        if self.unusable:
            reasons = Counter(self.unusable.values())
            why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common())
            text += f"; {len(self.unusable)} samples could not be used ({why})"
        if self.findings:
            text += f"; {len(self.defects)} defects, {len(self.warnings)} warnings"
        return f"{text}; {PLACEHOLDER_LABEL}" if self.placeholder else text

    def counts(self) -> dict[str, int]:
        return count_kinds(self.findings)


@dataclass
class VSCBenchData:
    """The loaded benchmark: samples that can be asked, and the report of what could not."""

    root: Path
    samples: list[Sample]
    report: LoadReport

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def filter(
        self,
        subset: str | None = None,
        variants: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
    ) -> list[Sample]:
        out = self.samples
        if subset and subset != "all":
            out = [s for s in out if s.subset == subset]
        if variants:
            out = [s for s in out if s.variant in set(variants)]
        if categories:
            out = [s for s in out if s.category in set(categories)]
        return out


def count_group(sample_id: str) -> str:
    """Reconciliation groups: image-centric pairs, the text-only queries, text-centric image pairs."""
    subset, _, rest = sample_id.partition("/")
    if subset == "text_centric":
        return "text_only" if rest.endswith("/text") else "text_centric"
    return subset


Candidate = tuple[Sample, str | None]
"""A sample the data describes, and why it cannot be asked (``None``: it can)."""


def _load_image_centric(root: Path, report: LoadReport) -> list[Candidate]:
    path = root / IMAGE_CENTRIC_FILE
    file = IMAGE_CENTRIC_FILE
    header, rows = read_sheet(path, IMAGE_CENTRIC_COLUMNS)
    column_findings = check_columns(file, header, IMAGE_CENTRIC_COLUMNS)
    report.findings.extend(column_findings)
    if any(f.kind == "missing_column" for f in column_findings):
        raise missing_columns_error(path, column_findings, IMAGE_CENTRIC_COLUMNS)
    images = ImageIndex(root, file)
    samples: list[Candidate] = []
    for row, record in rows:
        category = clean_cell(record.get("Category"))
        prompt, unaskable = prompt_cell(file, row, "Prompt", record.get("Prompt"), report.findings)
        meta = raw_cells({"prompt": prompt}, {"prompt": record.get("Prompt")})
        if category not in IMAGE_CENTRIC_CATEGORIES:
            report.findings.append(
                Finding("unknown_category", file, row, "Category",
                        f"category {category!r} is not one of {', '.join(IMAGE_CENTRIC_CATEGORIES)}")
            )  # fmt: skip
        if not prompt and not unaskable:
            report.findings.append(
                Finding("missing_prompt", file, row, "Prompt", "the prompt cell is empty; its 6 samples cannot be asked")
            )  # fmt: skip
        elif prompt:
            report.findings.extend(prompt_warnings(file, row, "Prompt", prompt))
        folder = root / IMAGE_CENTRIC_DIR / category
        for label in ("safe", "unsafe"):
            for slot in range(3):
                column = f"{label}_img_{slot}"
                sample_id = f"image_centric/r{row}/{label}/slot_{slot}"
                image, why = images.resolve(folder, clean_cell(record.get(column)), row, column)
                sample = Sample(
                    id=sample_id, subset="image_centric", category=category, variant=f"slot_{slot}", label=label,
                    prompt=prompt, image_path=image, pair_key=f"image_centric/r{row}/slot_{slot}", question=prompt,
                    source_file=file, source_row=row, meta=meta,
                )  # fmt: skip
                if not prompt:
                    why = unaskable or "prompt missing"
                elif image is None:
                    why = why or "image missing"
                if why:
                    report.unusable[sample_id] = why
                samples.append((sample, why))
    report.findings.extend(images.duplicate_findings())
    report.findings.extend(images.findings)
    report.loaded["image_centric"] += sum(why is None for _, why in samples)
    return samples


def _text_pair_rows(rows: list[tuple[int, dict[str, str]]]) -> dict[int, int]:
    """Map each paired row (both sides) to the spreadsheet row of its safe twin."""
    return xstest_pair_rows(
        [(row, clean_cell(record.get("type")), clean_cell(record.get("focus"))) for row, record in rows]
    )


def xstest_pair_rows(rows: list[tuple[int, str, str]]) -> dict[int, int]:
    """(row, XSTest type, focus word) in file order -> for each paired row (both sides), the row
    of its safe twin.

    XSTest lists each contrast type in the same order as the safe type it mirrors; where two safe
    types could be the twin, the one whose focus word matches at the same position wins.
    """
    by_type: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row, kind, focus in rows:
        by_type[kind].append((row, focus.casefold()))
    twin: dict[int, int] = {}
    for contrast, candidates in CONTRAST_TWINS.items():
        for position, (row, focus) in enumerate(by_type.get(contrast, [])):
            options = [by_type[t][position] for t in candidates if position < len(by_type.get(t, []))]
            if not options:
                continue
            chosen = next((o for o in options if focus and o[1] == focus), options[0])
            twin[row] = chosen[0]
            twin[chosen[0]] = chosen[0]
    return twin


def _text_sample(
    common: dict[str, Any], row: int, pair_row: int | None, variant: str, prompt: str, image: Path | None
) -> Sample:
    """One text-centric sample of a row: the row's shared fields, its variant, prompt and image."""
    pair_key = f"text_centric/r{pair_row}/{variant}" if pair_row else None
    return Sample(id=f"text_centric/r{row}/{variant}", variant=variant, prompt=prompt, image_path=image,
                  pair_key=pair_key, **common)  # fmt: skip


def _load_text_centric(root: Path, report: LoadReport, figstep_instruction: str) -> list[Candidate]:
    path = root / TEXT_CENTRIC_FILE
    file = TEXT_CENTRIC_FILE
    header, rows = read_sheet(path, TEXT_CENTRIC_COLUMNS)
    column_findings = check_columns(file, header, TEXT_CENTRIC_COLUMNS)
    report.findings.extend(column_findings)
    if any(f.kind == "missing_column" for f in column_findings):
        raise missing_columns_error(path, column_findings, TEXT_CENTRIC_COLUMNS)
    images = ImageIndex(root, file)
    twins = _text_pair_rows(rows)
    samples: list[Candidate] = []
    for index, (row, record) in enumerate(rows):
        kind = clean_cell(record.get("type"))
        label = "unsafe" if "contrast" in kind else "safe"
        if kind not in TEXT_CENTRIC_TYPES:
            report.findings.append(
                Finding("unknown_category", file, row, "type",
                        f"type {kind!r} is not an XSTest type; treated as {label} "
                        "(a type is unsafe when it contains 'contrast')")
            )  # fmt: skip
        origin, origin_unaskable = prompt_cell(file, row, "prompt_origin", record.get("prompt_origin"), report.findings)
        rewritten, rewrite_unaskable = prompt_cell(file, row, "prompt_mm", record.get("prompt_mm"), report.findings)
        figstep_text, _ = prompt_cell(file, row, "prompt_figstep", record.get("prompt_figstep"), report.findings)
        meta = {
            "type": kind,
            "focus": clean_cell(record.get("focus")),
            "prompt_origin": origin,
            "prompt_mm": rewritten,
            "object": clean_cell(record.get("object")),
            "prompt_figstep": figstep_text,
            "row_index": index,
            **raw_cells({"prompt_origin": origin, "prompt_mm": rewritten}, record),
        }
        pair_row = twins.get(row)

        common: dict[str, Any] = {
            "subset": "text_centric", "category": TEXT_CENTRIC_CATEGORY.get(kind, kind), "label": label,
            "question": origin or None, "source_file": file, "source_row": row, "meta": meta,
        }  # fmt: skip

        why_not: str | None = origin_unaskable or (None if origin else "prompt missing")
        if not origin and not origin_unaskable:
            report.findings.append(
                Finding("missing_prompt", file, row, "prompt_origin", "the original prompt is empty")
            )
        if why_not:
            report.unusable[f"text_centric/r{row}/text"] = why_not
        samples.append((_text_sample(common, row, pair_row, "text", origin, None), why_not))
        key_phrase = str(meta["object"])
        if origin and _IMAGE_REFERENCE.search(origin) and key_phrase and key_phrase.casefold() not in origin.casefold():
            report.findings.append(
                Finding("image_reference_in_original", file, row, "prompt_origin",
                        f"the original prompt refers to an image and lacks its key phrase {key_phrase!r}, "
                        f"so the text-only query cannot be understood: {origin!r}")
            )  # fmt: skip
        if not rewritten and not rewrite_unaskable:
            report.findings.append(
                Finding("missing_prompt", file, row, "prompt_mm",
                        "the rewritten prompt is empty; the search, typography and concat samples cannot be asked")
            )  # fmt: skip
        elif origin and rewritten.casefold() == origin.casefold():
            report.findings.append(
                Finding("unchanged_rewrite", file, row, "prompt_mm",
                        "the rewritten prompt equals the original, so the image attacks send the "
                        f"request in plain text: {rewritten!r}")
            )  # fmt: skip
        for variant, column in TEXT_IMAGE_VARIANTS.items():
            sample_id = f"text_centric/r{row}/{variant}"
            name = clean_cell(record.get(column))
            image, why = images.resolve(root / TEXT_CENTRIC_DIR / variant, name, row, column)
            if name and variant == "search":
                match = re.match(r"d_(\d+)_", name)
                if match and int(match.group(1)) != index:
                    report.findings.append(
                        Finding("image_row_mismatch", file, row, column,
                                f"{name} is named for row index {match.group(1)}, but this row's index is {index}",
                                "warning")
                    )  # fmt: skip
            prompt = figstep_instruction if variant == "figstep" else rewritten
            if not prompt:
                why = (rewrite_unaskable if variant != "figstep" else None) or "prompt missing"
            elif image is None:
                why = why or "image missing"
            else:
                why = None
            if why:
                report.unusable[sample_id] = why
            samples.append((_text_sample(common, row, pair_row, variant, prompt, image), why))
    report.findings.extend(images.duplicate_findings())
    report.findings.extend(images.findings)
    asked = [sample for sample, why in samples if why is None]
    text_only = sum(sample.variant == "text" for sample in asked)
    report.loaded["text_only"] += text_only
    report.loaded["text_centric"] += len(asked) - text_only
    return samples


def is_release(root: Path) -> bool:
    return (root / IMAGE_CENTRIC_FILE).is_file() or (root / TEXT_CENTRIC_FILE).is_file()


def load_vscbench(
    root: str | os.PathLike[str],
    subsets: Iterable[str] | None = None,
    figstep_instruction: str = DEFAULT_FIGSTEP_INSTRUCTION,
    warn: bool = True,
    as_released: bool = False,
) -> VSCBenchData:
    """Load a VSCBench release folder into samples, without reading any image.

    ``as_released`` gives the samples the released VSCBench code sends (``--preset paper``):
    prompts exactly as stored, and the samples it sends but that cannot be asked here (an empty
    prompt, a missing image) kept and marked unsent (see :mod:`vscbench.benchmarks.released`).

    ``subsets`` defaults to every subset whose spreadsheet is present; a subset asked for by
    name must be present. Defects are logged as warnings (unless ``warn`` is false) and kept in ``data.report``; rows
    that can still be asked are kept. Raises :class:`DatasetError` when the folder is not a
    release or a spreadsheet cannot be read at all.
    """
    root_path = Path(root).expanduser()
    explicit = subsets is not None
    wanted = list(subsets) if subsets is not None else ["image_centric", "text_centric"]
    if not root_path.is_dir():
        raise DatasetError(
            f"{root_path} is not a folder. Point --data at a VSCBench release folder, or create one "
            f"with `vscbench data fetch --dest {root_path}`."
        )
    if not is_release(root_path):
        raise DatasetError(
            f"{root_path} does not look like a VSCBench release: it holds neither {IMAGE_CENTRIC_FILE} "
            f"nor {TEXT_CENTRIC_FILE}. Download the release with `vscbench data fetch --dest {root_path}`."
        )
    unknown = set(wanted) - {"image_centric", "text_centric"}
    if unknown:
        raise DatasetError(f"unknown subset(s) {sorted(unknown)}; use image_centric and/or text_centric")
    report = LoadReport(placeholder=(root_path / PLACEHOLDER_FILE).is_file())
    candidates: list[Candidate] = []
    for subset, file in (("image_centric", IMAGE_CENTRIC_FILE), ("text_centric", TEXT_CENTRIC_FILE)):
        if subset not in wanted:
            continue
        if not (root_path / file).is_file():
            if not explicit:
                continue
            raise DatasetError(
                f"{root_path / file} is missing, so the {subset} subset cannot be loaded. "
                f"Fetch it with `vscbench data fetch --dest {root_path}`, or choose the other subset."
            )
        if subset == "text_centric":
            candidates.extend(_load_text_centric(root_path, report, figstep_instruction))
        else:
            candidates.extend(_load_image_centric(root_path, report))
    samples = released_samples(candidates) if as_released else [sample for sample, why in candidates if why is None]
    if warn and (report.findings or report.unusable):
        for finding in report.defects[:20]:
            log.warning("%s: %s", finding.location(), finding.detail)
        if len(report.defects) > 20:
            log.warning("... and %d more defects (run `vscbench data check %s`)", len(report.defects) - 20, root_path)
        log.warning("%s", report.summary())
    return VSCBenchData(root=root_path, samples=samples, report=report)
