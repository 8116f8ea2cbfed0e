"""Hidden-state features + logistic regression (the book's feature-extraction approach)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ..cache import cache_key, environment_parts, examples_digest
from ..checkpoints import select_device
from ..inference import check_dtype, collect, encode, forward_batches, model_max_length, pad_token_id
from .base import Approach, expand_columns

POOLINGS = ("cls", "mean")


def pool(outputs, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every pooling of the last hidden state: first token, and the attention-masked mean."""
    hidden = outputs.last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return {"cls": hidden[:, 0], "mean": mean}


class HiddenStateExtractor:
    """Pooled last-hidden-state features of one checkpoint.

    One forward pass computes every pooling; results are kept per text list, so the ``cls`` and
    ``mean`` variants of a session share the extraction. ``dtype``: ``fp32``, or ``bf16``/``fp16``
    autocast (see :mod:`harness.inference`).
    """

    def __init__(
        self,
        checkpoint,
        device=None,
        batch_size: int = 64,
        max_length: int | None = None,
        cache=None,
        dtype: str = "fp32",
    ):
        self.checkpoint = checkpoint
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache = cache
        self.dtype = dtype
        self._features: dict[str, dict[str, np.ndarray]] = {}
        self._model = None

    def _load(self):
        if self._model is None:
            self._device = select_device(self.device)
            check_dtype(self.dtype, self._device)
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
            self._features[key] = self._extract(texts, key)
        features = self._features[key][pooling]
        bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
        if len(bad):
            raise ValueError(
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
            self.batch_size,
            self._device,
            pool,
            progress=f"features {self.checkpoint.short_name}",
            dtype=self.dtype,
        )
        return collect(batches, len(encoded.input_ids)), {"n_texts": len(texts)}

    def _result_parts(self) -> dict:
        """Everything besides the texts that changes the features (the cache key)."""
        return {
            "checkpoint": self.checkpoint.fingerprint(),
            "device": select_device(self.device).type,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "dtype": self.dtype,
        }

    def _extract(self, texts, digest: str) -> dict[str, np.ndarray]:
        if self.cache is None:
            return self._compute(texts)[0]
        key = cache_key(texts=digest, **self._result_parts(), **environment_parts())
        return self.cache.arrays("features", key, lambda: self._compute(texts))[0]


class FeatureLogReg(Approach):
    """``LogisticRegression`` on pooled hidden states of a frozen checkpoint.

    ``extractors`` is an optional dict shared between estimators: those with the same checkpoint,
    device, batch size, max length and dtype then share one :class:`HiddenStateExtractor` (one
    extraction). ``dtype``: ``fp32``, or ``bf16``/``fp16`` autocast for the extraction.
    """

    name = "features-logreg"

    def __init__(
        self,
        checkpoint=None,
        labels=(),
        pooling="cls",
        max_iter=3000,
        C=1.0,
        batch_size=64,
        max_length=None,
        device=None,
        extractors=None,
        cache=None,
        dtype="fp32",
    ):
        self.checkpoint = checkpoint
        self.labels = labels
        self.pooling = pooling
        self.max_iter = max_iter
        self.C = C
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.extractors = extractors
        self.cache = cache
        self.dtype = dtype

    def fit(self, X, y, eval_set=None):
        key = (self.checkpoint.id, str(self.device), self.batch_size, self.max_length, self.dtype)
        extractors = self.extractors if self.extractors is not None else {}
        if key not in extractors:
            extractors[key] = HiddenStateExtractor(
                self.checkpoint, self.device, self.batch_size, self.max_length, self.cache, self.dtype
            )
        self.extractor_ = extractors[key]
        features = self.extractor_.transform(X, self.pooling)
        self.classifier_ = LogisticRegression(max_iter=self.max_iter, C=self.C).fit(features, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        proba = self.classifier_.predict_proba(self.extractor_.transform(X, self.pooling))
        return expand_columns(proba, self.classifier_.classes_, len(self.labels))
