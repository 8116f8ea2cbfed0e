"""Bootstrap intervals, paired tests, calibration and label suspects, against hand-computed values."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from harness.engine import stats
from harness.engine.metrics import score


def noisy_predictions(n: int, accuracy: float, n_labels: int = 6, seed: int = 0):
    """Gold labels and predictions that are right with probability ``accuracy``, else random."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_labels, n)
    wrong = (y_true + rng.integers(1, n_labels, n)) % n_labels
    return y_true, np.where(rng.random(n) < accuracy, y_true, wrong)


def test_resampled_f1_matches_scikit_learn_on_every_resample():
    y_true, y_pred = noisy_predictions(12, 0.6)  # so few examples that resamples miss whole classes
    indices = stats.resample_indices(12, n_resamples=40, seed=3)
    resampled = stats.resampled_metrics(y_true, y_pred, 6, indices)
    for row, sample in enumerate(indices):
        t, p = y_true[sample], y_pred[sample]
        for average in ("macro", "weighted"):
            expected = f1_score(t, p, labels=range(6), average=average, zero_division=0)
            assert resampled[f"f1_{average}"][row] == pytest.approx(expected)
        assert resampled["accuracy"][row] == pytest.approx((t == p).mean())


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    y_true, y_pred = noisy_predictions(2000, 0.9)
    ci = stats.bootstrap_ci(y_true, y_pred, 6)
    assert ci == stats.bootstrap_ci(y_true, y_pred, 6)
    assert ci != stats.bootstrap_ci(y_true, y_pred, 6, seed=1)
    assert ci["level"] == 0.95 and ci["n_resamples"] == 1000
    low, high = ci["accuracy"]
    assert low < (y_true == y_pred).mean() < high
    for name in ("f1_weighted", "f1_macro"):
        low, high = ci[name]
        point = f1_score(y_true, y_pred, average=name.removeprefix("f1_"))
        assert low < point < high


def test_accuracy_interval_matches_the_normal_approximation():
    y_true, y_pred = noisy_predictions(2000, 0.9)
    accuracy = (y_true == y_pred).mean()
    low, high = stats.bootstrap_ci(y_true, y_pred, 6)["accuracy"]
    half_width = 1.96 * math.sqrt(accuracy * (1 - accuracy) / 2000)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_paired_bootstrap_of_identical_predictions_is_exactly_zero():
    y_true, y_pred = noisy_predictions(300, 0.8)
    assert stats.paired_bootstrap(y_true, y_pred, y_pred, 6) == {
        "accuracy": [0.0, 0.0],
        "f1_weighted": [0.0, 0.0],
        "f1_macro": [0.0, 0.0],
    }


def test_paired_bootstrap_sees_a_small_consistent_gain_that_unpaired_intervals_miss():
    y_true, b = noisy_predictions(2000, 0.9)
    a = b.copy()
    fixed = np.flatnonzero(a != y_true)[:30]  # a = b plus 30 corrections: +1.5 points
    a[fixed] = y_true[fixed]
    paired = stats.paired_bootstrap(y_true, a, b, 6)["accuracy"]
    assert 0 < paired[0] < 0.015 < paired[1]
    ci_a, ci_b = (stats.bootstrap_ci(y_true, p, 6)["accuracy"] for p in (a, b))
    assert ci_a[0] < ci_b[1]  # the separate intervals overlap


def test_mcnemar_exact_p_value_on_the_discordant_pairs():
    correct_a = np.array([True] * 10 + [True] * 5 + [False] * 3)
    correct_b = np.array([False] * 10 + [True] * 5 + [False] * 3)
    p_value, discordant = stats.mcnemar_exact(correct_a, correct_b)
    assert discordant == (10, 0)
    assert p_value == pytest.approx(2 * 0.5**10)
    assert stats.mcnemar_exact(correct_b, correct_a) == (pytest.approx(2 * 0.5**10), (0, 10))
    # 2 vs 1 discordant: two-sided exact p = 1
    assert stats.mcnemar_exact([True, True, False, True], [False, False, True, True])[0] == pytest.approx(1.0)


def test_mcnemar_without_discordant_pairs_is_not_significant():
    assert stats.mcnemar_exact([True, False], [True, False]) == (1.0, (0, 0))


def test_mcnemar_rejects_unpaired_outcomes():
    with pytest.raises(ValueError, match=r"mcnemar: \(2,\) and \(3,\) outcomes are not paired"):
        stats.mcnemar_exact([True, False], [True, False, True])


# confidence 0.95 (right), 0.85 (wrong), 1.0 (right), 0.55 (right), 0.52 (wrong)
Y_TRUE = [0, 1, 1, 0, 1]
PROBA = np.array([[0.95, 0.05], [0.85, 0.15], [0.0, 1.0], [0.55, 0.45], [0.52, 0.48]])


