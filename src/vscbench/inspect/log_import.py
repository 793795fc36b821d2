"""Inspect logs into our store: each log (each epoch of it) becomes a run, so ``vscbench score``,
``report``, ``tradeoff`` and ``compare`` read Inspect evaluations like any run of ours.

What is kept: every sample (our record, from the sample's metadata, or found by id in ``data``),
its answer as a Response, the verdicts of our ``safety_judge`` scorer (under their judge key,
``invalid`` included), and the model, generation settings, method, selection and Inspect's
identifiers in the RunSpec. How a generation ended maps as in our backends (ok, blocked, empty,
error); failures are stored as failures, never as answers.

Response keys are content addresses: a hash of the log's model, its effective generation
settings, the epoch and the exact messages sent (each image by the hash of its bytes), and the
model field reads ``inspect:<model>``, so they never collide with the keys of a run made by
`vscbench run`, and importing the same log twice stores nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from inspect_ai.log import EvalLog, EvalSample, read_eval_log, read_eval_log_samples
from inspect_ai.model import ChatMessage, ContentImage, ContentText

from vscbench.inspect.messages import content_image_sha256, sample_from_metadata
from vscbench.inspect.outcomes import generation_outcome
from vscbench.schema import GenerationConfig, Response, RunSpec, Sample, Usage, Verdict
from vscbench.store import Store

MODEL_PREFIX = "inspect:"


class LogImportError(ValueError):
    """A log that cannot be imported; the message names the file, the sample and the fix."""


@dataclass
class ImportSummary:
    """One imported run: where it came from and what it holds."""

    log: str
    run: str
    model: str
    task: str
    epoch: int
    status: str
    samples: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resolve(text: str, attachments: dict[str, str]) -> str:
    if text.startswith("attachment://"):
        return attachments.get(text.removeprefix("attachment://"), text)
    return text


def sent_messages(sample: EvalSample) -> list[ChatMessage]:
    """The messages the model was asked with: the conversation less the answer it gave."""
    messages = list(sample.messages or (sample.input if isinstance(sample.input, list) else []))
    if messages and messages[-1].role == "assistant":
        messages = messages[:-1]
    return messages


def normalised_messages(messages: Iterable[ChatMessage], attachments: dict[str, str]) -> list[dict[str, Any]]:
    """Messages as they enter a key: roles, texts, and images by the hash of their bytes."""
    out = []
    for message in messages:
        if isinstance(message.content, str):
            parts: list[dict[str, str]] = [{"type": "text", "text": _resolve(message.content, attachments)}]
        else:
            parts = []
            for content in message.content:
                if isinstance(content, ContentText):
                    parts.append({"type": "text", "text": _resolve(content.text, attachments)})
                elif isinstance(content, ContentImage):
                    parts.append({"type": "image", "sha256": content_image_sha256(content.image, attachments)})
                else:
                    parts.append({"type": content.type, "repr": _resolve(str(content.model_dump()), attachments)})
        out.append({"role": message.role, "content": parts})
    return out


def response_key(model: str, settings: dict[str, Any], epoch: int, messages: list[dict[str, Any]]) -> str:
    """The content address of an imported answer (see the module docstring)."""
    payload = {"source": "inspect", "model": model, "settings": settings, "epoch": epoch, "messages": messages}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def effective_settings(log: EvalLog) -> dict[str, Any]:
    """The generation settings in force: the task's, overridden by the evaluation's."""
    settings = log.plan.config.model_dump(exclude_none=True, mode="json") if log.plan else {}
    settings.update(log.eval.model_generate_config.model_dump(exclude_none=True, mode="json"))
    return settings


def _host(url: str | None) -> str | None:
    return urlsplit(url).netloc.rpartition("@")[2] or None if url else None


def _run_spec(log: EvalLog, name: str, path: Path, settings: dict[str, Any], epoch: int) -> RunSpec:
    ours = (log.eval.metadata or {}).get("vscbench") or {}
    selection = ours.get("selection") or {}
    method = (ours.get("method") or {}).get("canonical")
    if method is None:
        steps = [step.solver for step in (log.plan.steps if log.plan else [])]
        method = "inspect:" + ("+".join(steps) or "none")
    config = GenerationConfig(
        max_tokens=settings.get("max_tokens", 512), temperature=settings.get("temperature", 0.0),
        top_p=settings.get("top_p"), seed=settings.get("seed"), system_prompt=settings.get("system_message"),
    )  # fmt: skip
    meta = {
        "inspect": {
            "log": str(path), "task": log.eval.task, "task_version": log.eval.task_version,
            "task_args": log.eval.task_args, "eval_id": log.eval.eval_id, "run_id": log.eval.run_id,
            "created": log.eval.created, "status": log.status, "epoch": epoch, "model": log.eval.model,
            "model_host": _host(log.eval.model_base_url), "generate_config": settings,
            "solvers": [step.solver for step in (log.plan.steps if log.plan else [])],
            "packages": log.eval.packages,
        },
        **({"method": ours["method"]} if ours.get("method") else {}),
    }  # fmt: skip
    return RunSpec(
        name=name, model=MODEL_PREFIX + log.eval.model, data=selection.get("data"),
        subset=selection.get("subset") or "all", variants=selection.get("variants"), method=method, config=config,
        limit=selection.get("limit"), meta=meta, benchmark=selection.get("benchmark") or "vscbench",
        categories=selection.get("categories"), seed=selection.get("seed"),
        figstep_instruction=selection.get("figstep_instruction"),
    )  # fmt: skip


def default_run_name(log: EvalLog) -> str:
    """``inspect-<model>-<task>-<eval id>``: readable, and one per evaluation."""
    model = log.eval.model.rsplit("/", 1)[-1]
    task = log.eval.task.rsplit("/", 1)[-1]
    return f"inspect-{model}-{task}-{log.eval.eval_id[:8]}"


def _verdicts(sample: EvalSample, key: str, sample_id: str) -> list[Verdict]:
    found = []
    for score in (sample.scores or {}).values():
        metadata = score.metadata or {}
        if (
            "verdict" in metadata
            and "judge" in metadata
            and metadata["verdict"] in ("refusal", "warning", "compliance", "irrelevant", "invalid")
        ):
            found.append(Verdict(response_key=key, sample_id=sample_id, judge=str(metadata["judge"]),
                                 label=metadata["verdict"], reason=score.explanation, raw=metadata.get("raw")))  # fmt: skip
    return found


def _read_header(path: Path) -> EvalLog:
    if not path.is_file():
        raise LogImportError(f"{path} does not exist; give an Inspect log file (.eval or .json), e.g. logs/*.eval")
    if path.suffix not in (".eval", ".json"):
        raise LogImportError(f"{path} is not an Inspect log: its name must end in .eval or .json")
    try:
        return read_eval_log(str(path), header_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same to the user
        raise LogImportError(f"{path} could not be read as an Inspect log: {type(exc).__name__}: {exc}") from None


def import_log(
    store: Store, log_path: str | Path, run: str | None = None, data: Iterable[Sample] | None = None
) -> list[ImportSummary]:
    """Store one Inspect log as runs (one per epoch; ``run`` names the first, later epochs get
    ``-epochN``). ``data`` supplies our sample records for logs whose samples carry none."""
    path = Path(log_path).expanduser()
    header = _read_header(path)
    by_id = {sample.id: sample for sample in data} if data is not None else {}
    settings = effective_settings(header)
    model = MODEL_PREFIX + header.eval.model
    base = run or default_run_name(header)
    per_epoch: dict[int, list[tuple[Sample, Response, list[Verdict]]]] = {}
    try:
        samples = read_eval_log_samples(str(path), all_samples_required=False)
        for logged in samples:
            ours = sample_from_metadata(logged.metadata) or by_id.get(str(logged.id))
            if ours is None:
                raise LogImportError(
                    f"{path}: sample {logged.id!r} carries no vscbench sample record and is not in the data given; "
                    "import logs of the vscbench tasks, or pass --data DIR holding samples with these ids"
                )
            messages = normalised_messages(sent_messages(logged), logged.attachments)
            key = response_key(model, settings, logged.epoch, messages)
            ended = generation_outcome(logged.output, logged.error.message if logged.error else None)
            usage = logged.output.usage if logged.output else None
            response = Response(
                key=key, sample_id=ours.id, model=model, outcome=ended.outcome, text=ended.text, error=ended.error,
                usage=Usage(prompt_tokens=usage.input_tokens if usage else None,
                            completion_tokens=usage.output_tokens if usage else None),
                latency_s=logged.output.time if logged.output and logged.output.time else logged.working_time,
                attempts=1 + len(logged.error_retries or []),
            )  # fmt: skip
            per_epoch.setdefault(logged.epoch, []).append((ours, response, _verdicts(logged, key, ours.id)))
    except LogImportError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise LogImportError(f"{path}: its samples could not be read: {type(exc).__name__}: {exc}") from None
    if not per_epoch:
        raise LogImportError(f"{path} holds no samples (status {header.status}); was it run with --no-log-samples?")
    summaries = []
    for epoch in sorted(per_epoch):
        name = base if epoch == min(per_epoch) else f"{base}-epoch{epoch}"
        items = per_epoch[epoch]
        store.start_run(_run_spec(header, name, path, settings, epoch), [(s, r.key) for s, r, _ in items])
        store.put_responses(r for _, r, _ in items)
        verdicts = [v for _, _, found in items for v in found]
        store.put_verdicts(verdicts)
        complete = header.status == "success" and all(r.outcome != "error" for _, r, _ in items)
        store.finish_run(name, "complete" if complete else "incomplete")
        summaries.append(ImportSummary(
            log=str(path), run=name, model=model, task=header.eval.task, epoch=epoch, status=header.status,
            samples=len(items), outcomes=dict(Counter(r.outcome for _, r, _ in items)),
            verdicts=dict(Counter(v.judge for v in verdicts)),
        ))  # fmt: skip
    return summaries
