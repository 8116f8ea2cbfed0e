"""The most-frequent-class baseline of the book (``DummyClassifier``)."""

from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyClassifier

from .base import Approach, expand_columns


class MostFrequent(Approach):
    name = "most-frequent"
    expensive = False
    min_train_classes = 1  # a single-class train split: that class is predicted for every text

    def __init__(self, labels=()):
        self.labels = labels

    def fit(self, X, y, eval_set=None):
        self.classifier_ = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y), 1)), y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        proba = self.classifier_.predict_proba(np.zeros((len(X), 1)))
        return expand_columns(proba, self.classifier_.classes_, len(self.labels))
