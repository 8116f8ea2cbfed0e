"""The approach contract: a scikit-learn estimator over raw texts.

``fit(texts, label_ids, eval_set=None)`` returns ``self``; ``predict_proba(texts)`` returns an
``(n_texts, len(labels))`` array whose columns follow the dataset's label order. Parameters are
set in ``__init__`` and stored unchanged; what is learned ends in ``_``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator

# Parameters that are run context, not hyperparameters: the data's labels, the checkpoint (recorded on
# its own), and state shared between estimators.
CONTEXT_PARAMS = ("labels", "checkpoint", "extractors", "cache")


class Approach(BaseEstimator):
    name: ClassVar[str]
    expensive: ClassVar[bool] = True  # skipped unless pytest runs with --benchmark
    min_train_classes: ClassVar[int] = 2  # fewer classes in the train split is an error before fit

    def hyperparameters(self) -> dict:
        """``get_params()`` without the run context: what results records and cache keys name."""
        return {k: v for k, v in self.get_params(deep=False).items() if k not in CONTEXT_PARAMS}

    def fit(self, X, y, eval_set=None):  # pragma: no cover - interface
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


def expand_columns(proba: np.ndarray, classes, n_labels: int) -> np.ndarray:
    """Place a scikit-learn ``predict_proba`` (columns = ``classes_``) into all ``n_labels`` columns."""
    full = np.zeros((proba.shape[0], n_labels), dtype=np.float64)
    full[:, np.asarray(classes, dtype=int)] = proba
    return full
