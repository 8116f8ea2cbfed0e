import math

import numpy as np
import pytest

from harness.engine.metrics import PROBA_FLOOR, score

LABELS = ["a", "b", "c"]
# gold:      a    a    b    c    c    c
# predicted: a    b    b    c    a    c
Y_TRUE = [0, 0, 1, 2, 2, 2]
PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.6, 0.1],
        [0.1, 0.8, 0.1],
        [0.2, 0.2, 0.6],
        [0.5, 0.1, 0.4],
        [0.0, 0.0, 1.0],
    ]
)


@pytest.fixture(scope="module")
def scored():
    texts = [f"text {i}" for i in range(6)]
    return score(Y_TRUE, PROBA, LABELS, texts, k=2)


def test_accuracy_and_f1_match_hand_computed_values(scored):
    m = scored["metrics"]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # per class: a: P=1/2 R=1/2 F=1/2; b: P=1/2 R=1 F=2/3; c: P=1 R=2/3 F=4/5
    f1 = {"a": 0.5, "b": 2 / 3, "c": 0.8}
    assert m["f1_macro"] == pytest.approx(sum(f1.values()) / 3)
    assert m["f1_weighted"] == pytest.approx((2 * f1["a"] + 1 * f1["b"] + 3 * f1["c"]) / 6)
    assert m["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["per_class"]["c"]["support"] == 3


def test_confusion_matrix_is_row_normalized(scored):
    expected = [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1 / 3, 0.0, 2 / 3]]
    assert np.allclose(scored["metrics"]["confusion_matrix"], expected)


def test_per_example_loss_is_minus_log_gold_probability(scored):
    gold = [0.7, 0.3, 0.8, 0.6, 0.4, 1.0]
    assert np.allclose(scored["loss"], [-math.log(p) for p in gold])
    assert scored["metrics"]["loss_mean"] == pytest.approx(np.mean([-math.log(p) for p in gold]))


def test_worst_and_best_examples_are_ranked_by_loss(scored):
    worst, best = scored["worst"], scored["best"]
    assert [e["index"] for e in worst] == [1, 4]  # p_gold 0.3, then 0.4
    assert worst[0] == {
        "index": 1,
        "text": "text 1",
        "gold": "a",
        "predicted": "b",
        "loss": pytest.approx(-math.log(0.3)),
        "p_gold": pytest.approx(0.3),
    }
    assert [e["index"] for e in best] == [5, 2]  # p_gold 1.0, then 0.8


def test_zero_gold_probability_costs_a_finite_loss():
    scored = score([1], np.array([[1.0, 0.0]]), ["x", "y"])
    assert scored["loss"][0] == pytest.approx(-math.log(PROBA_FLOOR))


def test_class_absent_from_gold_gets_empty_confusion_row():
    scored = score([0, 0], np.array([[0.9, 0.1], [0.2, 0.8]]), ["x", "y"])
    assert scored["metrics"]["confusion_matrix"] == [[0.5, 0.5], [0.0, 0.0]]
    assert scored["metrics"]["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_wrong_probability_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"probabilities have shape \(2, 2\), expected \(2, 3\)"):
        score([0, 1], np.ones((2, 2)) / 2, LABELS)
