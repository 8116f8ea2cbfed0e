"""The runtimes of one evaluated pair: fitted again where its predictions came from the cache, measured."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...results.runtimes import RuntimeRecord
from ..budget import phase
from .measure import MeasureSettings, measure_runtimes


def ensure_fitted(evaluation, train_texts: Sequence[str], train_y: np.ndarray):
    """The pair's estimator, fitted: when the predictions came from the cache nothing was fitted in this
    process, so it is fitted again (a fine-tuned model and extracted features come from the cache)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    estimator = evaluation.estimator
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        with phase("fit", split=evaluation.train_split, detail="again, for the runtimes"):
            estimator.fit(
                list(train_texts),
                np.asarray(train_y),
                runtime=evaluation.runtime,
                labels=evaluation.labels,
                eval_set=(evaluation.texts, evaluation.y_true),
            )
    return estimator


def measure_pair(
    evaluation,
    names: Sequence[str],
    train_texts: Sequence[str],
    train_y: np.ndarray,
    gates: dict[str, dict] | None = None,
    settings: MeasureSettings | None = None,
) -> list[RuntimeRecord]:
    """One record per runtime of ``names`` (and the ``torch-fp32`` reference) for the evaluated pair."""
    from ..checkpoints import select_device
    from ..evaluation import label_columns
    from .graphs import graph_of

    estimator = ensure_fitted(evaluation, train_texts, train_y)
    graph = graph_of(estimator, evaluation.label)
    n_labels = len(evaluation.labels)
    return measure_runtimes(
        graph,
        {
            "suite": evaluation.suite,
            "checkpoint": evaluation.checkpoint.id,
            "approach": evaluation.approach.id,
            "split": evaluation.split,
        },
        names,
        evaluation.texts,
        evaluation.y_true,
        evaluation.labels,
        select_device(evaluation.runtime.device),
        evaluation.runtime,
        settings or MeasureSettings(),
        gates,
        columns=lambda proba: label_columns(proba, estimator, len(proba), n_labels, evaluation.label),
    )
