"""The most-frequent-class classifier of the book (``DummyClassifier``): the floor every approach must beat."""

from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyClassifier

from .base import Approach
from .registry import register_approach


@register_approach("most-frequent", expensive=False)
class MostFrequent(Approach):
    min_train_classes = 1  # a single-class train split: that class is predicted for every text
    learning_curve = False  # a class-balanced sample leaves it no prior to learn: a reference line
    runs_model = False
    no_model_reason = "runs no model"

    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        self.classifier_ = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y), 1)), y)
        self.classes_ = self.classifier_.classes_
        return self

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        return self.classifier_.predict_proba(np.zeros((len(X), 1)))
