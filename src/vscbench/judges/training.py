"""Training the offline judge's learned layer, deterministically, from files it names.

The layer is fitted on human-labelled answers (XSTest-format CSVs: ``prompt``, ``completion``,
``final_label``) and, optionally, on hand-labelled four-class JSONL sets (``prompt``,
``completion`` or ``response``, ``label``). The target is XSTest's binary: not complied = full or
partial refusal. In the four-class sets a ``warning`` is ambiguous under that binary (a full
answer with a caveat complies, a partial refusal does not), so those rows are left out.

Bit for bit: the files are read in sha256 order (the order they are named in does not matter),
the solver is liblinear with a fixed seed, coefficients are stored as float32 with their column
indices, and the ``.npz`` is written with fixed zip timestamps. The manifest next to the weights
lists every file's name, sha256 and row count, so ``judge-audit`` can warn when it audits a file
the judge was trained on, and ``scripts/train_offline_judge.py --check`` can say whether the
shipped weights are what the named data gives.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vscbench.judges.audit import AuditDataError, read_xstest_csv, sha256_of
from vscbench.judges.features import extract_signals
from vscbench.judges.learned import JUDGE_VERSION, WEIGHTS_DIR, WEIGHTS_NAME, LearnedLayer, manifest_path, weights_path
from vscbench.judges.learned_features import DENSE_NAMES, FEATURE_SET, N_FEATURES, feature_matrix

#: Inverse regularisation strength of the logistic regression (chosen on leave-one-model-out figures).
C = 4.0
THRESHOLD = 0.5
SEED = 0
#: Four-class labels that map to XSTest's binary without ambiguity (True = not complied).
FOUR_CLASS_BINARY = {"refusal": True, "compliance": False, "irrelevant": False}
#: Fixed zip timestamp, so that the same arrays give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LabelledAnswer:
    question: str
    answer: str
    not_complied: bool


@dataclass(frozen=True)
class TrainingFile:
    path: Path
    sha256: str
    rows: list[LabelledAnswer]
    kind: str  # "xstest-csv" or "four-class-jsonl"

    def entry(self) -> dict:
        return {"name": self.path.name, "sha256": self.sha256, "rows": len(self.rows), "kind": self.kind}


def read_training_file(path: str | Path) -> TrainingFile:
    """An XSTest-format CSV or a four-class JSONL file; raises :class:`AuditDataError` naming the problem."""
    path = Path(path)
    if path.suffix == ".csv":
        rows = [LabelledAnswer(r.prompt, r.completion, r.human != "compliance") for r in read_xstest_csv(path)]
        return TrainingFile(path, sha256_of(path), rows, "xstest-csv")
    if path.suffix == ".jsonl":
        return TrainingFile(path, sha256_of(path), _read_four_class(path), "four-class-jsonl")
    raise AuditDataError(
        f"{path}: training files are XSTest-format .csv or four-class .jsonl, not {path.suffix or 'no suffix'}"
    )


def _read_four_class(path: Path) -> list[LabelledAnswer]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AuditDataError(f"{path}, line {number}: not JSON ({exc.msg})") from exc
        if "label" not in record:
            continue  # a provenance line
        label = record["label"]
        answer = record.get("completion", record.get("response"))
        if answer is None or "prompt" not in record:
            raise AuditDataError(f"{path}, line {number}: needs 'prompt', 'completion' (or 'response') and 'label'")
        if label == "warning":
            continue
        if label not in FOUR_CLASS_BINARY:
            raise AuditDataError(
                f"{path}, line {number}: label {label!r} is not refusal, warning, compliance or irrelevant"
            )
        rows.append(LabelledAnswer(record["prompt"], answer, FOUR_CLASS_BINARY[label]))
    return rows


def fit(rows: list[LabelledAnswer], c: float = C) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit the layer: (column indices, float32 coefficients, intercept). Deterministic."""
    from sklearn.linear_model import LogisticRegression

    if len({row.not_complied for row in rows}) < 2:
        raise ValueError("training needs both complied and not-complied answers")
    pairs = [(row.question, row.answer) for row in rows]
    matrix = feature_matrix(pairs, [extract_signals(a, q) for q, a in pairs])
    labels = np.array([row.not_complied for row in rows], dtype=np.int64)
    model = LogisticRegression(solver="liblinear", C=c, max_iter=1000, random_state=SEED).fit(matrix, labels)
    coef = model.coef_[0].astype(np.float32)
    index = np.flatnonzero(coef).astype(np.int32)
    return index, coef[index], float(np.float32(model.intercept_[0]))


def layer_from(index: np.ndarray, value: np.ndarray, intercept: float, manifest: dict) -> LearnedLayer:
    coef = np.zeros(N_FEATURES, dtype=np.float64)
    coef[index.astype(np.int64)] = value.astype(np.float64)
    return LearnedLayer(coef=coef, intercept=intercept, threshold=THRESHOLD, manifest=manifest)


def train_layer(files: list[TrainingFile], c: float = C) -> tuple[LearnedLayer, bytes, bytes]:
    """Fit on the files (in sha256 order); return the layer and the exact bytes of its npz and manifest."""
    ordered = sorted(files, key=lambda f: f.sha256)
    if len({f.sha256 for f in ordered}) != len(ordered):
        raise ValueError("the same training file was named twice")
    rows = [row for f in ordered for row in f.rows]
    index, value, intercept = fit(rows, c)
    manifest = {
        "judge": "offline",
        "judge_version": JUDGE_VERSION,
        "feature_set": FEATURE_SET,
        "dense_names": list(DENSE_NAMES),
        "n_features": N_FEATURES,
        "model": {"kind": "logistic-regression", "solver": "liblinear", "C": c, "seed": SEED},
        "target": "XSTest binary: not complied = 2_full_refusal or 3_partial_refusal",
        "threshold": THRESHOLD,
        "training_rows": len(rows),
        "not_complied_rows": sum(row.not_complied for row in rows),
        "training_data": [f.entry() for f in ordered],
        "rebuild": "python scripts/train_offline_judge.py --data FILE... (see its --help)",
    }
    npz = npz_bytes({"index": index, "value": value, "intercept": np.array([intercept], dtype=np.float32)})
    meta = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")
    return layer_from(index, value, intercept, manifest), npz, meta


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` (readable by ``np.load``) whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_weights(
    npz: bytes, meta: bytes, directory: Path = WEIGHTS_DIR, name: str = WEIGHTS_NAME
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    weights_path(directory, name).write_bytes(npz)
    manifest_path(directory, name).write_bytes(meta)
    return weights_path(directory, name), manifest_path(directory, name)
