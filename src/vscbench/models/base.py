"""The one small interface every model backend implements, and model spec parsing.

A backend turns :class:`~vscbench.schema.Request` records into provider calls and back into
:class:`Generation` results. It does not retry, rate-limit or schedule: the runner does (or the
provider SDK's own retry, configured by the backend).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from vscbench.schema import Outcome, Request, Usage

#: provider prefix -> "module:factory" that builds the backend. Imported lazily so that an
#: API-only install never imports torch.
BACKENDS: dict[str, str] = {
    "openai": "vscbench.models.openai:OpenAIModel",
    "anthropic": "vscbench.models.anthropic:AnthropicModel",
    "google": "vscbench.models.google:GoogleModel",
    "hf": "vscbench.models.hf:HFModel",
    "vllm": "vscbench.models.vllm:VLLMModel",
    "scripted": "vscbench.models.scripted:ScriptedModel",
}

#: providers whose spec may name several replicas of one model (``openai:MODEL@URL1,URL2``):
#: provider prefix -> "module:factory" of the pool that spreads requests over them.
POOL_BACKENDS: dict[str, str] = {
    "openai": "vscbench.models.pool:EndpointPool",
}


class ModelSpecError(ValueError):
    """A model spec string that cannot be understood; the message shows the accepted forms."""


@dataclass(frozen=True)
class ModelSpec:
    """A model named as ``provider:name`` or ``provider:name@base_url``.

    ``hf:`` names may be hub ids or local paths (which may contain ``@`` only if escaped by
    using ``--base-url`` instead; for ``hf`` the ``@`` form is not parsed).
    """

    provider: str
    name: str
    base_url: str | None = None

    @classmethod
    def parse(cls, spec: str, base_url: str | None = None) -> "ModelSpec":
        provider, sep, rest = spec.partition(":")
        if not sep or not provider or not rest:
            raise ModelSpecError(
                f"model spec {spec!r} is not of the form PROVIDER:MODEL. Examples: "
                "openai:gpt-4o-mini, openai:Qwen2-VL-7B@http://localhost:8000/v1, "
                "anthropic:claude-3-5-sonnet-latest, google:gemini-2.0-flash, hf:/path/to/model"
            )
        provider = provider.lower()
        if provider not in BACKENDS:
            raise ModelSpecError(
                f"unknown provider {provider!r} in model spec {spec!r}; "
                f"known providers: {', '.join(sorted(BACKENDS))}"
            )
        name = rest
        if provider != "hf" and "@" in rest:
            name, _, url = rest.rpartition("@")
            if base_url and base_url != url:
                raise ModelSpecError(f"model spec {spec!r} names {url} but --base-url says {base_url}")
            base_url = url
        if base_url and "," in base_url:  # a pool: normalise each URL, keep a lone URL's comma
            urls = [part.strip().rstrip("/") for part in base_url.split(",") if part.strip()]
            if not urls:
                raise ModelSpecError(f"model spec {spec!r} names an empty list of URLs")
            return cls(provider=provider, name=name, base_url=",".join(urls) + ("," if len(urls) == 1 else ""))
        return cls(provider=provider, name=name, base_url=base_url.rstrip("/") if base_url else None)

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}" + (f"@{self.base_url}" if self.base_url else "")

    @property
    def is_pool(self) -> bool:
        """True when ``base_url`` is a comma-separated list (even of one URL: ``@URL,``)."""
        return self.base_url is not None and "," in self.base_url

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every URL the spec names, in the order given."""
        return tuple(url for url in (self.base_url or "").split(",") if url)

    @property
    def cache_spec(self) -> str:
        """The spec answers are keyed and recorded under: ``str(self)``, but ``@pool`` in place
        of a pool's URLs, since its replicas serve one model: adding or removing a replica keeps
        every stored answer valid, and a pool never shares answers with a hosted model that
        happens to have the same name."""
        return f"{self.provider}:{self.name}@pool" if self.is_pool else str(self)


@dataclass
class Generation:
    """One backend answer: the text, or why there is none.

    ``outcome`` is ``blocked`` when the provider's content filter refused the input or output,
    and ``error`` for anything else that went wrong after the SDK's retries.
    """

    outcome: Outcome
    text: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1


@runtime_checkable
class Model(Protocol):
    """A loaded model. API backends take one request a call; local backends take batches."""

    spec: ModelSpec
    #: The most requests one :meth:`generate` call accepts (1 for API backends).
    max_batch_size: int

    async def generate(self, requests: list[Request]) -> list[Generation]:
        """Answer each request, in order. Never raises for a per-request failure: returns an
        ``error`` or ``blocked`` Generation instead."""
        ...

    async def aclose(self) -> None:
        ...


def load_model(spec: str | ModelSpec, **options: Any) -> Model:
    """Build the backend for a model spec. Options go to the backend (base_url, batch_size, ...)."""
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec, options.pop("base_url", None))
    target = BACKENDS[parsed.provider]
    if parsed.is_pool:
        if parsed.provider not in POOL_BACKENDS:
            raise ModelSpecError(
                f"model spec {parsed} names several URLs, but only {', '.join(sorted(POOL_BACKENDS))} "
                "specs can be a pool of servers"
            )
        target = POOL_BACKENDS[parsed.provider]
    module_name, _, factory_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = {"anthropic": "anthropic", "google": "google", "hf": "local", "vllm": "local"}.get(
            parsed.provider, ""
        )
        hint = f" Install it with `pip install 'vscbench[{extra}]'`." if extra else ""
        raise ModelSpecError(
            f"the {parsed.provider} backend needs a package that is not installed ({exc.name}).{hint}"
        ) from exc
    return getattr(module, factory_name)(parsed, **options)