def test_reliability_bins_group_by_top_confidence_and_skip_empty_bins():
    bins = stats.reliability_bins(Y_TRUE, PROBA)
    assert [(b["low"], b["high"], b["count"]) for b in bins] == [(0.5, 0.6, 2), (0.8, 0.9, 1), (0.9, 1.0, 2)]
    assert bins[0]["confidence"] == pytest.approx(0.535) and bins[0]["accuracy"] == 0.5
    assert bins[1]["confidence"] == pytest.approx(0.85) and bins[1]["accuracy"] == 0.0
    assert (
        bins[2]["confidence"] == pytest.approx(0.975) and bins[2]["accuracy"] == 1.0
    )  # 1.0 is in the last bin


def test_expected_calibration_error_weights_each_bin_gap_by_its_count():
    ece = stats.expected_calibration_error(stats.reliability_bins(Y_TRUE, PROBA))
    assert ece == pytest.approx((2 * 0.035 + 1 * 0.85 + 2 * 0.025) / 5)


def test_brier_score_is_the_squared_distance_to_one_hot():
    assert stats.brier_score([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.0
    assert stats.brier_score([0], np.array([[0.5, 0.5]])) == pytest.approx(0.5)
    assert stats.brier_score([2], np.array([[1.0, 0.0, 0.0]])) == pytest.approx(2.0)


LABELS = ["a", "b", "c"]
# mean self-confidence: a (0.9, 0.8, 0.1) → 0.6; b (0.9, 0.7) → 0.8; c (0.5) → 0.5
SUSPECT_GOLD = [0, 0, 0, 1, 1, 2]
SUSPECT_PROBA = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.8, 0.1, 0.1],
        [0.1, 0.85, 0.05],  # gold a at 0.1 < 0.6, predicted b at 0.85 ≥ 0.8: suspect
        [0.05, 0.9, 0.05],
        [0.25, 0.7, 0.05],  # gold b at 0.7 < 0.8 but predicted b: not a suspect
        [0.45, 0.05, 0.5],
    ]
)
SUSPECT_TEXTS = ["x", "same text", "z", "same text", "w", "v"]


def test_self_confidence_thresholds_are_per_class_means_of_p_gold():
    thresholds = stats.self_confidence_thresholds(SUSPECT_GOLD, SUSPECT_PROBA)
    assert thresholds == pytest.approx([0.6, 0.8, 0.5])
    assert stats.self_confidence_thresholds([0], np.array([[0.7, 0.3]]))[1] == np.inf


def test_label_suspects_flag_confident_disagreement_and_conflicting_texts():
    suspects = stats.label_suspects(SUSPECT_GOLD, SUSPECT_PROBA, LABELS, SUSPECT_TEXTS)
    assert suspects["rule"] == stats.SUSPECT_RULE
    assert suspects["per_class"] == {"a": 2, "b": 1, "c": 0}
    assert suspects["examples"] == [
        {"index": 2, "text": "z", "gold": "a", "predicted": "b", "p_gold": 0.1, "conflicting": False},
        {"index": 1, "text": "same text", "gold": "a", "predicted": "a", "p_gold": 0.8, "conflicting": True},
        {"index": 3, "text": "same text", "gold": "b", "predicted": "b", "p_gold": 0.9, "conflicting": True},
    ]


def test_wrong_but_unconfident_predictions_are_not_suspects():
    # gold c at 0.45 < 0.5, predicted a at 0.5 < a's threshold 0.7: the model is not confident
    proba = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.5, 0.05, 0.45], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]])
    suspects = stats.label_suspects([0, 0, 2, 2, 1], proba, LABELS, ["p", "q", "r", "s", "t"])
    assert suspects["per_class"] == {"a": 0, "b": 0, "c": 0} and suspects["examples"] == []


def test_score_carries_intervals_calibration_and_suspects():
    y_true = [0, 0, 0, 1, 1, 2]
    scored = score(y_true, SUSPECT_PROBA, LABELS, SUSPECT_TEXTS)
    metrics = scored["metrics"]
    assert metrics["ci"] == stats.bootstrap_ci(np.array(y_true), SUSPECT_PROBA.argmax(1), 3)
    low, high = metrics["ci"]["accuracy"]
    assert low <= metrics["accuracy"] <= high
    assert scored["calibration"] == {"n_bins": 10, "bins": stats.reliability_bins(y_true, SUSPECT_PROBA)}
    assert metrics["ece"] == stats.expected_calibration_error(scored["calibration"]["bins"])
    assert metrics["brier"] == stats.brier_score(y_true, SUSPECT_PROBA)
    assert scored["label_suspects"]["per_class"] == {"a": 2, "b": 1, "c": 0}


def test_no_examples_is_a_clear_error():
    with pytest.raises(ValueError, match="bootstrap: no examples to resample"):
        stats.resample_indices(0)
