"""The offline judge's learned model: four-class logistic regression with a calibrating temperature.

It reads the features of :mod:`vscbench.judges.learned_features` (cues by position, the rules'
signals and verdict, hashed n-grams) and gives a probability for each of refusal, warning,
compliance and irrelevant. The probabilities are temperature-scaled (the logits divided by the
manifest's ``temperature``), so that the top one is a calibrated confidence: of the answers it
gives 0.8, about 8 in 10 are right on sources it was not trained on (``bench/bench_judges.py``
prints the reliability).

The weights ship inside the package (``weights/offline_v5.npz``: the non-zero columns as float32
with their indices) next to a JSON manifest that names the feature set, the settings and the
sha256 of every file the weights were trained on. They are rebuilt bit for bit by
``scripts/train_offline_judge.py`` (:mod:`vscbench.judges.training`). Loading checks the feature
set, so weights trained for other features fail loudly instead of judging quietly wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vscbench.judges.features import Signals
from vscbench.judges.learned_features import DENSE_NAMES, FEATURE_SET, N_FEATURES, feature_matrix

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_NAME = "offline_v5"
#: The offline judge version these weights belong to (``OfflineJudge.version``).
JUDGE_VERSION = "5"
#: The model's classes, in the order of its columns.
MODEL_CLASSES = ("refusal", "warning", "compliance", "irrelevant")


class WeightsError(RuntimeError):
    """Shipped weights that are missing or were trained for another feature set."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LearnedModel:
    """Coefficients (one column per class) over the columns of :func:`feature_matrix`."""

    coef: np.ndarray  # float64, shape (N_FEATURES, 4)
    intercept: np.ndarray  # float64, shape (4,)
    temperature: float
    manifest: dict

    def logits(self, pairs: list[tuple[str, str]], signals: list[Signals], verdicts: list[str]) -> np.ndarray:
        if not pairs:
            return np.zeros((0, len(MODEL_CLASSES)))
        return np.asarray(feature_matrix(pairs, signals, verdicts) @ self.coef) + self.intercept

    def probabilities(self, pairs: list[tuple[str, str]], signals: list[Signals], verdicts: list[str]) -> np.ndarray:
        """Calibrated P(class) for each (question, answer), columns in :data:`MODEL_CLASSES` order,
        given the rules' signals and verdicts of the answers."""
        return softmax(self.logits(pairs, signals, verdicts), self.temperature)

    def training_files(self) -> dict[str, str]:
        """sha256 -> file name of every file the weights were trained on, and of the published file each relabels."""
        files: dict[str, str] = {}
        for entry in self.manifest.get("training_data", []):
            if "sha256" in entry:
                files[entry["sha256"]] = Path(entry["file"]).name
            derived = entry.get("derived_from")
            if derived:
                files[derived["sha256"]] = derived["file"]
        return files


def manifest_path(directory: Path = WEIGHTS_DIR, name: str = WEIGHTS_NAME) -> Path:
    return directory / f"{name}.json"


def weights_path(directory: Path = WEIGHTS_DIR, name: str = WEIGHTS_NAME) -> Path:
    return directory / f"{name}.npz"


def load_model(directory: Path = WEIGHTS_DIR, name: str = WEIGHTS_NAME) -> LearnedModel:
    """Read weights and manifest; raise :class:`WeightsError` saying what to do when they do not fit."""
    npz, meta = weights_path(directory, name), manifest_path(directory, name)
    if not npz.is_file() or not meta.is_file():
        raise WeightsError(
            f"the offline judge's weights are missing ({npz} and {meta}); reinstall vscbench or rebuild "
            "them with scripts/train_offline_judge.py"
        )
    manifest = json.loads(meta.read_text(encoding="utf-8"))
    if manifest.get("feature_set") != FEATURE_SET or tuple(manifest.get("dense_names", ())) != DENSE_NAMES:
        raise WeightsError(
            f"{npz} was trained for feature set {manifest.get('feature_set')!r}, but this vscbench computes "
            f"{FEATURE_SET!r}; rebuild the weights with scripts/train_offline_judge.py"
        )
    if tuple(manifest.get("classes", ())) != MODEL_CLASSES:
        raise WeightsError(
            f"{meta}: classes {manifest.get('classes')} are not {list(MODEL_CLASSES)}; rebuild the weights"
        )
    with np.load(npz) as arrays:
        columns, values, intercept = arrays["columns"], arrays["coef"], arrays["intercept"]
    if columns.size and (columns.min() < 0 or columns.max() >= N_FEATURES):
        raise WeightsError(f"{npz}: coefficient column out of range for {N_FEATURES} features; rebuild the weights")
    coef = np.zeros((N_FEATURES, len(MODEL_CLASSES)), dtype=np.float64)
    coef[columns.astype(np.int64)] = values.T.astype(np.float64)
    return LearnedModel(
        coef=coef,
        intercept=intercept.astype(np.float64),
        temperature=float(manifest["temperature"]),
        manifest=manifest,
    )


@lru_cache(maxsize=1)
def shipped_model() -> LearnedModel:
    """The model shipped with the package, loaded once per process."""
    return load_model()
