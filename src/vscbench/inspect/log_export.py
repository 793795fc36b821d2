"""A stored run as an Inspect log (``.eval`` or ``.json``) that ``inspect view`` opens.

Each sample becomes an Inspect sample: the question as asked (system prompt, image, prompt),
the answer, how the call ended (a failed call is a sample error, a content-filter block a
``content_filter`` stop), and one score per judge, made as the ``safety_judge`` scorer makes
them (1 or 0 under the rule, unscored with the reason for invalid, blocked, empty, failed or not
yet judged answers). The results carry SRA_s, SRA_u, SRA_a and pair calibration computed by
:func:`vscbench.scoring.metrics.score`, so the viewer shows the figures ``vscbench score`` prints.

The samples' inputs show the question, not a prompting method's additions (few-shot turns, the
CoT instruction): the method is named in the plan and the metadata. Images are referenced by
path unless ``embed_images`` puts them in the log (as our backends send them), which the viewer
needs to show them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import inspect_ai
from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalError,
    EvalLog,
    EvalMetric,
    EvalPlan,
    EvalPlanStep,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    write_eval_log,
)
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    Content,
    ContentImage,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.scorer import Score

from vscbench import __version__
from vscbench.images import data_url
from vscbench.inspect.messages import FLAT_FIELDS, SAMPLE_KEY, to_inspect_messages
from vscbench.judges.runs import judged_by, require_run
from vscbench.schema import ImagePart, Message, Response, RunSpec, Sample
from vscbench.scoring.metrics import get_rule, sample_outcome, score
from vscbench.scoring.runs import run_labels
from vscbench.store import Store

SCORER = "vscbench/safety_judge"
_METRICS = ("sra_s", "sra_u", "sra_a", "pair_calibration")


class ExportError(ValueError):
    """A run that cannot be exported as asked; the message says what to do."""


def default_log_path(run: str, folder: str | Path = "logs", format: str = "eval") -> Path:
    """``logs/<time>_vscbench-<run>_<id>.<format>``: where ``inspect view`` looks by default."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S+00-00")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in run)
    tag = hashlib.sha256(f"{run}{stamp}".encode()).hexdigest()[:10]
    return Path(folder) / f"{stamp}_vscbench-{safe}_{tag}.{format}"


def _input(sample: Sample, spec: RunSpec, embed_images: bool) -> list:
    messages = [Message.text("system", spec.config.system_prompt)] if spec.config.system_prompt else []
    messages.append(Message.user(sample.prompt, sample.image_path, text_first=spec.config.text_first))

    def image(part: ImagePart) -> Content:
        if embed_images and part.path.is_file():
            return ContentImage(image=data_url(str(part.path), spec.config.max_image_side, spec.config.image_format))
        return ContentImage(image=str(part.path))

    return to_inspect_messages(messages, image)


def _output(spec: RunSpec, response: Response | None) -> ModelOutput:
    if response is None:
        return ModelOutput(model=spec.model, error="no answer yet")
    usage = None
    if response.usage.prompt_tokens is not None or response.usage.completion_tokens is not None:
        prompt, completion = response.usage.prompt_tokens or 0, response.usage.completion_tokens or 0
        usage = ModelUsage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
    if response.outcome == "error":
        return ModelOutput(model=spec.model, usage=usage, time=response.latency_s, error=response.error or "error")
    message = ChatMessageAssistant(content=response.text or "", model=spec.model, source="generate")
    stop = "content_filter" if response.outcome == "blocked" else "stop"
    return ModelOutput(model=spec.model, choices=[ChatCompletionChoice(message=message, stop_reason=stop)],
                       completion=response.text or "", usage=usage, time=response.latency_s)  # fmt: skip


def _score(sample: Sample, label: str | None, judge: str, rule: str, answer: str | None, reason: str | None) -> Score:
    metadata = {"judge": judge, "rule": rule, "label": sample.label, "verdict": label or "missing"}
    outcome = sample_outcome(sample, label, get_rule(rule), "exclude")
    if outcome == "excluded":
        return Score.unscored(reason=label or "missing", answer=answer, explanation=reason, metadata=metadata)
    return Score(value=1.0 if outcome == "correct" else 0.0, answer=answer, explanation=reason, metadata=metadata)


def _results(store: Store, run: str, judges: list[str], names: dict[str, str], rule: str, total: int) -> EvalResults:
    scores = []
    for judge in judges:
        samples, labels, _ = run_labels(store, run, judge)
        report = score(samples, labels, rule=rule)
        overall = report.overall
        values = {"sra_s": overall.sra_s, "sra_u": overall.sra_u, "sra_a": overall.sra_a,
                  "pair_calibration": report.pairs.share.value}  # fmt: skip
        metrics = {name: EvalMetric(name=f"vscbench/{name}", value=float("nan") if values[name] is None else values[name],
                                    params={"rule": rule})
                   for name in _METRICS}  # fmt: skip
        scores.append(EvalScore(name=names[judge], scorer=SCORER, params={"judge": judge, "rule": rule},
                                metrics=metrics, scored_samples=overall.n, unscored_samples=len(samples) - overall.n))  # fmt: skip
    return EvalResults(total_samples=total, completed_samples=total, scores=scores)


