"""How many labels does ``emotion`` need? Chapter 9 of the book ("Dealing with Few to No Labels") on
MiniLM: zero-shot (no labels), then features + logistic regression trained on 8, 32 and 128 examples
per class, SetFit and fine-tuning on 8 and 32, three seeds each, all scored on the 2,000 validation texts.

Run: ``pytest suites/test_emotion_few_labels.py --benchmark`` (without --benchmark only the
most-frequent reference runs). SetFit needs ``pip install 'harness[fewlabels]'``.
"""

import pytest

from harness import approach_spec

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
NLI = "cross-encoder/nli-MiniLM2-L6-H768"  # a small NLI head; skipped where it cannot be resolved

DATASET = "emotion"
CHECKPOINTS = [MINILM]
SPEED_SETTINGS = []  # this suite is about labels, not speed
# Every text of emotion reads "i feel ...": label descriptions in that voice.
DESCRIPTIONS = {
    "sadness": "i feel sad",
    "joy": "i feel happy",
    "love": "i feel loving",
    "anger": "i feel angry",
    "fear": "i feel afraid",
    "surprise": "i feel surprised",
}
SHOTS = [8, 32, 128]
SEEDS = [0, 1, 2]
# Bounded for the main job's CI budget: every SetFit or fine-tuning fit predicts the 2,000 validation texts
# again whatever the number of labels, so they run at two sizes, 8 and 32 per class (SetFit: 20 steps of 16
# pairs; fine-tuning: 30 steps of 16 texts at lr 1e-4). Cold on the quiet 2-core CI machine the suite takes
# about 4.5 minutes with three seeds (a seed adds 1.5: two SetFit fits of ~17 s, two fine-tunes of ~11 s, each
# with a ~7 s prediction, and the features' three fits).
APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("zero-shot"),
    approach_spec("zero-shot", variant="descriptions", descriptions=DESCRIPTIONS),
    approach_spec("zero-shot-nli"),
    approach_spec("features-logreg", pooling="mean"),
    approach_spec("setfit", variant="20-steps", max_steps=20, shots=[8, 32]),
    approach_spec(
        "finetune",
        variant="30-steps",
        learning_rate=1e-4,
        batch_size=16,
        training_args={"max_steps": 30},
        shots=[8, 32],
    ),
]
# Measured (mean ± std over seeds 0-2, validation accuracy; most-frequent 0.352), 5 December 2026: zero-shot
# 0.428 (with the descriptions 0.413); features-logreg 0.321 ± 0.082 / 0.419 ± 0.009 / 0.503 ± 0.007 at
# 8/32/128 per class; SetFit 0.323 ± 0.072 / 0.435 ± 0.008 at 8/32; fine-tuning 0.270 ± 0.094 / 0.317 ± 0.111
# (seeds 0-1 alone: features 0.301 / 0.414 / 0.502, SetFit 0.436 at 32). At 8 per class, and for fine-tuning
# at both sizes, seeds spread too widely to gate. Gates sit about 1.5 points below the means.
CURVE_GATES = {
    "most-frequent": {None: {"accuracy": 0.35}},
    "zero-shot": {None: {"accuracy": 0.41}},
    "features-logreg-mean": {32: {"accuracy": 0.40}, 128: {"accuracy": 0.48}},
    "setfit-20-steps": {32: {"accuracy": 0.42}},
}


def test_zero_shot_beats_the_most_frequent_class(curve):
    assert curve("zero-shot", None).mean["accuracy"] > curve("most-frequent", None).mean["accuracy"]


def test_setfit_beats_features_with_32_labels_per_class(curve):
    setfit, features = curve("setfit-20-steps", 32), curve("features-logreg-mean", 32)
    assert setfit.mean["accuracy"] > features.mean["accuracy"]


@pytest.mark.parametrize("checkpoint", [NLI], indirect=True)
@pytest.mark.parametrize("approach", [approach_spec("zero-shot-nli")], indirect=True, ids=str)
def test_zero_shot_nli(evaluation, gate):
    """transformers' zero-shot pipeline on an NLI checkpoint, where it resolves (skipped otherwise)."""
    gate(evaluation, accuracy=0.35)
