"""Untrusted text (model answers, server errors, spreadsheet cells) made safe for where it goes.

Every stage meets text it did not write: a model may answer with a lone surrogate or a NUL, a
server may put terminal escape sequences or Rich markup in an error message, a spreadsheet cell
may start with ``=`` and run as a formula once exported. One module says how such text is
neutralised for each destination, so no stage invents its own rule:

- :func:`repair` -- for storing and judging: text SQLite and UTF-8 files can hold (lone
  surrogates and NUL replaced by U+FFFD), with a note saying what was replaced;
- :func:`printable` -- for terminals: control characters, 8-bit CSI, bidirectional overrides
  and lone surrogates shown as visible ``\\x..``/``\\u....`` escapes;
- :func:`csv_cell` -- for spreadsheets: a text cell that a spreadsheet would run as a formula
  gets a leading apostrophe (OWASP's advice for CSV injection);
- :func:`markdown_cell` -- for Markdown: HTML, link syntax, pipes and line breaks escaped;
- :func:`redact_secrets` and :func:`redact_options` -- for every record, log and error text:
  credentials removed by their shape (``sk-...``, ``Bearer ...``, ``Basic ...``, a URL's
  ``user:password@`` or ``?api-key=``, long tokens) and, in option and header maps, by name
  (``api_key``, ``Authorization``, ``x-api-key``, ``token``, ``password``...).

This module imports nothing from vscbench, so the store, the backends, the reports and the CLI
can all use it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Characters a terminal may act on rather than show: C0 controls but tab and newline, DEL, the
#: C1 controls (U+009B is an 8-bit CSI), bidirectional embeddings, overrides and isolates (which
#: reorder what is shown), and lone surrogates (not text at all).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNPRINTABLE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

#: What :func:`repair` replaces: lone surrogates (SQLite and UTF-8 cannot encode them) and NUL
#: (C strings, and so many tools reading the store, end at it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: A spreadsheet runs a cell starting with these as a formula (tab and CR too: some programs
#: strip them first and then see the formula).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Markdown that could make code, emphasis or table cells: backslash-escaped. Brackets are
#: escaped only where they would close a link or an image (``](``), so "[95% CI]" stays as written.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_|]|\](?=\())")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any, *, one_line: bool = False) -> str:
    """``text`` with everything a terminal could obey instead of show turned into a visible
    escape (ESC -> ``\\x1b``, U+202E -> ``\\u202e``). Tab and newline are kept, unless
    ``one_line`` (then they are escaped too). Markup is not touched: see
    :func:`vscbench.cli.common.plain` for text printed through Rich."""
    pattern = _UNPRINTABLE_ONE_LINE if one_line else _UNPRINTABLE
    return pattern.sub(_escape_char, str(text))


def repair(text: str | None) -> tuple[str | None, str | None]:
    """Text that SQLite, JSON and UTF-8 files can hold, and a note on what was replaced.

    Lone surrogates (from a JSON ``\\ud800`` escape, or a decoder's ``surrogateescape``) and NUL
    characters are replaced by U+FFFD. Returns ``(text, None)`` when nothing needed replacing,
    else ``(repaired, "text repaired: 1 lone surrogate and 2 NUL characters replaced by U+FFFD")``.
    """
    if text is None or not _UNSTORABLE.search(text):
        return text, None
    nul = text.count("\x00")
    surrogates = len(_UNSTORABLE.findall(text)) - nul
    parts = []
    if surrogates:
        parts.append(f"{surrogates} lone surrogate{'s' if surrogates != 1 else ''}")
    if nul:
        parts.append(f"{nul} NUL character{'s' if nul != 1 else ''}")
    return _UNSTORABLE.sub("\ufffd", text), f"text repaired: {' and '.join(parts)} replaced by U+FFFD"


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``=``, ``+``, ``-``,
    ``@``, tab or CR gets a leading apostrophe (shown by spreadsheets, kept by any CSV reader,
    so the original is one ``removeprefix("'")`` away). Numbers, None and other text pass
    unchanged, so a negative figure stays a number."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """:func:`csv_cell` applied to every value of a ``csv.DictWriter`` row."""
    return {key: csv_cell(value) for key, value in row.items()}


def markdown_cell(text: Any) -> str:
    """Text for a Markdown table cell or list item that renders as the text itself: HTML
    (``<script>``, ``<img onerror=...>``) escaped as entities, Markdown syntax that could make
    links, images, code or emphasis backslash-escaped, pipes escaped, line breaks as spaces,
    and control characters visible. ``[text](javascript:...)`` becomes ``[text\\](javascript:...)``:
    no link."""
    escaped = html.escape(printable(text, one_line=False), quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(), escaped)
    return escaped.replace("\n", " ").replace("\t", " ")


# ---- secrets ---------------------------------------------------------------------------------

#: What a redacted secret is replaced by.
REDACTED = "***"

#: Words that make an option, header or query parameter a credential wherever they stand in its
#: name (``api_key``, ``x-api-key``, ``access_token``, ``client_secret``, ``proxy-authorization``).
_SECRET_WORDS = frozenset({
    "apikey", "token", "secret", "password", "passwd", "pwd", "authorization", "auth", "credential",
    "credentials", "cookie", "bearer", "signature", "sig", "privatekey", "sas",
})  # fmt: skip
#: Names ending in ``key`` that name a thing, not a credential.
_NOT_SECRET_KEYS = frozenset({"cache", "pair", "sort", "response", "judge", "sample", "primary", "foreign", "group"})
_NAME_PARTS = re.compile(r"[A-Za-z][a-z]*|[0-9]+")

#: Query parameters a URL may carry a credential in.
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:api[-_]?key|token|secret|password|passwd|signature|sig|auth)[a-z0-9_.-]*"
    r"|key|code|sas)=)[^&#\s\"'<>]+"
)
#: ``scheme://user:password@`` in any text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s,\"'<>]*@")
#: An ``Authorization`` value: the scheme is kept, the credential is not.
_AUTH_VALUE = re.compile(r"(?i)\b(Bearer|Basic|Token|Digest)(\s+)[A-Za-z0-9+/=._~-]{6,}")
#: Values shaped like credentials, wherever they appear.
_SECRET_SHAPES = (
    re.compile(r"\b(?:sk|pk|rk|sess|key)-(?=[A-Za-z0-9_\-*.]*\d)[A-Za-z0-9_\-*.]{8,}"),  # OpenAI, Anthropic...
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"\b(?:gh[pousr]|github_pat|xox[abposr]|hf)_[A-Za-z0-9_]{10,}"),  # GitHub, Slack, Hugging Face
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{6,}"),  # a JWT
)
#: ``api_key=VALUE``, ``"x-api-key": "VALUE"``, ``Authorization: VALUE`` written out in text.
_NAMED_VALUE = re.compile(
    r"(?i)((?<![A-Za-z0-9_-])[\"']?(?:x-[a-z0-9-]*?)?(?:api[-_]?key|authorization|access[-_]?token|auth[-_]?token|"
    r"client[-_]secret|secret|password|passwd)[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\*\*\*)(?!(?:Bearer|Basic|Token|Digest)\s)([^\s\"',;&<>]{3,})"
)
#: A long token: 32+ hex digits, or 32+ characters of base64 (no ``/``, so a path is never one)
#: that mix upper case, lower case and digits as random bytes do (an identifier does not).
_LONG_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+/_=.-])(?:[0-9a-fA-F]{32,}|(?=[A-Za-z0-9+_=-]*[0-9])(?=[A-Za-z0-9+_=-]*[a-z])"
    r"(?=[A-Za-z0-9+_=-]*[A-Z])[A-Za-z0-9+_-]{32,}={0,2})(?![A-Za-z0-9+/_=.-])"
)


def is_secret_name(name: str) -> bool:
    """Whether an option, header or parameter of this name holds a credential: ``api_key``,
    ``Authorization``, ``x-api-key``, ``access_token``, ``password``... but not ``max_tokens``
    or ``pair_key``."""
    parts = [part.lower() for part in _NAME_PARTS.findall(name)]
    joined = "".join(parts)
    if not parts:
        return False
    if any(part in _SECRET_WORDS for part in parts) or joined in _SECRET_WORDS or "apikey" in joined:
        return True
    return parts[-1] == "key" and not (len(parts) > 1 and parts[-2] in _NOT_SECRET_KEYS)


def redact_secrets(text: Any, known: Iterable[str | None] = (), tokens: bool = True) -> str:
    """``text`` with every credential it may hold replaced by ``***``: the ``known`` secrets (an
    API key in use: also each of its lines, and as ``repr`` shows it), a URL's ``user:password@``
    and secret query parameters, ``Bearer``/``Basic`` values, ``sk-...``-style keys, named
    values (``api_key=...``, ``x-api-key: ...``) and, with ``tokens``, long runs of base64 or hex
    (in error text; a stored record keeps them, since paths and hashes look alike). Ordinary
    text, numbers and URLs without credentials pass unchanged."""
    out = str(text)
    for secret in known:
        if not secret:
            continue
        pieces = {secret, repr(secret)[1:-1], *re.split(r"[\s\\]+", secret), *secret.split("\\n")}
        for piece in sorted(pieces, key=len, reverse=True):
            if len(piece) >= 4:
                out = out.replace(piece, REDACTED)
    out = _USERINFO.sub(r"\1", out)
    out = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, out)
    out = _AUTH_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, out)
    for shape in _SECRET_SHAPES:
        out = shape.sub(REDACTED, out)
    out = _NAMED_VALUE.sub(lambda m: m.group(1) + REDACTED, out)
    return _LONG_TOKEN.sub(REDACTED, out) if tokens else out


def redact_options(value: Any, tokens: bool = True) -> Any:
    """A copy of an options map (model options, judge options, headers, a stored experiment)
    with every value under a secret name (:func:`is_secret_name`) replaced by ``***``, and every
    other text value passed through :func:`redact_secrets` (``tokens`` as there); lists and
    nested maps alike."""
    if isinstance(value, Mapping):
        return {key: (REDACTED if isinstance(key, str) and is_secret_name(key) and item not in (None, "")
                      else redact_options(item, tokens)) for key, item in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [redact_options(item, tokens) for item in value]
    if isinstance(value, str):
        return redact_secrets(value, tokens=tokens)
    return value
