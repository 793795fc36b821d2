"""Judges by name: ``get_judge("offline")``, ``get_judge("keyword")``, ``get_judge("vote:offline,keyword")``.

LLM judges are named ``provider:model`` (``openai:gpt-4o-mini``) for every model backend of
:mod:`vscbench.models.base`; :mod:`vscbench.judges.llm` is imported only when such a spec is
asked for (it pulls in the runner and the SDKs). A spec whose provider is no backend raises
:class:`JudgeSpecError` saying so, rather than silently falling back to another judge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vscbench.judges.base import Judge
from vscbench.models.base import BACKENDS

JudgeFactory = Callable[..., Judge]

#: The judge used when none is named and an OpenAI key is in the environment.
LLM_JUDGE_WHEN_KEYED = "openai:gpt-4o-mini"


def default_judge() -> str:
    """The judge used when none is named: the offline judge, or an LLM judge when an OpenAI
    key is in the environment."""
    import os

    return LLM_JUDGE_WHEN_KEYED if os.environ.get("OPENAI_API_KEY") else "offline"


def describe_default(spec: str) -> str:
    """The line that states the default judge every time it is chosen."""
    if spec == LLM_JUDGE_WHEN_KEYED:
        return (
            f"judge: {spec} (the default because OPENAI_API_KEY is set; the answers are sent to OpenAI). "
            "Use --judge offline to keep them here."
        )
    judge = get_judge(spec)
    return f"judge: {spec} v{judge.version} (the default without an OpenAI key: rules and a small model, no API)"


class JudgeSpecError(ValueError):
    """A judge spec that names no known judge."""


def _offline(_: str) -> Judge:
    from vscbench.judges.offline import OfflineJudge

    return OfflineJudge()


def _keyword(_: str) -> Judge:
    from vscbench.judges.keyword import KeywordJudge

    return KeywordJudge()


def _keyword_anywhere(_: str) -> Judge:
    from vscbench.judges.keyword import KeywordAnywhereJudge

    return KeywordAnywhereJudge()


def _sm_eval(_: str) -> Judge:
    from vscbench.judges.released import SmEvalJudge

    return SmEvalJudge()


#: Judges named by a bare word.
BUILTIN_JUDGES: dict[str, JudgeFactory] = {
    "offline": _offline,
    "keyword": _keyword,
    "keyword-anywhere": _keyword_anywhere,
    "sm-eval": _sm_eval,
}
#: The prefix of the released VSCBench GPT judge: ``released:openai:gpt-4o-mini``.
RELEASED_PREFIX = "released:"


def get_judge(spec: str, **options: Any) -> Judge:
    """The judge a spec names. ``vote:A,B,C`` is the majority of judges A, B and C.

    ``options`` (store, with_image, concurrency, rubric, ...) go to LLM judges only.
    """
    spec = spec.strip()
    if spec in BUILTIN_JUDGES:
        return BUILTIN_JUDGES[spec](spec)
    if spec.startswith(RELEASED_PREFIX):
        from vscbench.judges.released import ReleasedJudge

        inner = spec[len(RELEASED_PREFIX) :]
        if inner.partition(":")[0] not in BACKENDS:
            raise JudgeSpecError(
                f"the released judge needs a model spec, as in 'released:openai:gpt-4o-mini'; got {spec!r}"
            )
        return ReleasedJudge(inner, **options)
    if spec.startswith("vote:"):
        from vscbench.judges.vote import vote

        members = [part.strip() for part in spec[len("vote:") :].split(",") if part.strip()]
        if len(members) < 2:
            raise JudgeSpecError(f"vote needs at least two judges, as in 'vote:offline,keyword'; got {spec!r}")
        return vote([get_judge(member, **options) for member in members], name=spec)
    provider, sep, _ = spec.partition(":")
    if sep and provider in BACKENDS:
        from vscbench.judges.llm import LLMJudge

        return LLMJudge(spec, **options)
    if sep:
        raise JudgeSpecError(
            f"the LLM judge {spec!r} is not available: no judge is registered for provider {provider!r}. "
            f"Use one of {sorted(BUILTIN_JUDGES)} (offline needs no API), or an LLM judge of a model "
            f"backend: {', '.join(f'{name}:MODEL' for name in BACKENDS)}."
        )
    raise JudgeSpecError(
        f"unknown judge {spec!r}; known judges: {sorted(BUILTIN_JUDGES)}, 'vote:A,B', 'provider:model', "
        "or 'released:provider:model' (the released VSCBench judge)"
    )


def available_judges() -> list[str]:
    """Names accepted by :func:`get_judge` without a model part."""
    return sorted(BUILTIN_JUDGES) + [f"{p}:MODEL" for p in sorted(BACKENDS)] + [f"{RELEASED_PREFIX}PROVIDER:MODEL"]
