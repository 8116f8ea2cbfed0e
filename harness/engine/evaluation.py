"""One evaluation: fit an approach on the train split, score it on the evaluation split, time it."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .approaches import ApproachSpec
from .approaches.base import Approach, expand_columns
from .budget import phase
from .cache import examples_digest
from .checkpoints import ResolvedCheckpoint
from .data import DatasetError
from ..errors import HarnessError, NonFiniteOutput
from .inference import encode, model_max_length
from .metrics import score
from ..results.model import Metrics
from .runtime import Runtime


class SplitMissing(HarnessError, KeyError):
    def __str__(self) -> str:
        return self.args[0]


class PredictionError(HarnessError, ValueError):
    """An approach returned probabilities the harness cannot score."""


@dataclass
class Evaluation:
    """What one (suite, checkpoint, approach) produced: predictions, metrics and timings."""

    suite: str
    dataset: str
    checkpoint: ResolvedCheckpoint
    approach: ApproachSpec
    estimator: Approach
    runtime: Runtime
    train_split: str
    split: str
    labels: list[str]
    texts: list[str]
    y_true: np.ndarray
    proba: np.ndarray
    scored: dict
    timings: dict[str, float]
    n_truncated: int | None = None
    history: list | None = None  # fine-tuning's per-epoch log
    training: dict | None = None  # fine-tuning's training throughput (timing/training.py)
    seed_runs: object | None = None  # fitted once per seed: results.curves.SeedRuns (this is the first seed)
    cached: bool = False  # predictions (and the timings measured with them) came from the cache
    dataset_source: dict | None = None  # {kind: local|hub|dataset, location}: where the data was read

    @functools.cached_property
    def metrics(self) -> Metrics:
        return Metrics.model_validate(self.scored["metrics"])

    @property
    def gate_metrics(self) -> Metrics:
        """What gates check: the metrics, the headline ones averaged over seeds for a seeded pair."""
        if self.seed_runs is None:
            return self.metrics
        return self.metrics.model_copy(update=self.seed_runs.summary.mean)

    @property
    def gate_label(self) -> str:
        """The label of gate messages: says when the value is a mean over seeds."""
        seeds = f" · mean of {len(self.seed_runs.seeds)} seeds" if self.seed_runs is not None else ""
        return self.label + seeds

    @property
    def label(self) -> str:
        """Human name of the pair, as gate messages use it: ``finetune · all-MiniLM-L6-v2``."""
        return f"{self.approach.id} · {self.checkpoint.short_name if self.checkpoint else 'no checkpoint'}"


def get_split(dataset, name: str, split: str):
    if split not in dataset:
        raise SplitMissing(f"dataset {name!r} has no split {split!r}; it has {sorted(dataset)}")
    if len(dataset[split]) == 0:
        raise DatasetError(f"dataset {name!r} split {split!r} is empty; expected at least one example")
    return dataset[split]


def check_train_classes(estimator: Approach, y, dataset_name: str, split: str, labels) -> None:
    """An approach that learns to tell classes apart needs ``min_train_classes`` of them to train."""
    present = np.unique(y)
    if len(present) < estimator.min_train_classes:
        names = ", ".join(repr(labels[i]) for i in present)
        raise DatasetError(
            f"dataset {dataset_name!r} split {split!r} has only the class {names}; {estimator.name} "
            f"needs at least {estimator.min_train_classes} classes to train"
        )


def check_finite(proba: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(proba).all(axis=1))
    if len(bad):
        raise NonFiniteOutput(
            f"{what}: {len(bad)} of {len(proba)} examples got non-finite class probabilities "
            f"(first: example {bad[0]}); expected finite numbers"
        )


def label_columns(proba, estimator: Approach, n_texts: int, n_labels: int, what: str) -> np.ndarray:
    """``predict_proba``'s output with one column per label: columns for ``classes_`` are placed."""
    proba = np.asarray(proba, dtype=np.float64)
    classes = getattr(estimator, "classes_", None)
    if proba.ndim == 2 and proba.shape[1] != n_labels and classes is not None and len(classes) == proba.shape[1]:
        proba = expand_columns(proba, classes, n_labels)
    if proba.shape != (n_texts, n_labels):
        raise PredictionError(
            f"{what}: predict_proba returned shape {proba.shape}; expected ({n_texts}, {n_labels}) "
            "(one column per label, or per class in classes_)"
        )
    return proba


def count_truncated(checkpoint: ResolvedCheckpoint, texts) -> int:
    """How many texts exceed the checkpoint's maximum input length (they are truncated)."""
    tokenizer = checkpoint.load_tokenizer()
    limit = model_max_length(tokenizer, checkpoint.config().get("max_position_embeddings"))
    return encode(tokenizer, texts, limit).n_truncated


def truncated(checkpoint: ResolvedCheckpoint, texts, runtime: Runtime) -> int:
    """:func:`count_truncated`, once per run for a checkpoint and text list (every seed and training
    size of a pair scores the same evaluation texts)."""
    key = ("n_truncated", checkpoint.id, examples_digest(texts))
    return runtime.reuse(key, lambda: count_truncated(checkpoint, texts))


