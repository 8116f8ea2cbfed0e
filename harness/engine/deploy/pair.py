"""The runtimes of one evaluated pair: fitted again where its predictions came from the cache, measured."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...results.runtimes import RuntimeRecord
from ..evaluation import ensure_fitted
from .measure import MeasureSettings, measure_runtimes


def measure_pair(
    evaluation,
    names: Sequence[str],
    train_texts: Sequence[str],
    train_y: np.ndarray,
    gates: dict[str, dict] | None = None,
    settings: MeasureSettings | None = None,
    suite: str | None = None,
) -> list[RuntimeRecord]:
    """One record per runtime of ``names`` (and the ``torch-fp32`` reference) for the evaluated pair, in
    ``suite``'s results (default: the suite that evaluated it)."""
    from ..checkpoints import select_device
    from ..evaluation import label_columns
    from .graphs import graph_of

    estimator = ensure_fitted(evaluation, train_texts, train_y)
    graph = graph_of(estimator, evaluation.label)
    n_labels = len(evaluation.labels)
    return measure_runtimes(
        graph,
        {
            "suite": suite or evaluation.suite,
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
