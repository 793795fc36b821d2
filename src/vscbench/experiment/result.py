"""What an experiment gives back: per model x method its run, judging and scores
(:class:`RunOutcome`), and the whole :class:`ExperimentResult`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vscbench.experiment.spec import Experiment


@dataclass
class RunOutcome:
    """One model x method of an experiment: its run, its judging and its scores."""

    run: str
    model: str
    method: str
    samples: int
    summary: Any = None
    """:class:`vscbench.engine.runner.RunSummary`, or the dry-run plan's counts."""
    judged: list[Any] = field(default_factory=list)
    """:class:`vscbench.judges.runs.JudgeSummary` per judge."""
    score: Any = None
    """:class:`vscbench.scoring.metrics.ScoreReport` (safety benchmarks) or a utility report."""
    demo_ids: list[str] = field(default_factory=list)
    cost: dict[str, Any] | None = None
    """What the run's answers and its judges' calls cost (:meth:`vscbench.scoring.cost.RunCost.to_dict`)."""
    stored: dict[str, int] = field(default_factory=dict)
    """The run's samples by stored outcome (ok, blocked, error, empty, missing), answers from
    earlier runs included: a rerun from the cache sends nothing and still holds its answers."""

    def flat(self) -> dict[str, Any]:
        """One flat record: the run's counts (or its dry-run plan) with its name, model, method,
        demonstrations, judging and scores (what ``vscbench run --json`` prints per run)."""
        summary = self.summary.to_dict() if hasattr(self.summary, "to_dict") else dict(self.summary or {})
        return {
            **summary, "run": self.run, "model": self.model, "method": self.method, "samples": self.samples,
            "demo_ids": self.demo_ids, "judged": [j.to_dict() for j in self.judged], "stored": dict(self.stored),
            "score": self.score.to_dict() if self.score is not None else None,
            **({"cost": self.cost} if self.cost is not None else {}),
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        summary = self.summary.to_dict() if hasattr(self.summary, "to_dict") else self.summary
        return {
            "run": self.run, "model": self.model, "method": self.method, "samples": self.samples,
            "summary": summary, "judged": [j.to_dict() for j in self.judged],
            "score": self.score.to_dict() if self.score is not None else None, "demo_ids": self.demo_ids,
            "cost": self.cost,
            "stored": dict(self.stored),
        }  # fmt: skip


@dataclass
class ExperimentResult:
    experiment: Experiment
    runs: list[RunOutcome]
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    cost: dict[str, Any] | None = None
    """A dry run's estimate: ``calls``, ``input_tokens``, ``output_tokens``, ``cost_usd`` (at
    the synchronous rate) and ``cost_usd_batch``, for the runs and the judge together."""
    budget_stop: str | None = None
    """Why sending stopped at ``--max-cost`` (one line with the spend), or None."""
    spent_usd: float | None = None
    """What this command spent by the usage reported (with a budget; None without)."""

    @property
    def errors(self) -> int:
        return sum(getattr(r.summary, "error", 0) or 0 for r in self.runs)

    @property
    def judge_failures(self) -> int:
        return sum(j.judge_failed for r in self.runs for j in r.judged)

    @property
    def ok(self) -> bool:
        """No judge call failed, no model call ended in ``error`` (unless allowed), and the
        budget did not stop the sending."""
        allowed = self.errors == 0 or self.experiment.execution.allow_errors
        return self.judge_failures == 0 and allowed and self.budget_stop is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.model_dump(mode="json"), "dry_run": self.dry_run, "ok": self.ok,
            "errors": self.errors, "judge_failures": self.judge_failures, "notes": list(self.notes),
            "runs": [run.to_dict() for run in self.runs], "cost": self.cost, "budget_stop": self.budget_stop,
            "spent_usd": self.spent_usd,
        }  # fmt: skip


ProgressFactory = Callable[[str], Callable[[Any], None] | None]
"""Given a run name, the progress callback for that run (or None)."""
