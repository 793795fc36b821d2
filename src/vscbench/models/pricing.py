"""What calls cost: a dated price table, shipped as data and overridable by a file of one's own.

Prices are data, not code: ``prices.json`` next to this module holds, per ``PROVIDER:MODEL``,
the input, cached-input and output rates in USD per million tokens, the batch discount, how the
provider counts an image's tokens, and where and when each price was read. A user file in the
same format (``vscbench run --prices FILE``, or the ``VSCBENCH_PRICES`` environment variable)
replaces or adds entries; everything it leaves out keeps the shipped value.

A model is priced by its name, whatever server it is reached through: ``openai:gpt-4o-mini@URL``
is priced as ``openai:gpt-4o-mini``, and a dated snapshot (``gpt-4o-mini-2024-07-18``) as the
longest key it starts with. A model the table does not know has no price (``None``): callers
say "price unknown", never a made-up 0. Local backends (``hf``, ``vllm``, ``scripted``) cost
nothing per token: they are priced at 0 and marked ``local``.

Cost of one call, from the tokens its provider reported (``prompt_tokens`` includes the
cached ones): ``((prompt - cached) * input + cached * cached_input + completion * output) / 1e6``,
each rate times ``1 - batch_discount`` for a batch call (cached input: ``batch_cached_input``
where the provider publishes one). Anthropic's cache writes and long-prompt tiers are not
modelled (vscbench sets no cache breakpoints and sends short prompts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Backends that run on one's own hardware: no per-token price.
LOCAL_PROVIDERS = frozenset({"hf", "vllm", "scripted"})
#: Where a user's price file may be named instead of ``--prices``.
PRICES_ENV = "VSCBENCH_PRICES"
PRICE_FORMAT = "vscbench-prices/1"


class PricesError(ValueError):
    """A price file that cannot be used; the message names the file and the entry."""


class ImageRule(BaseModel):
    """How a provider counts the tokens of one image of a given size (see :mod:`.tokens`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: Literal["tiles", "patches", "pixels", "gemini_tiles", "fixed"]
    base: int | None = None
    tile: int | None = None
    multiplier: float | None = None
    pixels_per_token: float | None = None
    max_long_edge: int | None = None
    max_tokens: int | None = None
    tokens: int | None = None
    small_side: int | None = None
    tile_side: int | None = None


class Price(BaseModel):
    """One model's rates in USD per million tokens, and where they come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    """Input read from the provider's prompt cache; None: billed as input."""
    batch_discount: float = Field(default=0.0, ge=0, lt=1)
    """Share taken off every rate for calls sent through the provider's batch API."""
    batch_cached_input: float | None = Field(default=None, ge=0)
    """Cached input in a batch, where the provider publishes its own rate."""
    image: ImageRule | None = None
    source: str | None = None
    date: str | None = None
    note: str | None = None
    local: bool = False

    def rates(self, batch: bool = False) -> tuple[float, float, float]:
        """(input, cached input, output) per million tokens, synchronous or in a batch."""
        keep = 1.0 - self.batch_discount if batch else 1.0
        cached = self.cached_input if self.cached_input is not None else self.input
        if batch and self.batch_cached_input is not None:
            return self.input * keep, self.batch_cached_input, self.output * keep
        return self.input * keep, cached * keep, self.output * keep

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, batch: bool = False) -> float:
        """USD of calls that used these tokens (``prompt_tokens`` includes ``cached_tokens``)."""
        rate_in, rate_cached, rate_out = self.rates(batch)
        cached = min(max(cached_tokens, 0), prompt_tokens)
        return ((prompt_tokens - cached) * rate_in + cached * rate_cached + completion_tokens * rate_out) / 1e6


class ProviderDefaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    image: ImageRule | None = None
    image_note: str | None = None


