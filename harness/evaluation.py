"""One evaluation: fit an approach on the train split, score it on the evaluation split, time it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .approaches import Approach, ApproachSpec
from .cache import cache_key, environment_parts, examples_digest
from .checkpoints import ResolvedCheckpoint
from .data import DatasetError
from .inference import encode, model_max_length
from .metrics import score


class SplitMissing(KeyError):
    def __str__(self) -> str:
        return self.args[0]


@dataclass
class Evaluation:
    """What one (suite, checkpoint, approach) produced: predictions, metrics and timings."""

    suite: str
    dataset: str
    checkpoint: ResolvedCheckpoint
    approach: ApproachSpec
    estimator: Approach
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
    cached: bool = False  # predictions (and the timings measured with them) came from the cache

    @property
    def metrics(self) -> dict:
        return self.scored["metrics"]

    @property
    def label(self) -> str:
        """Human name of the pair, as gate messages use it: ``finetune · all-MiniLM-L6-v2``."""
        return f"{self.approach.id} · {self.checkpoint.short_name}"


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
        raise ValueError(
            f"{what}: {len(bad)} of {len(proba)} examples got non-finite class probabilities "
            f"(first: example {bad[0]}); expected finite numbers"
        )


def count_truncated(checkpoint: ResolvedCheckpoint, texts) -> int:
    """How many texts exceed the checkpoint's maximum input length (they are truncated)."""
    tokenizer = checkpoint.load_tokenizer()
    limit = model_max_length(tokenizer, checkpoint.config().get("max_position_embeddings"))
    return encode(tokenizer, texts, limit).n_truncated


def predictions_key(estimator: Approach, checkpoint: ResolvedCheckpoint, train, held_out) -> str:
    """Cache key of an estimator's predictions: its parameters, weights, data and environment."""
    return cache_key(
        approach=estimator.name,
        params=estimator.hyperparameters(),
        labels=list(estimator.labels),
        checkpoint=checkpoint.fingerprint(),
        train=examples_digest(*train),
        eval=examples_digest(*held_out),
        **environment_parts(),
    )


def evaluate(
    suite: str,
    dataset_name: str,
    dataset,
    checkpoint: ResolvedCheckpoint,
    spec: ApproachSpec,
    train_split: str = "train",
    split: str = "validation",
    k: int = 10,
    **context,
) -> Evaluation:
    """Fit ``spec`` on ``train_split`` (with ``split`` as its eval set) and score it on ``split``."""
    train = get_split(dataset, dataset_name, train_split)
    held_out = get_split(dataset, dataset_name, split)
    labels = list(train.features["label"].names)
    texts, y_true = list(held_out["text"]), np.asarray(held_out["label"], dtype=int)

    train_texts, train_y = list(train["text"]), np.asarray(train["label"], dtype=int)
    estimator = spec.build(checkpoint, labels, **context)
    check_train_classes(estimator, train_y, dataset_name, train_split, labels)

    def fit_predict() -> tuple[dict[str, np.ndarray], dict]:
        started = time.perf_counter()
        estimator.fit(train_texts, train_y, eval_set=(texts, y_true))
        fitted = time.perf_counter()
        proba = np.asarray(estimator.predict_proba(texts))
        done = time.perf_counter()
        check_finite(proba, f"{spec.id} · {checkpoint.short_name}")
        meta = {"timings": {"fit": fitted - started, "predict": done - fitted}}
        return {"proba": proba}, {**meta, "history": getattr(estimator, "history_", None)}

    cache = context.get("cache")
    if cache is not None and estimator.expensive:
        key = predictions_key(estimator, checkpoint, (train_texts, train_y), (texts, y_true))
        arrays, meta = cache.arrays("predictions", key, fit_predict)
        cached = ("predictions", key) in cache.hits
    else:
        (arrays, meta), cached = fit_predict(), False
    proba = arrays["proba"]
    started = time.perf_counter()
    scored = score(y_true, proba, labels, texts, k=k)
    timings = {**meta["timings"], "score": time.perf_counter() - started}
    return Evaluation(
        suite=suite,
        dataset=dataset_name,
        checkpoint=checkpoint,
        approach=spec,
        estimator=estimator,
        train_split=train_split,
        split=split,
        labels=labels,
        texts=texts,
        y_true=y_true,
        proba=proba,
        scored=scored,
        timings=timings,
        history=meta["history"],
        cached=cached,
        n_truncated=count_truncated(checkpoint, texts) if "checkpoint" in estimator.get_params() else None,
    )
