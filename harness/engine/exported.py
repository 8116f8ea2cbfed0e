"""A pair exported by ``harness export``, read back to classify texts (``harness predict``).

What the directory holds is described in :mod:`harness.commands.export`; ``harness_pair.json``
(:class:`ExportManifest`) says what was fitted on what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..errors import HarnessError
from ..results.model import ApproachInfo, Count, Model, RuntimeSettings, Share

MANIFEST = "harness_pair.json"
ENCODER = "encoder"
CLASSIFIER_JOBLIB = "classifier.joblib"
CLASSIFIER_ARRAYS = "classifier.safetensors"


class ExportError(HarnessError, ValueError):
    """A pair that cannot be exported, or a directory that is not an exported pair."""


class ExportManifest(Model):
    """``harness_pair.json``: the exported pair, what it was trained and scored on, and its scores."""

    kind: Literal["harness.export"] = "harness.export"
    schema_version: Literal[1] = 1
    # the approach's export_format: a transformers classifier, or an encoder and a LogisticRegression
    format: Literal["classifier", "features"] | None = None  # None in exports written before it was recorded
    suite: str
    checkpoint: str
    approach: ApproachInfo
    dataset: str
    train_split: str
    split: str
    labels: Annotated[list[str], Field(min_length=1)]
    max_length: Count  # texts are truncated to this many tokens, as the harness truncated them
    pooling: Literal["cls", "mean"] | None = None  # the features format only
    classifier: dict | None = None  # the features format only: LogisticRegression.get_params()
    n_examples: Count
    metrics: dict[str, Share]
    runtime: RuntimeSettings  # the settings the metrics were measured under

    @property
    def written_as(self) -> str:
        """The export format; an older export without one has classifier parameters only when it holds
        features and a LogisticRegression."""
        return self.format or ("features" if self.classifier is not None else "classifier")


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class ExportedPair:
    """An exported directory, ready to classify: ``labels`` and ``predict_proba(texts, runtime)``."""

    labels: list[str]

    def predict_proba(self, texts: list[str], runtime) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class ExportedClassifier(ExportedPair):
    """A ``transformers`` sequence classifier (an exported finetune pair, or any classifier directory)."""

    def __init__(self, directory: Path, manifest: ExportManifest | None):
        from transformers import AutoModelForSequenceClassification

        from .checkpoints import ResolvedCheckpoint

        checkpoint = ResolvedCheckpoint(str(directory), str(directory), "local")  # refuses remote code
        self.model = checkpoint.load_model(AutoModelForSequenceClassification)
        self.tokenizer = checkpoint.load_tokenizer()
        id2label = self.model.config.id2label
        self.labels = [str(id2label[i]) for i in range(len(id2label))]
        if manifest is not None and self.labels != manifest.labels:
            raise ExportError(
                f"{directory / 'config.json'}: id2label {self.labels} differs from the labels "
                f"{manifest.labels} of {directory / MANIFEST}"
            )

    def predict_proba(self, texts, runtime) -> np.ndarray:
        from .inference import class_probabilities

        device = runtime.torch_device()
        return class_probabilities(
            self.model.to(device), self.tokenizer, texts, runtime.batch_size, device, dtype=runtime.dtype
        )


class ExportedFeatures(ExportedPair):
    """An exported pair of the features format; its classifier is rebuilt from arrays: nothing unpickled."""

    def __init__(self, directory: Path, manifest: ExportManifest):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        from sklearn.linear_model import LogisticRegression

        from .checkpoints import ResolvedCheckpoint

        self.labels, self.pooling, self.max_length = manifest.labels, manifest.pooling, manifest.max_length
        if self.pooling is None or manifest.classifier is None:
            raise ExportError(
                f"{directory / MANIFEST}: an export of the features format needs 'pooling' and 'classifier'"
            )
        if not (directory / ENCODER / "config.json").is_file():
            raise ExportError(f"{directory / ENCODER}: no config.json; expected the exported encoder")
        self.encoder = ResolvedCheckpoint(manifest.checkpoint, str(directory / ENCODER), "local")
        path = directory / CLASSIFIER_ARRAYS
        try:
            arrays = load_file(str(path))
            coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
        except (OSError, SafetensorError, KeyError) as e:
            raise ExportError(
                f"{path}: expected the arrays coef, intercept and classes ({first_line(e)})"
            ) from None
        n_rows = 1 if len(classes) == 2 else len(classes)
        if (
            coef.ndim != 2
            or coef.shape[0] != n_rows
            or intercept.shape != (n_rows,)
            or classes.dtype.kind not in "iu"
            or not all(0 <= c < len(self.labels) for c in classes)
        ):
            raise ExportError(
                f"{path}: coef {coef.shape}, intercept {intercept.shape}, classes {classes.tolist()}; "
                "expected "
                f"{n_rows} rows and class ids below {len(self.labels)} (labels)"
            )
        try:
            self.classifier = LogisticRegression(**manifest.classifier)
        except TypeError as e:
            raise ExportError(f"{directory / MANIFEST}: classifier: {e}") from None
        self.classifier.coef_, self.classifier.intercept_, self.classifier.classes_ = coef, intercept, classes

    def predict_proba(self, texts, runtime) -> np.ndarray:
        from .approaches.base import expand_columns
        from .approaches.features import HiddenStateExtractor

        features = HiddenStateExtractor(self.encoder, runtime, self.max_length).transform(texts, self.pooling)
        if features.shape[1] != self.classifier.coef_.shape[1]:
            raise ExportError(
                f"{self.encoder.location}: {features.shape[1]} features per text; the classifier expects "
                f"{self.classifier.coef_.shape[1]}"
            )
        proba = self.classifier.predict_proba(features)
        return expand_columns(proba, self.classifier.classes_, len(self.labels))


def load_exported(directory: str | Path) -> ExportedPair:
    """The exported pair in ``directory`` (or any ``transformers`` classifier directory)."""
    from ..results import read_json

    directory = Path(directory)
    manifest = read_json(directory / MANIFEST, ExportManifest) if (directory / MANIFEST).exists() else None
    if manifest is None and not (directory / "config.json").is_file():
        raise ExportError(
            f"{directory}: not an exported pair; expected {MANIFEST} (harness export) or a transformers "
            "classifier's config.json"
        )
    if manifest is None or manifest.written_as == "classifier":
        return ExportedClassifier(directory, manifest)
    return ExportedFeatures(directory, manifest)
