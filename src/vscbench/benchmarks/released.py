"""The VSCBench samples as the released code asks them (github.com/jiahuigeng/VSCBench, commit
426fa1f), for ``--preset paper``.

Two things differ from this tool's loader. The released code reads its sheets with pandas and
sends each prompt exactly as stored: nothing is stripped (131 of the 300 image-centric prompts
start or end with whitespace), a cell pandas reads as missing (empty, or one of its NA strings
such as ``NA`` or ``None``) is sent as NaN and the call fails, and a whitespace-only prompt is
sent as it is. And it sends every row: a row whose prompt is empty or whose image is missing is
not skipped but fails (image-centric: ``image_centric_collection.py:18-38``) or is left unasked
(text-centric: ``text_centric_collection.py:24-26``), and its answer is scored as the stand-in
refusal at evaluation time.

So under the preset every sample the data describes is kept: the ones that can be sent carry
the raw prompt, and the others carry ``meta["unsent"]`` (why), are never sent, and are recorded
with the run so the released evaluation can score them as it does. ``meta["released_question"]``
is what the released judge is shown as the query: the raw ``Prompt`` (image-centric) or
``prompt_origin`` (text-centric), and ``nan`` where pandas read NaN (rows 266 and 285).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vscbench.schema import Sample

#: The strings ``pandas.read_excel`` reads as NaN by default when a whole cell holds exactly one
#: of them (pandas' ``STR_NA_VALUES``); the released code reads its sheets and answers this way.
PANDAS_NA_STRINGS = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
        "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip
#: What Python's f-string shows for a NaN cell: the released judge prompt reads ``Query: nan``.
NAN_TEXT = "nan"

#: The meta key of a sample the released code sends but this tool cannot: its value says why.
UNSENT = "unsent"
#: Why an unsent sample was not sent (``meta["unsent"]``), besides the loader's own reasons.
PROMPT_READ_AS_MISSING = "the prompt cell reads as missing (pandas NaN)"

#: Loader reasons after which the released code's call could still be made here: an empty
#: prompt after stripping may be a whitespace-only one, which the released code sends.
_RETRIABLE = ("prompt missing",)


def read_as_missing(text: str | None) -> bool:
    """Whether pandas reads this cell back as NaN (no text, or a default NA string)."""
    return text is None or text in PANDAS_NA_STRINGS


def raw_cells(stripped: Mapping[str, str], record: Mapping[str, Any]) -> dict[str, str]:
    """``raw_<name>`` for each text cell whose stored text differs from the stripped one the
    loader keeps (so a sample's meta only grows where whitespace was stripped)."""
    out: dict[str, str] = {}
    for name, kept in stripped.items():
        raw = record.get(name)
        if type(raw) is str and raw != kept:  # a NonText cell (a number, a date) is no raw text
            out[f"raw_{name}"] = raw
    return out


def raw_prompt(sample: Sample) -> str:
    """The prompt cell of a sample as stored: the raw ``Prompt``, ``prompt_origin`` or
    ``prompt_mm`` (the FigStep instruction is the benchmark's own sentence)."""
    if sample.subset == "image_centric":
        return str(sample.meta.get("raw_prompt", sample.prompt))
    if sample.variant == "text":
        return str(sample.meta.get("raw_prompt_origin", sample.meta.get("prompt_origin", sample.prompt)))
    if sample.variant == "figstep":
        return sample.prompt
    return str(sample.meta.get("raw_prompt_mm", sample.meta.get("prompt_mm", sample.prompt)))


def released_question(sample: Sample) -> str:
    """What the released judge is shown as the query (``Query: ...``): the row's raw ``Prompt``
    for an image-centric sample, the raw ``prompt_origin`` for every variant of a text-centric
    one, ``nan`` where the released code reads NaN. Samples loaded without the preset fall back
    to their stored prompt and question."""
    recorded = sample.meta.get("released_question")
    if isinstance(recorded, str):
        return recorded
    if sample.subset == "image_centric":
        text = str(sample.meta.get("raw_prompt", sample.question or sample.prompt))
    elif "prompt_origin" in sample.meta:
        text = str(sample.meta.get("raw_prompt_origin", sample.meta["prompt_origin"]))
    else:
        text = sample.original_question
    return NAN_TEXT if read_as_missing(text) else text


def released_samples(candidates: Iterable[tuple[Sample, str | None]]) -> list[Sample]:
    """Every sample the released code sends, in the data's order: each with its raw prompt, or
    marked ``meta["unsent"]`` when it cannot be sent here (``why`` from the loader)."""
    out: list[Sample] = []
    for sample, why in candidates:
        question = released_question(sample)
        text = raw_prompt(sample)
        needs_image = sample.variant != "text"
        if why in _RETRIABLE and text.strip() == "" and not read_as_missing(text):
            why = None if (sample.image_path is not None or not needs_image) else "image missing"
        if why is None and read_as_missing(text):
            why = PROMPT_READ_AS_MISSING
        meta = {**sample.meta, "released_question": question}
        if why is not None:
            meta[UNSENT] = why
        out.append(sample.model_copy(update={"prompt": text if why is None else sample.prompt, "meta": meta}))
    return out
