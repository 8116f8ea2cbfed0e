"""One evaluation: fit an approach on the train split, score it on the evaluation split, time it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .approaches import Approach, ApproachSpec
from .checkpoints import ResolvedCheckpoint
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
    return dataset[split]


def count_truncated(checkpoint: ResolvedCheckpoint, texts) -> int:
    """How many texts exceed the checkpoint's maximum input length (they are truncated)."""
    tokenizer = checkpoint.load_tokenizer()
    limit = model_max_length(tokenizer, checkpoint.config().get("max_position_embeddings"))
    return encode(tokenizer, texts, limit).n_truncated


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

    estimator = spec.build(checkpoint, labels, **context)
    started = time.perf_counter()
    estimator.fit(list(train["text"]), np.asarray(train["label"], dtype=int), eval_set=(texts, y_true))
    fitted = time.perf_counter()
    proba = estimator.predict_proba(texts)
    predicted = time.perf_counter()
    scored = score(y_true, proba, labels, texts, k=k)
    timings = {
        "fit": fitted - started,
        "predict": predicted - fitted,
        "score": time.perf_counter() - predicted,
    }
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
        proba=np.asarray(proba),
        scored=scored,
        timings=timings,
        n_truncated=count_truncated(checkpoint, texts) if "checkpoint" in estimator.get_params() else None,
    )
