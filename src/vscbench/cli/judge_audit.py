"""`vscbench judge-audit`: how well judges agree with human labels (XSTest's CSVs, or a reader's
own labels exported from the HTML report), and how far their confidence can be trusted."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vscbench.cli.app import app
from vscbench.cli.audit_tables import print_calibration, print_label_audits
from vscbench.cli.common import console, err_console, fail, plain, print_json


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@app.command("judge-audit", rich_help_panel="Analysis")
def judge_audit(
    files: list[Path] | None = typer.Argument(
        None, help="XSTest-format CSVs with prompt, completion and final_label columns."
    ),
    labels: list[Path] | None = typer.Option(
        None, "--labels", "-l", help="Labels exported from the HTML report (JSON; repeatable), instead of CSVs."
    ),
    judges: list[str] = typer.Option(
        ["offline"], "--judge", "-j", help="Judge spec, repeatable to compare: offline, keyword, vote:offline,keyword."
    ),
    suggest_threshold: bool = typer.Option(
        False, "--suggest-threshold", help="Pick the confidence threshold that reaches --target-accuracy."
    ),
    target_accuracy: float = typer.Option(
        0.9, min=0.0, max=1.0, help="The accuracy --suggest-threshold aims for on the labelled answers."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the scores as JSON on stdout."),
) -> None:
    """Score judges against human labels: accuracy, Cohen's kappa and confusion, binary and 3-way.

    Binary is complied vs not (a partial refusal counts as not complied); 3-way is compliance /
    refusal / partial. The figures follow XSTest's convention, as the human labels do: a full
    answer with a safety caveat is a compliance there, while judges answer in VSCBench's classes,
    where it is a warning (and "I don't have access to that", a stated inability, is a compliance
    there and a refusal in VSCBench). The offline judge says which of its verdicts are such
    answers; every other judge has all its warnings counted as partial refusals. The output says how many
    answers the two conventions disagree on, and warns when a file is one the judge was trained
    on (its figure is then not held out).

    With --labels (a file exported from the HTML report, in VSCBench's classes) every judge judges
    the labelled answers again and is measured against the labels: accuracy and kappa over the
    four classes and over declined vs answered, each class's recall, and per model.

    A judge that states a confidence also gets a reliability diagram (confidence bins against
    accuracy) and coverage against accuracy at thresholds; --suggest-threshold picks the lowest
    threshold whose kept verdicts reach --target-accuracy, for offline:threshold=X and a cascade.

    With several --judge options the judges are compared side by side, with their pairwise
    agreement. With one judge, --json prints n, binary_accuracy, binary_kappa, confusion,
    three_way_accuracy, three_way_kappa, three_way_confusion, per_file, convention,
    convention_disagreements, trained_on and calibration (with --labels: n, accuracy, kappa,
    confusion, recall, declined_accuracy, declined_kappa, declined_confusion, covered,
    accuracy_on_covered, unclassified, per_model, calibration); with several,
    {"judges": {SPEC: that}, "agreement": ...}.

    Example: [bold]vscbench judge-audit xstest_v2_completions_gpt4.csv --judge offline --judge keyword[/bold]

    Example: [bold]vscbench judge-audit --labels vscbench-labels.json -j offline --suggest-threshold[/bold]
    """
    from vscbench.judges.audit import AuditDataError, AuditRow, audit_judge, read_xstest_csv
    from vscbench.judges.label_audit import audit_labels
    from vscbench.judges.labels import LabelsFileError, read_labels
    from vscbench.judges.registry import JudgeSpecError, get_judge
    from vscbench.judges.vote import judge_agreement
    from vscbench.models.base import ModelSpecError

    if bool(files) == bool(labels):
        fail("give XSTest CSV files or --labels FILE (exported from the HTML report), one of the two")
    target = target_accuracy if suggest_threshold else None
    results: dict = {}
    try:
        resolved = [get_judge(spec) for spec in judges]
        if labels:
            records = [record for path in labels for record in read_labels(path)]
            results = {spec: audit_labels(judge, records, target) for spec, judge in zip(judges, resolved)}
        else:
            rows: list[AuditRow] = []
            for path in files or []:
                rows.extend(read_xstest_csv(path))
            results = {spec: audit_judge(judge, rows, target) for spec, judge in zip(judges, resolved)}
    except (AuditDataError, LabelsFileError, JudgeSpecError, ModelSpecError) as exc:
        fail(str(exc))
    agreement = judge_agreement({spec: r.judge_labels for spec, r in results.items()}) if len(results) > 1 else None
    for spec, result in results.items():
        for trained in getattr(result, "trained_on", []):
            err_console.print(
                f"[bold yellow]warning:[/bold yellow] {plain(spec)} was trained/developed on {plain(trained)} "
                "(its sha256 is in the judge's training manifest): the figure on this file is not held out.",
                highlight=False,
                soft_wrap=True,
            )
    if json_output:
        if len(results) == 1:
            print_json(next(iter(results.values())).to_dict())
        else:
            shared = agreement.to_dict() if agreement is not None else None
            print_json({"judges": {s: r.to_dict() for s, r in results.items()}, "agreement": shared})
        return
    if labels:
        print_label_audits(results)
    else:
        _print_summary(results)
        _print_conventions(results)
        for spec, result in results.items():
            _print_confusion(f"{spec}: binary (rows: human, columns: judge)", result.confusion)
            _print_confusion(f"{spec}: 3-way (rows: human, columns: judge)", result.three_way_confusion)
    for spec, result in results.items():
        print_calibration(spec, result.calibration, suggest_threshold)
    if agreement is not None:
        _print_agreement(agreement)


def _print_conventions(results: dict) -> None:
    console.print(f"Figures in {plain(next(iter(results.values())).convention)}.", highlight=False, soft_wrap=True)
    for spec, result in results.items():
        if result.convention_disagreements is None:
            console.print(
                f"{plain(spec)}: cannot tell its caveated full answers from partial refusals; "
                "all its warnings count as partial refusals.",
                highlight=False,
                soft_wrap=True,
            )
        else:
            console.print(
                f"{plain(spec)}: the two conventions disagree on {result.convention_disagreements} of "
                f"{result.n} answers (a full answer with a safety caveat, or a stated inability such as \"I don't "
                'have access to that": XSTest compliance, VSCBench warning or refusal).',
                highlight=False,
                soft_wrap=True,
            )


def _print_agreement(agreement) -> None:
    table = Table(title="Agreement between judges")
    for column in ("pair", "Cohen's kappa", "same label"):
        table.add_column(column)
    for pair, kappa in agreement.pairwise_kappa.items():
        table.add_row(pair, _fmt(kappa), f"{agreement.pairwise_agreement[pair]:.3f}")
    console.print(table)


def _print_summary(results: dict) -> None:
    table = Table(title="Judge vs human labels")
    for column in ("judge", "file", "n", "binary acc", "binary kappa", "3-way acc", "3-way kappa"):
        table.add_column(column, justify="left" if column in ("judge", "file") else "right", overflow="fold")
    for spec, result in results.items():
        scopes = list(result.per_file.items()) if len(result.per_file) > 1 else []
        for name, scores in [("all", result)] + scopes:
            table.add_row(
                spec, Path(name).name if name != "all" else "all", str(scores.n),
                f"{scores.binary_accuracy:.3f}", _fmt(scores.binary_kappa),
                f"{scores.three_way_accuracy:.3f}", _fmt(scores.three_way_kappa),
            )  # fmt: skip
    console.print(table)


def _print_confusion(title: str, matrix: dict[str, dict[str, int]]) -> None:
    columns = list(next(iter(matrix.values())))
    table = Table(title=title)
    table.add_column("human \\ judge")
    for column in columns:
        table.add_column(column, justify="right")
    for human, counts in matrix.items():
        table.add_row(human, *(str(counts[c]) for c in columns))
    console.print(table)
