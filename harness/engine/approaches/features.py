"""Hidden-state features + logistic regression (the book's feature-extraction approach)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ..budget import phase
from ..cache import examples_digest
from ...errors import NonFiniteOutput
from ..inference import collect, encode, forward_batches, model_max_length, pad_token_id
from ..runtime import Runtime
from .base import Approach
from .registry import register_approach

POOLINGS = ("cls", "mean")


def pool(outputs, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every pooling of the last hidden state: first token, and the attention-masked mean."""
    hidden = outputs.last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return {"cls": hidden[:, 0], "mean": mean}


class HiddenStateExtractor:
    """Pooled last-hidden-state features of one checkpoint under one runtime.

    One forward pass computes every pooling; results are kept per text list, so the ``cls`` and
    ``mean`` variants of a run share the extraction (and, through the runtime's cache, later runs).
    """

    def __init__(self, checkpoint, runtime: Runtime, max_length: int | None = None):
        self.checkpoint = checkpoint
        self.runtime = runtime
        self.max_length = max_length
        self._features: dict[str, dict[str, np.ndarray]] = {}
        self._model = None

    @classmethod
    def shared(cls, checkpoint, runtime: Runtime, max_length: int | None = None) -> HiddenStateExtractor:
        """The run's extractor for this checkpoint, runtime settings and max length."""
        key = ("features", checkpoint.id, tuple(sorted(runtime.settings().items())), max_length)
        return runtime.reuse(key, lambda: cls(checkpoint, runtime, max_length))

    def _load(self):
        if self._model is None:
            self._device = self.runtime.torch_device()
            self._tokenizer = self.checkpoint.load_tokenizer()
            self._model = self.checkpoint.load_model().to(self._device)
            self._max_length = self.max_length or model_max_length(
                self._tokenizer, self._model.config.max_position_embeddings
            )

    def transform(self, texts, pooling: str) -> np.ndarray:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r}: expected one of {POOLINGS}")
        key = examples_digest(texts)
        if key not in self._features:
            parts = {"checkpoint": self.checkpoint.fingerprint(), "max_length": self.max_length, "texts": key}
            with phase("feature extraction"):
                found = self.runtime.cached_arrays("features", parts, lambda: self._compute(texts))
            self._features[key] = found[0]
        features = self._features[key][pooling]
        bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
        if len(bad):
            raise NonFiniteOutput(
                f"checkpoint {self.checkpoint.id!r}: {len(bad)} of {len(features)} texts got non-finite "
                f"{pooling} features (first: text {bad[0]}); expected finite hidden states"
            )
        return features

    def _compute(self, texts) -> tuple[dict[str, np.ndarray], dict]:
        self._load()
        encoded = encode(self._tokenizer, texts, self._max_length)
        batches = forward_batches(
            self._model,
            encoded,
            pad_token_id(self._tokenizer),
            self.runtime.batch_size,
            self._device,
            pool,
            progress=f"features {self.checkpoint.short_name}",
            dtype=self.runtime.dtype,
        )
        return collect(batches, len(encoded.input_ids)), {"n_texts": len(texts)}


@register_approach("features-logreg")
class FeatureLogReg(Approach):
    """``LogisticRegression`` on pooled hidden states of a frozen checkpoint.

    Variants of a run with the same checkpoint, max length and runtime share one extraction.
    """

    runs_model = False  # predict reads the run's (or the cache's) extraction of the texts
    no_model_reason = "classifies features extracted beforehand"
    deployment_graph = "pooled-features"
    export_format = "features"

    def __init__(self, checkpoint=None, pooling="cls", max_iter=3000, C=1.0, max_length=None):
        self.checkpoint = checkpoint
        self.pooling = pooling
        self.max_iter = max_iter
        self.C = C
        self.max_length = max_length

    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        self.extractor_ = HiddenStateExtractor.shared(self.checkpoint, runtime or Runtime(), self.max_length)
        features = self.extractor_.transform(X, self.pooling)
        self.classifier_ = LogisticRegression(max_iter=self.max_iter, C=self.C).fit(features, y)
        self.classes_ = self.classifier_.classes_
        return self

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        extractor = self.extractor_
        if runtime is not None and runtime.settings() != extractor.runtime.settings():
            extractor = HiddenStateExtractor.shared(self.checkpoint, runtime, self.max_length)
        return self.classifier_.predict_proba(extractor.transform(X, self.pooling))
