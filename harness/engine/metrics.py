"""Scores from class probabilities: accuracy, F1 (with bootstrap CIs), per-class report, confusion
matrix, losses, calibration and label-issue suspects."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from . import stats

PROBA_FLOOR = 1e-12  # a probability of exactly 0 for the gold label costs -log(1e-12) ≈ 27.6


def per_example_loss(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example: ``-log p(gold)``."""
    gold = proba[np.arange(len(y_true)), y_true]
    return -np.log(np.clip(gold, PROBA_FLOOR, 1.0))


def normalized_confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """Row-normalized confusion matrix (rows: gold, columns: predicted); empty rows stay 0."""
    counts = confusion_matrix(y_true, y_pred, labels=range(n_labels)).astype(float)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def ranked_examples(texts, y_true, y_pred, proba, loss, labels, order, k: int) -> list[dict]:
    return [
        {
            "index": int(i),
            "text": texts[i],
            "gold": labels[y_true[i]],
            "predicted": labels[y_pred[i]],
            "loss": float(loss[i]),
            "p_gold": float(proba[i, y_true[i]]),
        }
        for i in order[:k]
    ]


def score(
    y_true,
    proba,
    labels,
    texts=None,
    k: int = 10,
    n_resamples: int = stats.N_RESAMPLES,
    seed: int = stats.SEED,
) -> dict:
    """All metrics for one evaluation, with seeded bootstrap CIs and calibration.

    ``texts`` adds the k worst- and best-loss examples and the label-issue suspects.
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=np.float64)
    n_labels = len(labels)
    if proba.shape != (len(y_true), n_labels):
        raise ValueError(f"probabilities have shape {proba.shape}, expected ({len(y_true)}, {n_labels})")
    y_pred = proba.argmax(axis=1)
    loss = per_example_loss(y_true, proba)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=range(n_labels), zero_division=0
    )
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_weighted": float(
            f1_score(y_true, y_pred, labels=range(n_labels), average="weighted", zero_division=0)
        ),
        "f1_macro": float(f1_score(y_true, y_pred, labels=range(n_labels), average="macro", zero_division=0)),
        "loss_mean": float(loss.mean()),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": normalized_confusion(y_true, y_pred, n_labels).tolist(),
        "ci": stats.bootstrap_ci(y_true, y_pred, n_labels, n_resamples, seed=seed),
    }
    bins = stats.reliability_bins(y_true, proba, stats.N_BINS)
    metrics.update(ece=stats.expected_calibration_error(bins), brier=stats.brier_score(y_true, proba))
    scored = {
        "metrics": metrics,
        "y_pred": y_pred,
        "loss": loss,
        "calibration": {"n_bins": stats.N_BINS, "bins": bins},
    }
    if texts is not None:
        order = np.argsort(-loss, kind="stable")
        scored["worst"] = ranked_examples(texts, y_true, y_pred, proba, loss, labels, order, k)
        scored["best"] = ranked_examples(texts, y_true, y_pred, proba, loss, labels, order[::-1], k)
        scored["label_suspects"] = stats.label_suspects(y_true, proba, labels, texts)
    return scored
