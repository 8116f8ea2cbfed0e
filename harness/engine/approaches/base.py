"""The approach contract: a scikit-learn estimator over raw texts.

``fit(texts, label_ids, *, runtime, labels, eval_set=None)`` returns ``self``;
``predict_proba(texts, *, runtime)`` returns an ``(n_texts, len(labels))`` array whose columns follow
the dataset's label order (an estimator that saw only some classes may return columns for its
``classes_`` instead). ``__init__`` takes hyperparameters only and stores them unchanged; what is
learned ends in ``_``; how it runs (device, dtype, batches, cache) comes from the ``runtime``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator


class Approach(BaseEstimator):
    name: ClassVar[str]
    expensive: ClassVar[bool] = True  # skipped unless pytest runs with --benchmark
    min_train_classes: ClassVar[int] = 2  # fewer classes in the train split is an error before fit
    # fitted on each training size of a learning curve; False: scored once, drawn as a reference line
    learning_curve: ClassVar[bool] = True

    def hyperparameters(self) -> dict:
        """``get_params()`` without the checkpoint (recorded on its own): what records and keys name."""
        return {k: v for k, v in self.get_params(deep=False).items() if k != "checkpoint"}

    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):  # pragma: no cover - interface
        raise NotImplementedError

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, X, *, runtime=None) -> np.ndarray:
        return self.predict_proba(X, runtime=runtime).argmax(axis=1)


def expand_columns(proba: np.ndarray, classes, n_labels: int) -> np.ndarray:
    """Place a scikit-learn ``predict_proba`` (columns = ``classes_``) into all ``n_labels`` columns."""
    full = np.zeros((proba.shape[0], n_labels), dtype=np.float64)
    full[:, np.asarray(classes, dtype=int)] = proba
    return full
