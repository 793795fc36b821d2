"""The one small interface every model backend implements, and model spec parsing.

A backend turns :class:`~vscbench.schema.Request` records into provider calls and back into
:class:`Generation` results. It does not retry, rate-limit or schedule: the runner does (or the
provider SDK's own retry, configured by the backend).
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from vscbench.models.http import public_url
from vscbench.safe_text import redact_secrets
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

    Credentials in a URL (``http://user:password@host/v1``, for a gateway behind basic auth, or
    ``?api-key=KEY`` for one that takes its key as a query parameter) are used to connect and
    kept nowhere else: ``base_url``, ``str(spec)`` and ``cache_spec``
    (what run names, listings, stores and logs see) hold the URL without them; only
    :attr:`connect_url` has them, and it is never printed.
    """

    provider: str
    name: str
    base_url: str | None = None
    secret_url: str | None = field(default=None, repr=False, compare=False)
    """``base_url`` with its ``user:password@`` parts; None when it has none."""

    @classmethod
    def parse(cls, spec: str, base_url: str | None = None) -> ModelSpec:
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
                f"unknown provider {provider!r} in model spec {spec!r}; known providers: {', '.join(sorted(BACKENDS))}"
            )
        name = rest
        if provider != "hf" and "@" in rest:
            # the first '@' that starts a URL ends the name: a URL's own user@host stays in it
            at_url = re.search(r"@(?=[a-z][a-z0-9+.-]*://)", rest, re.IGNORECASE)
            name, url = (rest[: at_url.start()], rest[at_url.end() :]) if at_url else rest.rpartition("@")[::2]
            if base_url and _public(base_url) != _public(url):
                raise ModelSpecError(
                    f"model spec {_shown(spec)!r} names {_public(url)} but --base-url says {_public(base_url)}"
                )
            base_url = url
        if not base_url:
            return cls(provider=provider, name=name)
        if "," in base_url:  # a pool: normalise each URL, keep a lone URL's comma
            urls = [part.strip().rstrip("/") for part in base_url.split(",") if part.strip()]
            if not urls:
                raise ModelSpecError(f"model spec {_shown(spec)!r} names an empty list of URLs")
            joined = ",".join(urls) + ("," if len(urls) == 1 else "")
        else:
            joined = base_url.rstrip("/")
        clean = ",".join(_public(url) for url in joined.split(",")) if "," in joined else _public(joined)
        return cls(provider=provider, name=name, base_url=clean, secret_url=joined if clean != joined else None)

    @property
    def connect_url(self) -> str | None:
        """The URL(s) to connect to, credentials included. Never print or store it."""
        return self.secret_url or self.base_url

    @property
    def connect_urls(self) -> tuple[str, ...]:
        """:attr:`base_urls` with their credentials, in the same order."""
        return tuple(url for url in (self.connect_url or "").split(",") if url)

    def endpoint(self, index: int) -> ModelSpec:
        """The spec of one URL of a pool (credentials kept for connecting)."""
        clean, secret = self.base_urls[index], self.connect_urls[index]
        return ModelSpec(self.provider, self.name, clean, secret if secret != clean else None)

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


def _public(url: str) -> str:
    """A URL without its credentials (:func:`vscbench.models.http.public_url`)."""
    return public_url(url) if url else url


def _shown(text: str) -> str:
    """A spec as an error may show it: credentials removed."""
    return redact_secrets(text)


def resolve_api_key(given: str | None, variables: tuple[str, ...], what: str) -> str | None:
    """The key given, else the first of the environment ``variables`` that is set; None when
    none is. A key holding a line break, a space or another control character is refused
    (:class:`ModelSpecError` naming where it came from, never any part of it): it is a paste
    gone wrong, and an HTTP client would quote it back in its error."""
    source, key = "the api_key option", given
    if not key:
        source, key = next(((name, os.environ[name]) for name in variables if os.environ.get(name)), ("", None))
    if key is None:
        return None
    if key != key.strip() or any(ord(char) < 33 or ord(char) == 127 for char in key):
        raise ModelSpecError(
            f"{what}: {source} holds a line break, a space or another control character; set it again to "
            "the key alone (one line, no quotes)"
        )
    return key


@dataclass
class Generation:
    """One backend answer: the text, or why there is none.

    ``outcome`` is ``blocked`` when the provider's content filter refused the input or output,
    and ``error`` for anything else that went wrong after the SDK's retries. On an ``ok`` answer
    ``error`` may hold a note on how its text was repaired to be storable (invalid UTF-8, lone
    surrogates or NUL replaced by U+FFFD), so a changed answer is never silent.
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

    async def aclose(self) -> None: ...


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
        extra = {"anthropic": "anthropic", "google": "google", "hf": "local", "vllm": "local"}.get(parsed.provider, "")
        hint = f" Install it with `pip install 'vscbench[{extra}]'`." if extra else ""
        raise ModelSpecError(
            f"the {parsed.provider} backend needs a package that is not installed ({exc.name}).{hint}"
        ) from exc
    return getattr(module, factory_name)(parsed, **options)
