"""Hidden-state features + logistic regression (the book's feature-extraction approach)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ..checkpoints import select_device
from ..inference import collect, encode, forward_batches, model_max_length, pad_token_id
from .base import Approach, expand_columns

POOLINGS = ("cls", "mean")


def pool(outputs, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every pooling of the last hidden state: first token, and the attention-masked mean."""
    hidden = outputs.last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return {"cls": hidden[:, 0], "mean": mean}


def texts_key(texts) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


class HiddenStateExtractor:
    """Pooled last-hidden-state features of one checkpoint.

    One forward pass computes every pooling; results are kept per text list, so the ``cls`` and
    ``mean`` variants of a session share the extraction.
    """

    def __init__(self, checkpoint, device=None, batch_size: int = 64, max_length: int | None = None):
        self.checkpoint = checkpoint
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._features: dict[str, dict[str, np.ndarray]] = {}
        self._model = None

    def _load(self):
        if self._model is None:
            self._device = select_device(self.device)
            self._tokenizer = self.checkpoint.load_tokenizer()
            self._model = self.checkpoint.load_model().to(self._device)
            self._max_length = self.max_length or model_max_length(
                self._tokenizer, self._model.config.max_position_embeddings
            )

    def transform(self, texts, pooling: str) -> np.ndarray:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r}: expected one of {POOLINGS}")
        key = texts_key(texts)
        if key not in self._features:
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
            )
            self._features[key] = collect(batches, len(encoded.input_ids))
        features = self._features[key][pooling]
        if not np.isfinite(features).all():
            raise ValueError(f"checkpoint {self.checkpoint.id!r}: non-finite {pooling} features")
        return features


class FeatureLogReg(Approach):
    """``LogisticRegression`` on pooled hidden states of a frozen checkpoint.

    ``extractors`` is an optional dict shared between estimators: those with the same checkpoint,
    device, batch size and max length then share one :class:`HiddenStateExtractor` (one extraction).
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

    def fit(self, X, y, eval_set=None):
        key = (self.checkpoint.id, str(self.device), self.batch_size, self.max_length)
        extractors = self.extractors if self.extractors is not None else {}
        if key not in extractors:
            extractors[key] = HiddenStateExtractor(
                self.checkpoint, self.device, self.batch_size, self.max_length
            )
        self.extractor_ = extractors[key]
        features = self.extractor_.transform(X, self.pooling)
        self.classifier_ = LogisticRegression(max_iter=self.max_iter, C=self.C).fit(features, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        proba = self.classifier_.predict_proba(self.extractor_.transform(X, self.pooling))
        return expand_columns(proba, self.classifier_.classes_, len(self.labels))
