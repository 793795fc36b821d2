"""Prices, budgets and estimates of an experiment: what ``--dry-run`` prints before anything is
sent, and the checks ``--max-cost`` and ``--execution batch`` need before the first call.

A run's estimate covers the calls still to send after the cache (:class:`~vscbench.engine.runner.RunPlan`).
The judge's covers its calls on those answers (each reading an answer of the model's expected
length, :mod:`vscbench.engine.estimate`) and on answers already stored that it has not judged,
less the judge calls the store already holds. Every estimate says its basis (the token
approximation, the output rule), and is given at the synchronous and the batch rate.
"""

from __future__ import annotations

from typing import Any

from vscbench.engine.estimate import CostEstimate, Pricer
from vscbench.engine.runner import RunPlan
from vscbench.experiment.inputs import ExperimentError
from vscbench.experiment.spec import Experiment
from vscbench.judges.base import JudgeInput, judge_key
from vscbench.models.batch_api import BATCH_APIS
from vscbench.models.pricing import PricesError, PriceTable, default_prices, use_prices
from vscbench.store import Store

#: What every estimate assumes, printed with it.
ASSUMPTIONS = (
    "input text tokens ~ UTF-8 bytes / 4 (measured -7..+13 % against OpenAI's tokenizer on English), images by "
    "each provider's published rule for the size sent; output: the mean of the model's stored answers, else a "
    "default (300 tokens an answer, 60 a verdict), at most max_tokens; *_max: every answer max_tokens long"
)


def experiment_prices(experiment: Experiment) -> PriceTable:
    """The price table of an experiment (its ``prices`` file over the shipped one), made this
    process's default so that the scores and reports it makes are priced the same way."""
    try:
        return use_prices(experiment.execution.prices) if experiment.execution.prices else default_prices()
    except PricesError as exc:
        raise ExperimentError(str(exc)) from None


def llm_judges(experiment: Experiment, store: Store, **options: Any) -> list[Any]:
    """The LLM judges an experiment names (members of votes and cascades too), built without loading a model."""
    from vscbench.judges.registry import JudgeSpecError, get_judge, llm_members

    found: list[Any] = []
    for spec in experiment.judging.judges:
        if ":" not in spec.removeprefix("vote:"):
            continue
        try:
            judge = get_judge(spec, store=store, with_image=experiment.judging.with_image,
                              rubric=experiment.judging.rubric, **{**experiment.judging.options, **options})  # fmt: skip
        except (JudgeSpecError, ValueError, FileNotFoundError) as exc:
            raise ExperimentError(f"judge: {exc}") from None
        found += llm_members(judge)
    return found


def check_paid_calls(experiment: Experiment, specs: list[Any], prices: PriceTable, store: Store) -> None:
    """Refuse, before a call is made, what ``--execution batch`` or ``--max-cost`` cannot do:
    a model without a batch API, a budget over a model without a price."""
    judges = [str(judge.spec) for judge in llm_judges(experiment, store)]
    models = [spec.cache_spec for spec in specs]
    if experiment.execution.mode == "batch":
        for name in models + judges:
            provider = name.partition(":")[0]
            if provider not in BATCH_APIS or name.endswith("@pool"):
                raise ExperimentError(
                    f"--execution batch sends calls through the batch APIs of openai: and anthropic: models (one "
                    f"server each); {name} has none: leave it out, or use --execution sync"
                )
    if experiment.execution.max_cost is not None:
        if experiment.execution.ray:
            raise ExperimentError("--max-cost does not work with --ray yet: run without --ray, or without a budget")
        unpriced = [name for name in models + judges if prices.price(name) is None]
        if unpriced:
            raise ExperimentError(
                f"--max-cost needs the price of {', '.join(unpriced)}, which the price table does not know: add it "
                'with --prices FILE (JSON: {"format": "vscbench-prices/1", "models": {"openai:NAME": {"input": '
                '0.15, "output": 0.6, "batch_discount": 0.5}}}, USD per 1M tokens)'
            )


def estimate_plan(plan: RunPlan, prices: PriceTable, store: Store) -> CostEstimate:
    """Tokens and cost of the calls a run still has to send."""
    return Pricer(plan.model, prices, store, role="answer").estimate(plan.todo.values())


def estimate_judging(experiment: Experiment, plans: list[RunPlan], prices: PriceTable, store: Store) -> CostEstimate:
    """Tokens and cost of the LLM judge calls the experiment's runs will need."""
    total = CostEstimate("judge")
    for judge in llm_judges(experiment, store):
        pricer = Pricer(str(judge.spec), prices, store, role="judge")
        judged = set(store.get_verdicts(judge_key(judge)))
        for plan in plans:
            answer_tokens = Pricer(plan.model, prices, store).expected_output(plan.requests[0].config.max_tokens
                                                                              if plan.requests else 512)  # fmt: skip
            stored, future = [], []
            seen: set[str] = set()
            for sample, key in zip(plan.samples, plan.keys):
                if key in seen or key in judged:
                    continue
                seen.add(key)
                item = JudgeInput(question=sample.original_question, prompt_sent=sample.prompt, response="",
                                  image_path=str(sample.image_path) if sample.image_path else None,
                                  sample_id=sample.id, response_key=key)  # fmt: skip
                if key in plan.todo:
                    future.append(judge.request_for(item))
                    continue
                response = store.get_response(key)
                if response is not None and response.outcome == "ok":
                    stored.append(judge.request_for(JudgeInput(**{**item.__dict__, "response": response.text or ""})))
            asked = store.answered_keys([request.cache_key(str(judge.spec)) for request in stored])
            stored = [request for request in stored if request.cache_key(str(judge.spec)) not in asked]
            total = total.add(pricer.estimate(stored)).add(pricer.estimate(future, extra_input=answer_tokens))
    total.model = "judge"
    return total


def dry_run_cost(runs: CostEstimate, judging: CostEstimate) -> dict[str, Any]:
    """The dry run's totals: ``calls``, ``input_tokens``, ``output_tokens``, ``cost_usd`` (sync)
    and ``cost_usd_batch``, with upper bounds, the parts and the assumptions."""
    both = runs.add(judging)
    record = both.to_dict()
    return {
        key: record[key]
        for key in ("calls", "input_tokens", "output_tokens", "cost_usd", "cost_usd_batch", "output_tokens_max",
                    "cost_usd_max", "cost_usd_batch_max", "unpriced", "images_uncounted")
    } | {"models": runs.to_dict(), "judge": judging.to_dict(), "assumptions": ASSUMPTIONS}  # fmt: skip
