"""The prompts of the utility benchmarks: each fixes the answer format that
:mod:`vscbench.scoring.utility.answers` reads back."""

from __future__ import annotations

import string
from collections.abc import Sequence

POPE_INSTRUCTION = "Answer with yes or no."
SCIENCEQA_INSTRUCTION = "Answer with the option's letter from the given choices directly."
OPTION_LETTERS = string.ascii_uppercase


def pope_prompt(question: str) -> str:
    """The POPE question with an instruction that fixes a yes/no answer."""
    return f"{question.strip()}\n{POPE_INSTRUCTION}"


def scienceqa_prompt(question: str, choices: Sequence[str], hint: str | None = None) -> str:
    """Context (the dataset's ``hint``), the question and lettered options ``A. ...``."""
    if len(choices) > len(OPTION_LETTERS):
        raise ValueError(f"{len(choices)} choices is more than the {len(OPTION_LETTERS)} letters")
    lines = []
    if hint and hint.strip():
        lines.append(f"Context: {hint.strip()}")
    lines.append(f"Question: {question.strip()}")
    lines.append("Options:")
    lines.extend(f"{OPTION_LETTERS[i]}. {str(choice).strip()}" for i, choice in enumerate(choices))
    lines.append(SCIENCEQA_INSTRUCTION)
    return "\n".join(lines)