def evaluate(
    suite: str,
    dataset_name: str,
    dataset,
    checkpoint: ResolvedCheckpoint | None,
    spec: ApproachSpec,
    runtime: Runtime,
    train_split: str = "train",
    split: str = "validation",
    k: int = 10,
    seed: int | None = None,
    eval_set: bool = True,
) -> Evaluation:
    """Fit ``spec`` on ``train_split`` (with ``split`` as its eval set) and score it on ``split``.

    ``seed`` sets the estimator's ``seed`` hyperparameter (approaches without one ignore it);
    ``eval_set=False`` fits without the evaluation split (no best-epoch selection on it).
    Predictions of expensive approaches are cached, keyed by the approach, its hyperparameters, the
    checkpoint's weights, both splits, whether the fit saw the evaluation split, and the runtime.
    """
    train = get_split(dataset, dataset_name, train_split)
    held_out = get_split(dataset, dataset_name, split)
    labels = list(train.features["label"].names)
    texts, y_true = list(held_out["text"]), np.asarray(held_out["label"], dtype=int)
    train_texts, train_y = list(train["text"]), np.asarray(train["label"], dtype=int)
    runtime = runtime.replace(**spec.runtime) if spec.runtime else runtime
    estimator = spec.build(checkpoint)
    if seed is not None and estimator.seeded:
        estimator.set_params(seed=seed)
    check_train_classes(estimator, train_y, dataset_name, train_split, labels)
    what = f"{spec.id} · {checkpoint.short_name if checkpoint else 'no checkpoint'}"

    def fit_predict() -> tuple[dict[str, np.ndarray], dict]:
        started = time.perf_counter()
        fit_eval = (texts, y_true) if eval_set else None
        with phase("fit", split=train_split):
            estimator.fit(train_texts, train_y, runtime=runtime, labels=labels, eval_set=fit_eval)
        fitted = time.perf_counter()
        with phase("predict", split=split):
            proba = estimator.predict_proba(texts, runtime=runtime)
        proba = label_columns(proba, estimator, len(texts), len(labels), what)
        done = time.perf_counter()
        check_finite(proba, what)
        meta = {"timings": {"fit": fitted - started, "predict": done - fitted}}
        training = getattr(estimator, "training_throughput_", None)
        return {"proba": proba}, {**meta, "history": getattr(estimator, "history_", None), "training": training}

    if estimator.expensive:
        parts = {
            "approach": estimator.name,
            "params": estimator.hyperparameters(),
            "labels": labels,
            "checkpoint": checkpoint.fingerprint() if checkpoint is not None else None,
            "train": examples_digest(train_texts, train_y),
            "eval": examples_digest(texts, y_true),
            "fit_eval_set": eval_set,
        }
        needed = ("timings", "history")  # read below: an entry without them is recomputed
        with phase("predictions cache", split=split):  # its own time: reading or storing the arrays
            arrays, meta, cached = runtime.cached_arrays("predictions", parts, fit_predict, needed)
    else:
        (arrays, meta), cached = fit_predict(), False
    proba = arrays["proba"]
    started = time.perf_counter()
    with phase("score", split=split):
        scored = score(y_true, proba, labels, texts, k=k)
    timings = {**meta["timings"], "score": time.perf_counter() - started}
    n_truncated = truncated(checkpoint, texts, runtime) if checkpoint and estimator.uses_checkpoint else None
    return Evaluation(
        suite=suite,
        dataset=dataset_name,
        checkpoint=checkpoint,
        approach=spec,
        estimator=estimator,
        runtime=runtime,
        train_split=train_split,
        split=split,
        labels=labels,
        texts=texts,
        y_true=y_true,
        proba=proba,
        scored=scored,
        timings=timings,
        history=meta["history"],
        training=meta.get("training"),
        cached=cached,
        n_truncated=n_truncated,
    )


def ensure_fitted(evaluation: Evaluation, train_texts: Sequence[str], train_y: np.ndarray) -> Approach:
    """The pair's estimator, fitted: when the predictions came from the cache nothing was fitted in this
    process, so it is fitted again (a fine-tuned model and extracted features come from the cache)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    estimator = evaluation.estimator
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        with phase("fit", split=evaluation.train_split, detail="again, after a cache hit"):
            estimator.fit(
                list(train_texts),
                np.asarray(train_y),
                runtime=evaluation.runtime,
                labels=evaluation.labels,
                eval_set=(evaluation.texts, evaluation.y_true),
            )
    return estimator


def record_fields(ev: Evaluation) -> dict:
    """What an evaluation adds to its pair record (docs/results.md), as JSON-ready data."""
    return {
        "approach": ev.approach.info(ev.estimator.hyperparameters()),
        "runtime": ev.runtime.record().to_json(),
        "dataset": ev.dataset,
        "dataset_source": ev.dataset_source,
        "checkpoint_source": (
            {
                "kind": ev.checkpoint.source,
                "location": ev.checkpoint.location,
                "revision": ev.checkpoint.revision,
                "stored_dtype": ev.checkpoint.stored_dtype(),
                "weights": ev.checkpoint.fingerprint(),
                **ev.checkpoint.weights_size(),
            }
            if ev.checkpoint
            else None
        ),
        "train_split": ev.train_split,
        "split": ev.split,
        "n_examples": len(ev.texts),
        "n_truncated": ev.n_truncated,
        "labels": ev.labels,
        "eval_fingerprint": examples_digest(ev.texts, ev.y_true),
        "metrics": ev.scored["metrics"],
        "calibration": ev.scored["calibration"],
        "label_suspects": ev.scored["label_suspects"],
        "timings": {k: round(v, 4) for k, v in ev.timings.items()},
        "examples": {"worst_loss": ev.scored["worst"], "best_loss": ev.scored["best"]},
        "training_history": ev.history,
        "training_throughput": ev.training,
        "seeds": ev.seed_runs.to_json() if ev.seed_runs is not None else None,
        "cached": ev.cached,
        "predictions": {
            "gold": ev.y_true.tolist(),
            "predicted": ev.scored["y_pred"].tolist(),
            "loss": [round(float(x), 6) for x in ev.scored["loss"]],
            "proba": [[round(float(p), 6) for p in row] for row in ev.proba],
        },
    }
