"""What calls will cost before they are sent, and what they cost once answered.

Input tokens come from :mod:`vscbench.models.tokens` (text by UTF-8 bytes / 4, images by the
provider's rule for the size sent). Output tokens cannot be known before the answer, so an
estimate states its basis:

- **expected** output per call: the mean completion tokens of the same model's stored ``ok``
  answers in the same role (a run's answers, or judge calls), when the store holds any; else
  :data:`DEFAULT_OUTPUT_TOKENS` (a guess: a VSCBench answer is a few paragraphs, a verdict a
  short JSON object); capped at ``max_tokens``. This is what ``cost_usd`` uses.
- **upper bound**: every call writes ``max_tokens``. ``cost_usd_max`` uses it, and so does a
  budget's reservation for a call in flight (with the input estimate raised by
  :data:`INPUT_MARGIN` for the approximation's error), so ``--max-cost`` is not passed by
  calls whose answers run long.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from vscbench.models.pricing import PriceTable, default_prices
from vscbench.models.tokens import SCHEMA_PROVIDERS, request_tokens
from vscbench.schema import Request, Usage
from vscbench.store import Store

Role = Literal["answer", "judge"]
#: Expected completion tokens per call when the store holds no answer of the model yet.
DEFAULT_OUTPUT_TOKENS: dict[str, int] = {"answer": 300, "judge": 60}
#: A budget reserves this much more input than estimated, for the text approximation's error.
INPUT_MARGIN = 1.15


@dataclass
class CostEstimate:
    """Estimated tokens and cost of calls to one model (or a sum over models)."""

    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    output_tokens_max: int = 0
    cost_usd: float | None = 0.0
    """At the synchronous rate with the expected output; None when a model has no price."""
    cost_usd_batch: float | None = 0.0
    cost_usd_max: float | None = 0.0
    """At the synchronous rate with every answer ``max_tokens`` long."""
    cost_usd_batch_max: float | None = 0.0
    output_basis: str = ""
    images_uncounted: int = 0
    unpriced: list[str] = field(default_factory=list)

    def add(self, other: CostEstimate) -> CostEstimate:
        """This estimate plus ``other`` (a cost stays unknown once either part is unknown)."""

        def plus(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        return CostEstimate(
            self.model if self.model == other.model else "all", self.calls + other.calls,
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
            self.output_tokens_max + other.output_tokens_max, plus(self.cost_usd, other.cost_usd),
            plus(self.cost_usd_batch, other.cost_usd_batch), plus(self.cost_usd_max, other.cost_usd_max),
            plus(self.cost_usd_batch_max, other.cost_usd_batch_max),
            "; ".join(dict.fromkeys(b for b in (self.output_basis, other.output_basis) if b)),
            self.images_uncounted + other.images_uncounted, sorted(set(self.unpriced) | set(other.unpriced)),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        for key in ("cost_usd", "cost_usd_batch", "cost_usd_max", "cost_usd_batch_max"):
            record[key] = None if record[key] is None else round(record[key], 6)
        return record


class Pricer:
    """Estimates and actual costs of one model's calls in one role."""

    def __init__(self, model_spec: str, prices: PriceTable | None = None, store: Store | None = None,
                 role: Role = "answer") -> None:  # fmt: skip
        self.model_spec = model_spec
        self.prices = prices or default_prices()
        self.price = self.prices.price(model_spec)
        self.rule = self.prices.image_rule(model_spec)
        self.schema_sent = model_spec.partition(":")[0] in SCHEMA_PROVIDERS
        history = store.usage.mean_completion(model_spec, role) if store is not None else None
        self.mean_output = history[0] if history else None
        self.default_output = DEFAULT_OUTPUT_TOKENS[role]
        self.output_basis = (
            f"{role} output: mean of {history[1]} stored answers ({history[0]:.0f} tokens)"
            if history
            else f"{role} output: {self.default_output} tokens (no stored answer of this model yet)"
        )

    @property
    def priced(self) -> bool:
        return self.price is not None

    def expected_output(self, max_tokens: int) -> int:
        return min(max_tokens, math.ceil(self.mean_output if self.mean_output is not None else self.default_output))

    def estimate(self, requests: Iterable[Request], extra_input: int = 0) -> CostEstimate:
        """Tokens and cost of sending ``requests`` (each with ``extra_input`` more input tokens,
        e.g. an answer not written yet that a judge will read)."""
        total = CostEstimate(self.model_spec, output_basis=self.output_basis)
        for request in requests:
            tokens, uncounted = request_tokens(request, self.rule, self.schema_sent)
            total.calls += 1
            total.input_tokens += tokens + extra_input
            total.output_tokens += self.expected_output(request.config.max_tokens)
            total.output_tokens_max += request.config.max_tokens
            total.images_uncounted += uncounted
        if self.price is None:
            total.cost_usd = total.cost_usd_batch = total.cost_usd_max = total.cost_usd_batch_max = None
            total.unpriced = [self.model_spec] if total.calls else []
        else:
            cost = self.price.cost
            total.cost_usd = cost(total.input_tokens, total.output_tokens)
            total.cost_usd_batch = cost(total.input_tokens, total.output_tokens, batch=True)
            total.cost_usd_max = cost(total.input_tokens, total.output_tokens_max)
            total.cost_usd_batch_max = cost(total.input_tokens, total.output_tokens_max, batch=True)
        return total

    def reservation(self, request: Request, batch: bool) -> float:
        """The most a call may cost: input with :data:`INPUT_MARGIN`, output ``max_tokens``."""
        if self.price is None:
            return 0.0
        tokens, _ = request_tokens(request, self.rule, self.schema_sent)
        return self.price.cost(math.ceil(tokens * INPUT_MARGIN), request.config.max_tokens, batch=batch)

    def actual(self, usage: Usage, batch: bool, request: Request | None = None, answered: bool = True) -> float:
        """What a call cost by the usage its provider reported. An answer without reported
        usage is charged its estimated cost; a failed call without usage, nothing."""
        if self.price is None:
            return 0.0
        if usage.prompt_tokens is None and usage.completion_tokens is None:
            if not answered:
                return 0.0
            tokens = request_tokens(request, self.rule, self.schema_sent)[0] if request is not None else 0
            max_tokens = request.config.max_tokens if request is not None else 10**9
            return self.price.cost(tokens, self.expected_output(max_tokens), batch=batch)
        return self.price.cost(usage.prompt_tokens or 0, usage.completion_tokens or 0, usage.cached_tokens or 0, batch)
