"""What `vscbench judge-audit` prints beyond its XSTest figures: judges against a reader's own
labels, and the reliability and coverage of judges that state a confidence."""

from __future__ import annotations

from rich.table import Table

from vscbench.cli.common import console, plain
from vscbench.judges.label_audit import LabelAudit
from vscbench.judges.registry import JUDGES_WITH_OPTIONS
from vscbench.judges.reliability import Calibration


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_label_audits(results: dict[str, LabelAudit]) -> None:
    """Accuracy and kappa over the four classes and over declined vs answered, coverage, and
    each class's recall; then each judge's confusion and, where labels name models, per model."""
    table = Table(title="Judge vs your labels (VSCBench classes)")
    columns = ("judge", "n", "accuracy", "kappa", "declined/answered acc", "kappa ", "classified", "acc classified")
    for column in columns:
        table.add_column(column, justify="left" if column == "judge" else "right", overflow="fold")
    for spec, r in results.items():
        table.add_row(
            plain(spec), str(r.n), f"{r.accuracy:.3f}", _fmt(r.kappa), f"{r.declined_accuracy:.3f}",
            _fmt(r.declined_kappa), f"{r.covered} of {r.n}", _fmt(r.accuracy_on_covered),
        )  # fmt: skip
    console.print(table)
    for spec, r in results.items():
        recall = ", ".join(f"{label} {c['correct']} of {c['total']}" for label, c in r.recall.items())
        console.print(f"{plain(spec)}: recognised as labelled: {recall}.", highlight=False, soft_wrap=True)
        if r.unclassified:
            left = ", ".join(f"{n} {label}" for label, n in r.unclassified.items())
            console.print(f"{plain(spec)}: not classified (counted wrong): {left}.", highlight=False, soft_wrap=True)
        confusion = Table(title=f"{plain(spec)}: your label (rows) vs the judge (columns)")
        columns_seen = list(next(iter(r.confusion.values())))
        confusion.add_column("yours \\ judge")
        for column in columns_seen:
            confusion.add_column(column, justify="right")
        for human, counts in r.confusion.items():
            confusion.add_row(human, *(str(counts[c]) for c in columns_seen))
        console.print(confusion)
        if len(r.per_model) > 1:
            models = Table(title=f"{plain(spec)}: per model")
            for column in ("model", "n", "accuracy", "declined/answered acc"):
                models.add_column(column, justify="left" if column == "model" else "right", overflow="fold")
            for model, figures in r.per_model.items():
                models.add_row(
                    plain(model), str(figures["n"]), f"{figures['accuracy']:.3f}", f"{figures['declined_accuracy']:.3f}"
                )
            console.print(models)


def print_calibration(spec: str, calibration: Calibration | None, suggest: bool) -> None:
    """The reliability diagram (bins of confidence against accuracy), coverage against accuracy
    at thresholds, and the suggested threshold when asked for."""
    if calibration is None:
        if suggest:
            console.print(f"{plain(spec)} states no confidence: no threshold to suggest.", highlight=False)
        return
    diagram = Table(title=f"{plain(spec)}: reliability (ECE {calibration.expected_calibration_error:.3f})")
    for column in ("confidence", "answers", "mean confidence", "accuracy", ""):
        diagram.add_column(column, justify="left" if column in ("confidence", "") else "right")
    for b in calibration.bins:
        bar = "#" * round(20 * b.accuracy) + "." * (20 - round(20 * b.accuracy))
        diagram.add_row(f"{b.low:.1f}-{b.high:.1f}", str(b.n), f"{b.mean_confidence:.3f}", f"{b.accuracy:.3f}", bar)
    console.print(diagram)
    coverage = Table(title=f"{plain(spec)}: coverage vs accuracy (uncertain below the threshold)")
    for column in ("threshold", "kept", "coverage", "accuracy"):
        coverage.add_column(column, justify="right")
    for point in calibration.coverage:
        coverage.add_row(f"{point.threshold:g}", str(point.kept), f"{100 * point.coverage:.1f}%", _fmt(point.accuracy))
    console.print(coverage)
    if not suggest:
        return
    target = calibration.target_accuracy or 0.0
    chosen = calibration.suggested
    if chosen is None:
        console.print(f"{plain(spec)}: no threshold reaches accuracy {target:g} on these answers.", highlight=False)
        return
    if chosen.threshold == 0:
        console.print(
            f"{plain(spec)}: every verdict already reaches accuracy {target:g} here "
            f"({_fmt(chosen.accuracy)} on {chosen.kept} answers): no threshold needed.",
            highlight=False,
            soft_wrap=True,
        )
        return
    name = spec.partition(":")[0]
    usage = (
        f" Use it: --judge '{name}:threshold={chosen.threshold:g}>openai:gpt-4o-mini'"
        if name in JUDGES_WITH_OPTIONS
        else ""
    )
    console.print(
        f"{plain(spec)}: threshold {chosen.threshold:g} keeps {chosen.kept} of {calibration.n} answers "
        f"({100 * chosen.coverage:.1f}%) at accuracy {_fmt(chosen.accuracy)} (target {target:g}); the rest are "
        f"uncertain.{usage}",
        highlight=False,
        soft_wrap=True,
    )