def build_log(store: Store, run: str, judges: list[str] | None = None, rule: str = "paper",
              embed_images: bool = False) -> EvalLog:  # fmt: skip
    """The Inspect log of a stored run, scored by ``judges`` (default: every judge that judged it)."""
    require_run(store, run)
    get_rule(rule)
    spec = store.get_run(run)
    assert spec is not None
    chosen = judges if judges else judged_by(store, run)
    unknown = [j for j in chosen if j not in store.judges()]
    if unknown:
        raise ExportError(f"no verdicts of judge(s) {', '.join(unknown)} in {store.path}; judges there: "
                          f"{', '.join(store.judges()) or 'none (run `vscbench judge` first)'}")  # fmt: skip
    names = {j: "safety_judge" if len(chosen) == 1 else f"safety_judge:{j}" for j in chosen}
    verdicts = {judge: store.get_verdicts(judge, run=run) for judge in chosen}
    samples: list[EvalSample] = []
    input_tokens = output_tokens = missing = 0
    for item, response in store.run_items(run):
        messages = _input(item, spec, embed_images)
        output = _output(spec, response)
        answer = response.text if response is not None else None
        sample_scores = {}
        for judge in chosen:
            verdict = verdicts[judge].get(response.key) if response is not None else None
            label = verdict.label if verdict else (response.outcome if response and response.outcome != "ok" else None)
            sample_scores[names[judge]] = _score(item, label, judge, rule, answer, verdict.reason if verdict else None)
        if response is None:
            missing += 1
        else:
            input_tokens += response.usage.prompt_tokens or 0
            output_tokens += response.usage.completion_tokens or 0
        metadata: dict[str, Any] = {field: getattr(item, field) for field in FLAT_FIELDS}
        metadata.update({SAMPLE_KEY: item.model_dump(mode="json"), "response_key": response.key if response else None,
                         "outcome": response.outcome if response else "missing"})  # fmt: skip
        error = None
        if response is not None and response.outcome == "error":
            error = EvalError(message=response.error or "error", traceback="", traceback_ansi="")
        samples.append(EvalSample(
            id=item.id, epoch=1, input=messages, target=item.label,
            messages=messages + ([output.message] if output.choices else []), output=output, scores=sample_scores,
            metadata=metadata, error=error, total_time=response.latency_s if response else None,
            working_time=response.latency_s if response else None,
        ))  # fmt: skip
    model = f"vscbench/{spec.model}"
    info = store.run_info(run)
    selection = spec.selection()
    eval_spec = EvalSpec(
        created=spec.created_at, task=f"vscbench/{spec.subset}", task_id=hashlib.sha256(run.encode()).hexdigest()[:22],
        task_version=1, task_args={k: v for k, v in selection.items() if v is not None},
        dataset=EvalDataset(name=f"vscbench/{spec.subset}", location=spec.data, samples=len(samples),
                            sample_ids=[s.id for s in samples]),
        model=model, config=EvalConfig(epochs=1),
        packages={"vscbench": __version__, "inspect_ai": inspect_ai.__version__},
        metadata={"vscbench": {"selection": selection, "method": spec.meta.get("method") or {"canonical": spec.method},
                               "rule": get_rule(rule).to_dict(), "judges": chosen,
                               "exported_run": {"name": run, "model": spec.model, "store": str(store.path)}}},
    )  # fmt: skip
    steps = [EvalPlanStep(solver="vscbench/prompting", params={"method": spec.method})] if spec.method != "none" else []
    plan = EvalPlan(steps=[*steps, EvalPlanStep(solver="generate")], config=GenerateConfig(
        max_tokens=spec.config.max_tokens, temperature=spec.config.temperature, top_p=spec.config.top_p,
        seed=spec.config.seed, system_message=spec.config.system_prompt))  # fmt: skip
    usage = ModelUsage(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
    )
    stats = EvalStats(started_at=spec.created_at, completed_at=info.updated if info else spec.created_at,
                      model_usage={model: usage})  # fmt: skip
    error = None
    if missing:
        error = EvalError(message=f"{missing} of {len(samples)} samples have no answer yet; resume the run with "
                                  "`vscbench run` and export again", traceback="", traceback_ansi="")  # fmt: skip
    return EvalLog(
        status="error" if missing else "success", eval=eval_spec, plan=plan, stats=stats, error=error,
        results=_results(store, run, chosen, names, rule, len(samples)) if chosen else None, samples=samples,
    )  # fmt: skip


def export_run(store: Store, run: str, out: str | Path | None = None, judges: list[str] | None = None,
               rule: str = "paper", embed_images: bool = False) -> Path:  # fmt: skip
    """Write a stored run as an Inspect log (format by suffix: ``.eval`` or ``.json``); returns its path."""
    path = Path(out) if out is not None else default_log_path(run)
    if path.suffix not in (".eval", ".json"):
        raise ExportError(f"{path}: an Inspect log's name ends in .eval or .json")
    log = build_log(store, run, judges, rule, embed_images)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(log, str(path))
    return path
