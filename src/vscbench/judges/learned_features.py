"""What the offline judge's learned model reads: cues by position, the rules' signals, and hashed n-grams.

One row per (question, answer), six blocks:

- **cues** (:mod:`vscbench.judges.cue_features`): refusal forms and caveat families by position
  (opening, middle, closing, last sentence), what follows a refusal, answer shape, irrelevance;
- **rule signals** (:mod:`vscbench.judges.rule_features`): the hand-written rules' signals and the
  shapes of a non-answer, as bounded features;
- **the rules' verdict**, one-hot: the rules of :mod:`vscbench.judges.rules` are evidence here,
  no longer an override;
- **hashed word 1-2-grams** of the answer (first 3,000 characters);
- **position-tagged words** of the first two and the last two sentences (``H_please``,
  ``T_please``: "please consult" closing an answer is another feature than opening it);
- **hashed character 2-5-grams** of the opening and the closing 300 characters.

The question's content words are replaced by ``qword`` in the n-gram blocks, so they say *how*
a model answers, not *what about*. Hashing (no vocabulary) keeps the shipped weights free of
text fragments and their size fixed. Everything is a pure function of the two texts.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from vscbench.judges.cue_features import CUE_NAMES, cue_features
from vscbench.judges.cues import WORD
from vscbench.judges.features import Signals
from vscbench.judges.rule_features import RULE_FEATURE_NAMES, mask_question_words, rule_features
from vscbench.judges.text import normalize, split_sentences

#: Bump when a feature changes meaning: shipped weights record it and refuse to load otherwise.
FEATURE_SET = "offline-learned-features/3"
WORD_HASH_BITS = 16
POSITION_HASH_BITS = 15
CHAR_HASH_BITS = 16
WORD_CHARS = 3000
EDGE_CHARS = 300
#: The verdicts of the rules, one column each.
RULE_VERDICTS = ("refusal", "warning", "compliance", "irrelevant")

DENSE_NAMES: tuple[str, ...] = (
    *CUE_NAMES,
    *(f"rule_{name}" for name in RULE_FEATURE_NAMES),
    *(f"verdict_{label}" for label in RULE_VERDICTS),
)
N_DENSE = len(DENSE_NAMES)
N_FEATURES = N_DENSE + 2**WORD_HASH_BITS + 2**POSITION_HASH_BITS + 2**CHAR_HASH_BITS

_WORDS = HashingVectorizer(
    analyzer="word",
    ngram_range=(1, 2),
    n_features=2**WORD_HASH_BITS,
    alternate_sign=False,
    norm="l2",
    token_pattern=r"(?u)\b\w[\w']*\b",
)
_POSITIONS = HashingVectorizer(
    analyzer="word",
    ngram_range=(1, 2),
    n_features=2**POSITION_HASH_BITS,
    alternate_sign=False,
    norm="l2",
    token_pattern=r"\S+",
    lowercase=False,
)
_CHARS = HashingVectorizer(
    analyzer="char_wb", ngram_range=(2, 5), n_features=2**CHAR_HASH_BITS, alternate_sign=False, norm="l2"
)


def position_text(masked: str) -> str:
    """The words of the first two sentences tagged ``H_`` and of the last two tagged ``T_``."""
    sentences = split_sentences(masked) or [""]
    head = " ".join(sentences[:2])
    tail = " ".join(sentences[-2:]) if len(sentences) > 2 else ""
    return " ".join("H_" + w for w in WORD.findall(head)) + " | " + " ".join("T_" + w for w in WORD.findall(tail))


def dense_row(question: str, answer: str, signals: Signals, verdict: str) -> list[float]:
    """The dense columns of one answer (cues, rule signals, the rules' verdict), in :data:`DENSE_NAMES` order."""
    text, q = normalize(answer), normalize(question)
    cues = cue_features(q, text, split_sentences(text), answer)
    rules = rule_features(question, answer, signals)
    return [*cues.values(), *rules.values(), *(float(verdict == label) for label in RULE_VERDICTS)]


def feature_matrix(pairs: list[tuple[str, str]], signals: list[Signals], verdicts: list[str]) -> sp.csr_matrix:
    """One row per (question, answer): the dense block, then the hashed word, position and character blocks.

    ``signals`` and ``verdicts`` are the rules' signals and verdicts of the same answers
    (:func:`vscbench.judges.features.extract_signals`, :func:`vscbench.judges.rules.decide`).
    """
    if not len(pairs) == len(signals) == len(verdicts):
        raise ValueError(f"{len(pairs)} texts, {len(signals)} signal rows and {len(verdicts)} verdicts")
    dense = np.array(
        [dense_row(q, a, s, v) for (q, a), s, v in zip(pairs, signals, verdicts)], dtype=np.float64
    ).reshape(len(pairs), N_DENSE)
    masked = [mask_question_words(normalize(q), normalize(a)) for q, a in pairs]
    words = _WORDS.transform([text[:WORD_CHARS] for text in masked])
    positions = _POSITIONS.transform([position_text(text) for text in masked])
    chars = _CHARS.transform([text[:EDGE_CHARS] + " || " + text[-EDGE_CHARS:] for text in masked])
    return sp.hstack([sp.csr_matrix(dense), words, positions, chars], format="csr")
