"""Our calibration prompting methods as Inspect solvers: chain-of-thought, the safety prompt, few-shot.

A solver applies :meth:`vscbench.methods.plan.MethodPlan.transform`, the same code
`vscbench run --method` uses, to the messages of a TaskState: the state's messages become a
Request, the method maps it, and the result becomes the state's messages again (its own images
untouched). ``few-shot:2+cot`` therefore means here exactly what it means in a run.

Few-shot demonstrations are benchmark samples, and a sample shown as a demonstration must not be
evaluated. The task holds them out when it builds its dataset (``-T method=few-shot:2``), with
:func:`prepare_method`; the solver it then uses carries that selection. Asked for on its own
(``--solver vscbench/prompting -S method=few-shot:2``) the solver could not hold anything out of
a dataset it never saw, so it refuses, and says to use the task parameter instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inspect_ai.solver import Generate, Solver, TaskState, solver

from vscbench.inspect.messages import messages_from_request, request_from_state, sample_from_metadata
from vscbench.methods.plan import MethodPlan, MethodSpecError, parse_method
from vscbench.schema import GenerationConfig, Sample


@dataclass
class PreparedMethod:
    """A parsed method whose few-shot demonstrations were drawn for, and held out of, a task's samples.

    ``name`` is what Inspect records for the solver's ``method`` argument in the log.
    """

    plan: MethodPlan
    samples: list[Sample]
    """The samples left to evaluate (demonstration rows removed)."""

    @property
    def name(self) -> str:
        text = self.plan.canonical
        if self.plan.demo_ids:
            text += f" (demonstrations: {', '.join(self.plan.demo_ids)})"
        return text


def check_method(plan: MethodPlan) -> None:
    """Refuse what Inspect cannot run: IAR steers a local model's activations; ECSO makes several calls."""
    if plan.iar is not None:
        raise MethodSpecError(
            "iar steering needs a local transformers model's activations, which no Inspect provider exposes; "
            "use `vscbench run --model hf:PATH --method iar:...`, or a prompting method here "
            "(cot, safety-prompt, few-shot:K)"
        )
    if plan.ecso:
        raise MethodSpecError(
            "ecso asks the model several times per sample (answer, check, caption, answer again), which an "
            "Inspect solver here does not do; use `vscbench run --method ecso`, or a prompting method here"
        )


def prepare_method(spec: str, samples: Sequence[Sample], pool: Sequence[Sample]) -> PreparedMethod:
    """Parse ``spec`` and draw its few-shot demonstrations from ``pool``, holding them out of ``samples``.

    Use this when building a Task of your own: give its dataset ``prepared.samples`` and its
    solver ``prompting(prepared)``.
    """
    plan = parse_method(spec)
    check_method(plan)
    kept = plan.select(samples, pool)
    return PreparedMethod(plan=plan, samples=kept)


def _plan_for(method: str | PreparedMethod) -> tuple[MethodPlan, dict[str, Sample]]:
    if isinstance(method, PreparedMethod):
        return method.plan, {sample.id: sample for sample in method.samples}
    plan = parse_method(method)
    check_method(plan)
    if plan.pipeline.few_shot is not None:
        raise MethodSpecError(
            f"{method!r}: few-shot demonstrations must be held out of the task's samples, which a solver "
            f"cannot do; pass the method to the task instead: -T method={method}"
        )
    return plan, {}


@solver
def prompting(method: str | PreparedMethod = "cot", max_image_side: int = 1024, image_format: str = "auto") -> Solver:
    """Apply a vscbench prompting method (``cot``, ``safety-prompt[:file=PATH]``, and, through
    the task's ``method`` parameter, ``few-shot:K``; compose with ``+``) to each sample's messages.

    ``max_image_side`` and ``image_format`` prepare the demonstration images few-shot adds, as
    `vscbench run` prepares them.
    """
    plan, known = _plan_for(method)
    config = GenerationConfig(max_image_side=max_image_side, image_format=image_format)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if plan.canonical == "none":
            return state
        sample = known.get(str(state.sample_id)) or sample_from_metadata(state.metadata)
        if sample is None:
            raise MethodSpecError(
                f"sample {state.sample_id} carries no vscbench sample record in its metadata; "
                "vscbench prompting methods run on the vscbench tasks (vscbench/all, vscbench/image_centric, "
                "vscbench/text_centric)"
            )
        request, images = request_from_state(sample.id, state.messages)
        changed = plan.transform([sample])(request)
        state.messages = messages_from_request(changed, images, config)
        return state

    return solve


@solver
def chain_of_thought() -> Solver:
    """Ask the model to reason about harm, with the image, before it answers (vscbench ``cot``)."""
    return prompting("cot")


@solver
def safety_prompt(file: str | None = None) -> Solver:
    """Put the calibrated safety system prompt (or the one in ``file``) first (vscbench ``safety-prompt``)."""
    return prompting("safety-prompt" if file is None else f"safety-prompt:file={file}")
