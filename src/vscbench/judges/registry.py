"""Judges by name: ``get_judge("offline")``, ``get_judge("keyword")``, ``get_judge("vote:offline,keyword")``.

LLM judges are named ``provider:model`` (``openai:gpt-4o-mini``) for every model backend of
:mod:`vscbench.models.base`; :mod:`vscbench.judges.llm` is imported only when such a spec is
asked for (it pulls in the runner and the SDKs). A spec whose provider is no backend raises
:class:`JudgeSpecError` saying so, rather than silently falling back to another judge.

Guard models served behind an OpenAI-compatible server are named by their format, the model and
the server: ``wildguard:allenai/wildguard@http://localhost:8000/v1``, ``llamaguard:...@URL``,
``qwen3guard:...@URL`` (:mod:`vscbench.judges.guards`).

A built-in judge takes options after a colon: ``offline:threshold=0.8`` says ``uncertain`` below
that confidence. ``A>B`` is a cascade (:mod:`vscbench.judges.cascade`): B judges only the answers
A is uncertain of; a bare ``offline`` before a ``>`` takes the offline judge's cascade threshold
(``offline>B`` is ``offline:threshold=0.6>B``, and is stored under that name). ``>`` binds
loosest: ``offline:threshold=0.8>vote:x,y`` cascades into a vote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vscbench.judges.base import Judge
from vscbench.judges.guard_formats import GUARDS
from vscbench.models.base import BACKENDS

JudgeFactory = Callable[..., Judge]

#: Guard models by the format their adapter speaks (:mod:`vscbench.judges.guard_formats`).
GUARD_FORMATS = tuple(GUARDS)

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


def _options(spec: str) -> dict[str, str]:
    """``offline:threshold=0.8,x=y`` -> ``{"threshold": "0.8", "x": "y"}``."""
    _, _, text = spec.partition(":")
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise JudgeSpecError(f"judge option {part!r} of {spec!r} is not KEY=VALUE, as in offline:threshold=0.8")
        options[key.strip()] = value.strip()
    return options


def _offline(spec: str) -> Judge:
    from vscbench.judges.abstain import ThresholdError, parse_threshold
    from vscbench.judges.offline import OfflineJudge

    options = _options(spec)
    threshold = options.pop("threshold", None)
    if options:
        raise JudgeSpecError(f"the offline judge has no option {', '.join(options)}; it takes threshold=X (0..1)")
    try:
        return OfflineJudge(threshold=None if threshold is None else parse_threshold(threshold))
    except ThresholdError as exc:
        raise JudgeSpecError(f"{spec}: {exc}") from None


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
#: Built-in judges that take options after a colon (``offline:threshold=0.8``).
JUDGES_WITH_OPTIONS = frozenset({"offline"})


def is_builtin(spec: str) -> bool:
    """Whether ``spec`` names built-in judges only (with options, in a vote or a cascade): their
    key is known without asking anyone."""
    from vscbench.judges.cascade import CASCADE_SEPARATOR

    members = [m for part in spec.split(CASCADE_SEPARATOR) for m in part.strip().removeprefix("vote:").split(",")]
    return all(m.strip().partition(":")[0] in BUILTIN_JUDGES for m in members if m.strip()) and any(
        m.strip() for m in members
    )


#: The prefix of the released VSCBench GPT judge: ``released:openai:gpt-4o-mini``.
RELEASED_PREFIX = "released:"


def get_judge(spec: str, **options: Any) -> Judge:
    """The judge a spec names. ``vote:A,B,C`` is the majority of judges A, B and C; ``A>B`` is
    a cascade (B judges what A is uncertain of).

    ``options`` (store, with_image, concurrency, rubric, ...) go to LLM and guard judges only.
    """
    from vscbench.judges.cascade import CASCADE_SEPARATOR, cascade

    spec = spec.strip()
    if CASCADE_SEPARATOR in spec:
        members = [part.strip() for part in spec.split(CASCADE_SEPARATOR)]
        if len(members) < 2 or not all(members):
            raise JudgeSpecError(
                f"a cascade names a judge on each side of '>', as in 'offline>openai:gpt-4o-mini'; got {spec!r}"
            )
        judges = [get_judge(member, **options) for member in members]
        # a judge that abstains only when asked (offline) gets its own deferral threshold when it is not last
        judges = [_deferring(judge) for judge in judges[:-1]] + judges[-1:]
        return cascade(judges)  # named by members: no URL
    if spec.startswith(RELEASED_PREFIX):
        from vscbench.judges.released import ReleasedJudge

        inner = spec[len(RELEASED_PREFIX) :]
        if inner.partition(":")[0] not in BACKENDS:
            raise JudgeSpecError(
                f"the released judge needs a model spec, as in 'released:openai:gpt-4o-mini'; got {spec!r}"
            )
        return ReleasedJudge(inner, **options)
    name, sep, _ = spec.partition(":")
    if name in BUILTIN_JUDGES:
        if sep and name not in JUDGES_WITH_OPTIONS:
            raise JudgeSpecError(f"the {name} judge takes no options; use {name!r}")
        return BUILTIN_JUDGES[name](spec)
    if name in GUARD_FORMATS:
        from vscbench.judges.guards import GuardJudge, GuardSpecError

        try:
            return GuardJudge(name, spec, **options)
        except GuardSpecError as exc:
            raise JudgeSpecError(str(exc)) from None
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
        f"unknown judge {spec!r}; known judges: {sorted(BUILTIN_JUDGES)}, 'vote:A,B', 'A>B' (a cascade), "
        f"'provider:model', a guard model '{'|'.join(GUARD_FORMATS)}:MODEL@URL', "
        "or 'released:provider:model' (the released VSCBench judge)"
    )


def _deferring(judge: Judge) -> Judge:
    """The judge as a cascade's earlier member: its ``deferring()`` if it has one (the offline judge
    without a threshold never says ``uncertain``, so it would defer nothing), else itself."""
    hook = getattr(judge, "deferring", None)
    return hook() if callable(hook) else judge


def available_judges() -> list[str]:
    """Names accepted by :func:`get_judge` without a model part."""
    return (
        sorted(BUILTIN_JUDGES)
        + [f"{p}:MODEL" for p in sorted(BACKENDS)]
        + [f"{g}:MODEL@URL" for g in sorted(GUARD_FORMATS)]
        + [f"{RELEASED_PREFIX}PROVIDER:MODEL"]
    )


def llm_members(judge: Any) -> list[Any]:
    """The LLM judges inside ``judge``: itself, the members of a vote, both sides of a cascade
    (the calls that cost money, and what ``--max-cost`` and ``--execution batch`` must know)."""
    from vscbench.judges.llm import LLMJudge

    if isinstance(judge, LLMJudge):
        return [judge]
    inner = list(getattr(judge, "judges", []) or [])
    inner += [side for side in (getattr(judge, "first", None), getattr(judge, "then", None)) if side is not None]
    return [member for part in inner for member in llm_members(part)]
