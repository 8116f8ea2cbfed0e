"""The approach contract: a scikit-learn estimator over raw texts.

``fit(texts, label_ids, *, runtime, labels, eval_set=None)`` returns ``self``;
``predict_proba(texts, *, runtime)`` returns an ``(n_texts, len(labels))`` array whose columns follow
the dataset's label order (an estimator that saw only some classes may return columns for its
``classes_`` instead). ``__init__`` takes hyperparameters only and stores them unchanged; what is
learned ends in ``_``; how it runs (device, dtype, batches, cache) comes from the ``runtime``.

What the rest of the harness needs to know about an approach are class attributes (its
*capabilities*), never its name: a registered approach is treated like a built-in one.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator


class Approach(BaseEstimator):
    name: ClassVar[str]
    expensive: ClassVar[bool] = True  # skipped unless pytest runs with --benchmark
    min_train_classes: ClassVar[int] = 2  # fewer classes in the train split is an error before fit
    # fitted on each training size of a learning curve; False: scored once, drawn as a reference line
    learning_curve: ClassVar[bool] = True
    # predict_proba runs the model forward on every text: texts / predict seconds is the model's throughput
    runs_model: ClassVar[bool] = True
    no_model_reason: ClassVar[str] = "its predict step does not run the model"  # when runs_model is False
    zero_shot: ClassVar[bool] = False  # learns from no labels: the learning curve's reference line
    # the adapter (harness.engine.deploy.graphs.register_graph) giving deployment runtimes its transformer
    deployment_graph: ClassVar[str | None] = None
    export_format: ClassVar[str | None] = None  # how ``harness export`` writes it: "classifier" or "features"
    # from ``__init__``'s parameters unless the class sets them: receives the pair's checkpoint; has a seed
    uses_checkpoint: ClassVar[bool] = False
    seeded: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        parameters = inspect.signature(cls.__init__).parameters
        for capability, parameter in (("uses_checkpoint", "checkpoint"), ("seeded", "seed")):
            if capability not in vars(cls):
                setattr(cls, capability, parameter in parameters)

    @classmethod
    def capabilities(cls) -> dict:
        """What records say of the approach, for readers that cannot import it (the report)."""
        reason = None if cls.runs_model else cls.no_model_reason
        return {"runs_model": cls.runs_model, "no_model_reason": reason}

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
