"""Statistics from per-example predictions: bootstrap CIs, paired tests, calibration, label suspects.

Everything is vectorized over bootstrap resamples (an ``(n_resamples, n_examples)`` index matrix)
and seeded, so the same predictions always give the same intervals.
"""

from __future__ import annotations

import numpy as np

CI_METRICS = ("accuracy", "f1_weighted", "f1_macro")
N_RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
N_BINS = 10
SUSPECT_RULE = (
    "p_gold below the mean p_gold of its gold class, and predicted another class j with p_j at least "
    "the mean p_j of class j (confident learning); or the text appears with conflicting gold labels"
)


def resample_indices(n_examples: int, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``(n_resamples, n_examples)`` indices drawn with replacement."""
    if n_examples < 1:
        raise ValueError("bootstrap: no examples to resample")
    return np.random.default_rng(seed).integers(0, n_examples, size=(n_resamples, n_examples))


def resampled_metrics(y_true, y_pred, n_labels: int, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, weighted F1 and macro F1 of every resample (one row of ``indices`` each).

    F1 follows scikit-learn with ``labels=range(n_labels), zero_division=0``: a class that is
    neither gold nor predicted in a resample counts as F1 0 in the macro average.
    """
    gold, predicted = np.asarray(y_true)[indices], np.asarray(y_pred)[indices]
    n_resamples = indices.shape[0]
    offsets = np.arange(n_resamples)[:, None] * n_labels  # one block of class counts per resample
    size = n_resamples * n_labels

    def counts(cells: np.ndarray) -> np.ndarray:
        return np.bincount(cells, minlength=size).reshape(n_resamples, n_labels).astype(float)

    correct = gold == predicted
    support = counts((gold + offsets).ravel())
    true_positives = counts((gold + offsets)[correct])
    denominator = support + counts((predicted + offsets).ravel())  # 2tp + fp + fn = support + predicted
    f1 = np.divide(2 * true_positives, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return {
        "accuracy": correct.mean(axis=1),
        "f1_weighted": (f1 * support).sum(axis=1) / support.sum(axis=1),
        "f1_macro": f1.mean(axis=1),
    }


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> list[float]:
    """``[low, high]``: the central ``level`` share of ``values``."""
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return [float(low), float(high)]


def bootstrap_ci(
    y_true, y_pred, n_labels: int, n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> dict:
    """Percentile bootstrap CIs: ``{level, n_resamples, accuracy: [low, high], f1_weighted, f1_macro}``."""
    indices = resample_indices(len(y_true), n_resamples, seed)
    resampled = resampled_metrics(y_true, y_pred, n_labels, indices)
    return {
        "level": level,
        "n_resamples": n_resamples,
        **{name: percentile_interval(resampled[name], level) for name in CI_METRICS},
    }


def paired_bootstrap(
    y_true,
    pred_a,
    pred_b,
    n_labels: int,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> dict[str, list[float]]:
    """Interval of each metric's difference ``a − b``, both scored on the same resamples of the examples."""
    indices = resample_indices(len(y_true), n_resamples, seed)
    a = resampled_metrics(y_true, pred_a, n_labels, indices)
    b = resampled_metrics(y_true, pred_b, n_labels, indices)
    return {name: percentile_interval(a[name] - b[name], level) for name in CI_METRICS}


def mcnemar_exact(correct_a, correct_b) -> tuple[float, tuple[int, int]]:
    """Exact McNemar test: two-sided binomial test on the discordant pairs.

    Returns the p-value and ``(a right b wrong, a wrong b right)``; no discordant pair gives p = 1.
    """
    from scipy.stats import binomtest

    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"mcnemar: {correct_a.shape} and {correct_b.shape} outcomes are not paired")
    a_only, b_only = int((correct_a & ~correct_b).sum()), int((~correct_a & correct_b).sum())
    p_value = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return p_value, (a_only, b_only)


def reliability_bins(y_true, proba, n_bins: int = N_BINS) -> list[dict]:
    """Top-label reliability: examples binned by confidence (max probability) in equal-width bins.

    Bin ``i`` holds confidences in ``[i/n_bins, (i+1)/n_bins)`` (the last one includes 1). Each
    non-empty bin is ``{low, high, count, confidence (mean), accuracy}``; empty bins are left out.
    """
    proba = np.asarray(proba, dtype=np.float64)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == np.asarray(y_true)).astype(float)
    which = np.clip(np.floor(confidence * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    confidence_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(which, weights=correct, minlength=n_bins)
    return [
        {
            "low": i / n_bins,
            "high": (i + 1) / n_bins,
            "count": int(count[i]),
            "confidence": float(confidence_sum[i] / count[i]),
            "accuracy": float(correct_sum[i] / count[i]),
        }
        for i in range(n_bins)
        if count[i]
    ]


def expected_calibration_error(bins: list[dict]) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence over reliability bins."""
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / total)


def brier_score(y_true, proba) -> float:
    """Multi-class Brier score: mean squared distance to the one-hot gold vector (0 best, 2 worst)."""
    proba = np.asarray(proba, dtype=np.float64)
    one_hot = np.zeros_like(proba)
    one_hot[np.arange(len(proba)), np.asarray(y_true)] = 1.0
    return float(((proba - one_hot) ** 2).sum(axis=1).mean())


def conflicting_texts(texts, y_true) -> np.ndarray:
    """Mask of the examples whose exact text also appears with another gold label."""
    seen: dict[str, set[int]] = {}
    for text, label in zip(texts, y_true, strict=True):
        seen.setdefault(text, set()).add(int(label))
    return np.array([len(seen[text]) > 1 for text in texts], dtype=bool)


def self_confidence_thresholds(y_true, proba) -> np.ndarray:
    """Per class, the mean probability the model gives that class on its own gold examples.

    Classes without gold examples get ``inf``: nothing is confidently predicted as them.
    """
    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=np.float64)
    n_labels = proba.shape[1]
    p_gold = proba[np.arange(len(y_true)), y_true]
    totals = np.bincount(y_true, weights=p_gold, minlength=n_labels)
    counts = np.bincount(y_true, minlength=n_labels)
    return np.divide(totals, counts, out=np.full(n_labels, np.inf), where=counts > 0)


def label_suspects(y_true, proba, labels, texts, k: int = 50) -> dict:
    """Examples whose gold label may be wrong (see :data:`SUSPECT_RULE`), lowest ``p_gold`` first.

    Returns ``{rule, per_class: {gold label: suspects}, examples: the k first as
    {index, text, gold, predicted, p_gold, conflicting}}``.
    """
    y_true, proba = np.asarray(y_true, dtype=int), np.asarray(proba, dtype=np.float64)
    rows = np.arange(len(y_true))
    thresholds = self_confidence_thresholds(y_true, proba)
    y_pred = proba.argmax(axis=1)
    p_gold, p_pred = proba[rows, y_true], proba[rows, y_pred]
    confidently_other = (y_pred != y_true) & (p_pred >= thresholds[y_pred]) & (p_gold < thresholds[y_true])
    conflicting = conflicting_texts(texts, y_true)
    suspects = np.flatnonzero(confidently_other | conflicting)
    order = suspects[np.argsort(p_gold[suspects], kind="stable")]
    per_class = np.bincount(y_true[suspects], minlength=len(labels))
    return {
        "rule": SUSPECT_RULE,
        "per_class": {name: int(n) for name, n in zip(labels, per_class, strict=True)},
        "examples": [
            {
                "index": int(i),
                "text": texts[i],
                "gold": labels[y_true[i]],
                "predicted": labels[y_pred[i]],
                "p_gold": float(p_gold[i]),
                "conflicting": bool(conflicting[i]),
            }
            for i in order[:k]
        ],
    }