class PriceFile(BaseModel):
    """The file format of ``prices.json`` and of a user's ``--prices`` file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: str = PRICE_FORMAT
    currency: Literal["USD"] = "USD"
    unit: str = "USD per 1M tokens"
    updated: str | None = None
    about: str | None = None
    providers: dict[str, ProviderDefaults] = Field(default_factory=dict)
    models: dict[str, Price] = Field(default_factory=dict)


LOCAL_PRICE = Price(input=0.0, output=0.0, source="a local model: no per-token charge", local=True)


@dataclass(frozen=True)
class PriceTable:
    """The shipped prices with any user file's entries over them."""

    models: dict[str, Price]
    providers: dict[str, ProviderDefaults]
    updated: str | None
    sources: tuple[str, ...]
    """The files the table was read from, shipped table first."""

    def key_for(self, model_spec: str) -> str | None:
        """The table key that prices ``model_spec`` (exact name, else the longest key it starts
        with followed by ``-``), or None."""
        provider, name = split_spec(model_spec)
        exact = f"{provider}:{name.lower()}"
        if exact in self.models:
            return exact
        candidates = [key for key in self.models if exact.startswith(key + "-")]
        return max(candidates, key=len) if candidates else None

    def price(self, model_spec: str) -> Price | None:
        """The price of a model spec (``openai:gpt-4o-mini@URL`` too); None when unknown."""
        provider, _ = split_spec(model_spec)
        if provider in LOCAL_PROVIDERS:
            return LOCAL_PRICE
        key = self.key_for(model_spec)
        return self.models[key] if key else None

    def image_rule(self, model_spec: str) -> ImageRule | None:
        """The model's image rule, else its provider's; None for a provider with none."""
        price = self.price(model_spec)
        if price is not None and price.image is not None:
            return price.image
        defaults = self.providers.get(split_spec(model_spec)[0])
        return defaults.image if defaults else None

    def cost(self, model_spec: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
             batch: bool = False) -> float | None:  # fmt: skip
        """USD of calls of ``model_spec``; None when its price is unknown."""
        price = self.price(model_spec)
        return None if price is None else price.cost(prompt_tokens, completion_tokens, cached_tokens, batch)

    def describe(self) -> str:
        """``prices of 2026-12-07 (shipped) + my-prices.json``: which table priced a figure."""
        extra = f" + {', '.join(self.sources[1:])}" if len(self.sources) > 1 else ""
        return f"prices of {self.updated or 'an undated table'} (shipped){extra}"


def split_spec(model_spec: str) -> tuple[str, str]:
    """(provider, model name) of a spec, without any ``@URL`` (or ``@pool``) part."""
    provider, _, rest = model_spec.partition(":")
    at_url = rest.find("@")
    name = rest[:at_url] if at_url > 0 and provider != "hf" else rest
    return provider.lower(), name


def _read(text: str, where: str) -> PriceFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PricesError(f"price file {where} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise PricesError(f"price file {where} must hold a JSON object with a 'models' table")
    try:
        parsed = PriceFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(part) for part in first["loc"])
        raise PricesError(f"price file {where}: {at}: {first['msg']} (see `vscbench run --help`, --prices)") from None
    if parsed.format != PRICE_FORMAT:
        raise PricesError(f"price file {where} has format {parsed.format!r}; this vscbench reads {PRICE_FORMAT!r}")
    for key in parsed.models:
        provider, sep, name = key.partition(":")
        if not sep or not provider or not name:
            raise PricesError(f"price file {where}: model key {key!r} is not PROVIDER:MODEL (e.g. openai:gpt-4o-mini)")
    return parsed


def shipped_prices() -> PriceTable:
    """The table that ships with vscbench (``prices.json``)."""
    text = resources.files("vscbench.models").joinpath("prices.json").read_text(encoding="utf-8")
    parsed = _read(text, "prices.json (shipped)")
    return PriceTable(dict(parsed.models), dict(parsed.providers), parsed.updated, ("prices.json",))


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The shipped table, with the entries of the user file at ``path`` over it."""
    table = shipped_prices()
    if path is None:
        return table
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricesError(f"price file {file} cannot be read ({exc.strerror or exc})") from None
    extra = _read(text, str(file))
    models = {**table.models, **{key.lower(): price for key, price in extra.models.items()}}
    providers = {**table.providers, **extra.providers}
    return PriceTable(models, providers, table.updated, (*table.sources, str(file)))


_default: PriceTable | None = None


def default_prices() -> PriceTable:
    """The table used when none is passed: the one set by :func:`use_prices`, else the shipped
    table with ``$VSCBENCH_PRICES`` over it."""
    global _default
    if _default is None:
        _default = load_prices(os.environ.get(PRICES_ENV) or None)
    return _default


def use_prices(path: str | Path | None) -> PriceTable:
    """Load a user price file (None: the shipped table) and make it this process's default."""
    global _default
    _default = load_prices(path)
    return _default
