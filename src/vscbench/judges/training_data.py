"""The offline judge's training data: which files, how they are read, and the generated answers.

Everything the weights are trained on is in the repository, under ``data/judge/`` (see its
README), except the text of the two XSTest files the project's shared data holds
(``../shared/judge-dev``: GPT-4 and Llama-2-70b-chat with its system prompt): their relabelled
files keep ids and labels only, and the prompts and answers are read from those CSV files
(checked by sha256) at training time. The five XSTest completion files relabelled into four classes under the written
guideline (``docs/judge-guideline.md``), the project's three style sets relabelled under the same
guideline, and the phrase pools and questions from which :mod:`vscbench.judges.scripted`
composes 2 x 3,000 labelled answers (seed 7). No other published human-labelled refusal or
safety-judgement data: such data is what the judge is measured on.

Each real file is one *source* of leave-one-source-out (``bench/bench_judges.py``); the two
generated halves are two more. :data:`REAL_SOURCES` names each file with the published file it
was derived from (sha256), so ``judge-audit`` can say when it audits a file the judge was
trained on in either form.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vscbench.judges.learned import MODEL_CLASSES as CLASSES
from vscbench.judges.scripted import HALVES, generate

#: Where the training data lives in a checkout of the repository.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "judge"
GUIDELINE = Path(__file__).resolve().parents[3] / "docs" / "judge-guideline.md"
#: Where the published XSTest files that hold the text of the :attr:`RealSource.text_in_csv`
#: sources are read from: ``$VSCBENCH_JUDGE_DEV_DIR``, else the shared data beside the checkout.
JUDGE_DEV_DIR = Path(__file__).resolve().parents[4] / "shared" / "judge-dev"
POOLS_FILE = "generator_pools.json"
QUESTIONS_FILE = "generator_questions.txt"
#: The file whose prompts (XSTest's 450) the generator answers, besides :data:`QUESTIONS_FILE`.
XSTEST_PROMPTS_FILE = "xstest_gpt4.jsonl"
GENERATOR_SEED = 7
GENERATED_PER_HALF = 3000


@dataclass(frozen=True)
class RealSource:
    """A hand-labelled file of ``data/judge`` and the published (or project) file it relabels."""

    name: str
    file: str
    derived_from: str
    derived_sha256: str
    what: str
    text_in_csv: bool = False
    """The relabelled file holds ids and labels only; prompts and answers come from
    :attr:`derived_from` in the judge-dev folder (:func:`judge_dev_dir`)."""


#: The hand-labelled sources, in the order they are trained on.
REAL_SOURCES: tuple[RealSource, ...] = (
    RealSource(
        "xstest_gpt4",
        "xstest_gpt4.jsonl",
        "xstest_v2_completions_gpt4.csv",
        "71af323af8ecdec0efae23992317721441d2cfedddedeef3248f842f4e15c9ca",
        "XSTest's GPT-4 completions, relabelled in four classes",
        text_in_csv=True,
    ),
    RealSource(
        "xstest_llama2orig",
        "xstest_llama2orig.jsonl",
        "xstest_v2_completions_llama2orig.csv",
        "cbc52550e8ba8197a3e3d97a5af078d27bae4766737cd62df80270126a87ffc6",
        "XSTest's Llama-2-70b-chat completions (with its system prompt), relabelled",
        text_in_csv=True,
    ),
    RealSource(
        "xstest_llama2new",
        "xstest_llama2new.jsonl",
        "xstest_v2_completions_llama2new.csv",
        "6365cc55ce0a593c7ab8785853d02784be027d97199d4077912b4313cd010099",
        "XSTest's Llama-2-70b-chat completions (without a system prompt), relabelled",
    ),
    RealSource(
        "xstest_mistralinstruct",
        "xstest_mistralinstruct.jsonl",
        "xstest_v2_completions_mistralinstruct.csv",
        "6a146b65a5b96ec8249729bc2db459697175125998d7cbbcc88f7688ecf31dad",
        "XSTest's Mistral-7B-Instruct completions, relabelled",
    ),
    RealSource(
        "xstest_mistralguard",
        "xstest_mistralguard.jsonl",
        "xstest_v2_completions_mistralguard.csv",
        "0ac03817b65e019a8f5b4b3eed805086f9f7fafe538ac9ebd156f80210af6903",
        "XSTest's Mistral-7B-Instruct completions with a guardrail prompt, relabelled",
    ),
    RealSource(
        "style_heldout",
        "style_judge_heldout.jsonl",
        "judge_heldout.jsonl",
        "014748345bbe3260843d858f86fe72287012a7c648c5fa5c8573079f7c5d7568",
        "the project's hand-written style set (tests/data), relabelled under the guideline",
    ),
    RealSource(
        "style_styles",
        "style_judge_styles_heldout.jsonl",
        "judge_styles_heldout.jsonl",
        "033bc8b8f099d6070671d25ce8935da221d93a1f064377d87ab46bd1632045f4",
        "the project's hand-written answers in other models' styles (tests/data), relabelled",
    ),
    RealSource(
        "style_xstest",
        "style_judge_xstest_styles.jsonl",
        "judge_xstest_styles.csv",
        "a6eb11862532c7b1aa94af7a2f6256b7160d4dc740c2ef02347a3b23f1afecba",
        "the project's answers to XSTest prompts in other models' styles (tests/data), relabelled",
    ),
)
#: Sources whose answers come from one model: held out together in the stricter family split.
FAMILIES = {
    "llama2": ("xstest_llama2orig", "xstest_llama2new"),
    "mistral": ("xstest_mistralinstruct", "xstest_mistralguard"),
}


class TrainingDataError(ValueError):
    """A training file that is missing, malformed, or not the one the manifest names."""


@dataclass(frozen=True)
class LabelledAnswer:
    question: str
    answer: str
    label: str  # one of CLASSES


@dataclass(frozen=True)
class Source:
    """One source of training rows, with the manifest entry that says where they came from."""

    name: str
    rows: tuple[LabelledAnswer, ...]
    generated: bool
    entry: dict

    @property
    def labels(self) -> list[str]:
        return [row.label for row in self.rows]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def judge_dev_dir() -> Path:
    """The folder of the published XSTest completion files (``$VSCBENCH_JUDGE_DEV_DIR`` or :data:`JUDGE_DEV_DIR`)."""
    given = os.environ.get("VSCBENCH_JUDGE_DEV_DIR")
    return Path(given) if given else JUDGE_DEV_DIR


def published_texts(source: RealSource) -> dict[str, tuple[str, str]]:
    """Prompt and answer by row id from the published CSV a source relabels, after checking it is
    the very file the labels were made on (sha256)."""
    path = judge_dev_dir() / source.derived_from
    if not path.is_file():
        raise TrainingDataError(
            f"{path}: not found; {source.file} holds labels only, its prompts and answers are XSTest's published "
            f"{source.derived_from} (the shared data's judge-dev folder, or set VSCBENCH_JUDGE_DEV_DIR)"
        )
    if sha256_of(path) != source.derived_sha256:
        raise TrainingDataError(f"{path}: not the file {source.file} was labelled on (sha256 differs)")
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: (row["prompt"], row["completion"]) for row in csv.DictReader(handle)}


def read_labelled(path: Path, texts: dict[str, tuple[str, str]] | None = None) -> list[LabelledAnswer]:
    """A four-class JSONL file (``prompt``, ``completion`` or ``response``, ``label``); errors name
    the line. With ``texts`` (prompt and answer by ``id``), rows may hold an id and a label only."""
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such training file")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainingDataError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        if "label" not in record:
            continue  # a provenance line
        if texts is not None and "prompt" not in record:
            if record.get("id") not in texts:
                raise TrainingDataError(f"{path}, line {number}: id {record.get('id')!r} is not in the published file")
            record["prompt"], record["completion"] = texts[record["id"]]
        if "prompt" not in record or ("completion" not in record and "response" not in record):
            raise TrainingDataError(f"{path}, line {number}: needs 'prompt', 'completion' (or 'response') and 'label'")
        answer = record["completion"] if "completion" in record else record["response"]
        if record["label"] not in CLASSES:
            raise TrainingDataError(
                f"{path}, line {number}: label {record['label']!r} is not one of {', '.join(CLASSES)}"
            )
        rows.append(LabelledAnswer(record["prompt"], answer or "", record["label"]))
    return rows


def real_sources(data_dir: Path = DEFAULT_DATA_DIR) -> list[Source]:
    """The hand-labelled files of :data:`REAL_SOURCES`, read from ``data_dir``."""
    out = []
    for source in REAL_SOURCES:
        path = data_dir / source.file
        rows = read_labelled(path, published_texts(source) if source.text_in_csv else None)
        entry = {
            "source": source.name,
            "file": f"data/judge/{source.file}",
            "sha256": sha256_of(path),
            "rows": len(rows),
            "what": source.what,
            "derived_from": {"file": source.derived_from, "sha256": source.derived_sha256},
        }
        out.append(Source(source.name, tuple(rows), False, entry))
    return out


def generator_questions(data_dir: Path = DEFAULT_DATA_DIR) -> list[str]:
    """XSTest's prompts (from the relabelled GPT-4 file) and the project's own questions, each once."""
    source = next(source for source in REAL_SOURCES if source.file == XSTEST_PROMPTS_FILE)
    texts = published_texts(source) if source.text_in_csv else None
    xstest = [row.question.strip() for row in read_labelled(data_dir / XSTEST_PROMPTS_FILE, texts)]
    return unique(xstest + read_questions(data_dir / QUESTIONS_FILE))


def generated_sources(
    data_dir: Path = DEFAULT_DATA_DIR, seed: int = GENERATOR_SEED, per_half: int = GENERATED_PER_HALF
) -> list[Source]:
    """The two generated halves (``generated_A``, ``generated_B``), composed afresh."""
    pools = read_pools(data_dir / POOLS_FILE)
    questions = generator_questions(data_dir)
    out = []
    for which in HALVES:
        rows = generate(which, per_half, seed, pools, questions)
        text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
        entry = {
            "source": f"generated_{which}",
            "rows": len(rows),
            "rows_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "what": f"scripted answers, half {which} of every phrase pool and of the questions",
        }
        labelled = tuple(LabelledAnswer(row["prompt"], row["completion"], row["label"]) for row in rows)
        out.append(Source(f"generated_{which}", labelled, True, entry))
    return out


def generator_entry(
    data_dir: Path = DEFAULT_DATA_DIR, seed: int = GENERATOR_SEED, per_half: int = GENERATED_PER_HALF
) -> dict:
    """What the generated rows are a function of: the generator's code, its pools and questions, seed and size."""
    from vscbench.judges import scripted

    return {
        "module": "src/vscbench/judges/scripted.py",
        "module_sha256": sha256_of(Path(scripted.__file__)),
        "pools": {"file": f"data/judge/{POOLS_FILE}", "sha256": sha256_of(data_dir / POOLS_FILE)},
        "questions": {"file": f"data/judge/{QUESTIONS_FILE}", "sha256": sha256_of(data_dir / QUESTIONS_FILE)},
        "xstest_prompts_from": f"data/judge/{XSTEST_PROMPTS_FILE}",
        "seed": seed,
        "per_half": per_half,
    }


def guideline_entry(path: Path = GUIDELINE) -> dict:
    if not path.is_file():
        raise TrainingDataError(f"{path}: the labelling guideline is missing; it is part of the training data's record")
    return {"file": "docs/judge-guideline.md", "sha256": sha256_of(path)}


def read_pools(path: Path) -> dict[str, list[str]]:
    pools = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(pools, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in pools.values()
    ):
        raise TrainingDataError(f"{path}: the pools are a JSON object of lists of strings")
    return pools


def read_questions(path: Path) -> list[str]:
    """Questions, one a line; blank lines and ``#`` comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def unique(questions: list[str]) -> list[str]:
    """The questions in order, each once (case-insensitive)."""
    seen: set[str] = set()
    out = []
    for question in questions:
        if question.lower() not in seen:
            seen.add(question.lower())
            out.append(question)
    return out
