"""A single self-contained HTML report: tables, figures and a filterable table of samples.

The file needs nothing but a browser: figures and thumbnails are embedded as base64 data URLs and
the small filtering script is inline (no CDN). Prompts and model output are untrusted text, so
the template is rendered by Jinja2 with autoescaping on and the script only reads data
attributes and text, never HTML built from model output.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from vscbench import __version__
from vscbench.metrics import MISSING, SECTIONS, ScoreReport
from vscbench.report.compare import Comparison
from vscbench.report.plots import TradeoffPoint, plot_category_bars, plot_sra_scatter, plot_tradeoff
from vscbench.report.tables import (
    classes_table,
    comparison_tables,
    failures_table,
    overall_table,
    pairs_table,
    section_table,
)
from vscbench.schema import Response, Sample, Verdict

FILTER_KEYS = ("subset", "category", "variant", "label", "verdict", "outcome")


@dataclass(frozen=True)
class SampleRow:
    """One sample as shown in the report; every text field is escaped by the template."""

    id: str
    subset: str
    category: str
    variant: str
    label: str
    prompt: str
    response: str
    verdict: str
    outcome: str
    reason: str | None = None
    thumbnail: str | None = None


def _response_text(response: Response | str | None) -> str:
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    if response.outcome == "ok":
        return response.text or ""
    return f"[{response.outcome}] {response.error or ''}".strip()


def _verdicts(labels: Mapping[str, str | Verdict] | Iterable[Verdict] | None) -> dict[str, tuple[str, str | None]]:
    if labels is None:
        return {}
    items = labels.items() if isinstance(labels, Mapping) else ((v.sample_id, v) for v in labels)
    return {
        sample_id: (item.label, item.reason) if isinstance(item, Verdict) else (str(item), None)
        for sample_id, item in items
    }


def thumbnail_data_url(path: str | Path, max_side: int = 96) -> str | None:
    """A small JPEG of the image as a data URL; ``None`` when the file is missing or unreadable."""
    from vscbench.images import load_rgb

    try:
        image = load_rgb(path, max_side=max_side)
    except (OSError, ValueError):
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_rows(
    samples: Sequence[Sample],
    report: ScoreReport,
    labels: Mapping[str, str | Verdict] | Iterable[Verdict] | None = None,
    responses: Mapping[str, Response | str] | None = None,
    thumbnails: bool = False,
    thumbnail_side: int = 96,
) -> list[SampleRow]:
    """Rows for the sample browser, with each sample's verdict and how it was scored."""
    verdicts = _verdicts(labels)
    responses = responses or {}
    rows = []
    for sample in samples:
        verdict, reason = verdicts.get(sample.id, (MISSING, None))
        thumbnail = None
        if thumbnails and sample.image_path is not None:
            thumbnail = thumbnail_data_url(sample.image_path, thumbnail_side)
        rows.append(
            SampleRow(
                id=sample.id,
                subset=sample.subset,
                category=sample.category,
                variant=sample.variant,
                label=sample.label,
                prompt=sample.prompt,
                response=_response_text(responses.get(sample.id)),
                verdict=verdict,
                outcome=report.outcomes.get(sample.id, "excluded"),
                reason=reason,
                thumbnail=thumbnail,
            )
        )
    return rows


def _png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def default_figures(
    report: ScoreReport,
    comparison: Comparison | None = None,
    tradeoff: Sequence[TradeoffPoint] | None = None,
    name: str = "model",
) -> dict[str, bytes]:
    """The report's standard figures as PNG bytes, by caption."""
    scored: Comparison | dict[str, ScoreReport] = comparison or {name: report}
    figures = {
        "SRA_s vs SRA_u": plot_sra_scatter(scored),
        "Per-category calibration": plot_category_bars(scored),
    }
    if tradeoff:
        figures["Safety-utility trade-off"] = plot_tradeoff(tradeoff)
    return figures


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("vscbench.report", "templates"),
        autoescape=True,  # every template, whatever its extension: model output is untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    report: ScoreReport,
    samples: Sequence[Sample] = (),
    labels: Mapping[str, str | Verdict] | Iterable[Verdict] | None = None,
    responses: Mapping[str, Response | str] | None = None,
    *,
    title: str = "VSCBench report",
    name: str = "model",
    comparison: Comparison | None = None,
    figures: Mapping[str, bytes] | None = None,
    tradeoff: Sequence[TradeoffPoint] | None = None,
    thumbnails: bool = False,
    max_samples: int | None = None,
    generated: str | None = None,
) -> str:
    """The report as one HTML string.

    ``figures`` (caption -> PNG bytes) replaces the default figures; ``max_samples`` caps the
    sample browser (the rest are counted, not shown); ``thumbnails`` embeds a small copy of each
    image, which makes the file larger.
    """
    if labels is not None and not isinstance(labels, Mapping):
        labels = list(labels)  # may be a one-shot iterator
    shown = list(samples)[:max_samples] if max_samples is not None else list(samples)
    rows = sample_rows(shown, report, labels, responses, thumbnails=thumbnails)
    overview = [overall_table(report)]
    if comparison is not None:
        overview += comparison_tables(comparison)
    figure_pngs = figures if figures is not None else default_figures(report, comparison, tradeoff, name)
    context: dict[str, Any] = {
        "title": title,
        "version": __version__,
        "generated": generated,
        "rule": report.rule,
        "failures_treated": "excluded from the denominators"
        if report.failure_treatment == "exclude"
        else "counted as incorrect",
        "overview_tables": overview,
        "breakdown_tables": [section_table(report, s) for s in SECTIONS] + [pairs_table(report)],
        "failure_tables": [failures_table(report), classes_table(report)],
        "figures": [(caption, _png_data_url(png)) for caption, png in figure_pngs.items()],
        "rows": rows,
        "rows_left_out": len(samples) - len(shown),
        "show_images": any(row.thumbnail for row in rows),
        "filter_options": [(key, sorted({getattr(row, key) for row in rows})) for key in FILTER_KEYS],
    }
    return _environment().get_template("report.html.j2").render(context)


def write_html(path: str | Path, report: ScoreReport, samples: Sequence[Sample] = (), **options: Any) -> Path:
    """Render :func:`render_html` to ``path``; options are the same (labels, responses, title ...)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, samples, **options), encoding="utf-8")
    return target
