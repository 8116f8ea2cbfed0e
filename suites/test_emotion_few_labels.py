"""How many labels does ``emotion`` need? Chapter 9 of the book ("Dealing with Few to No Labels") on
MiniLM: zero-shot (no labels), then features + logistic regression trained on 8, 32 and 128 examples
per class, SetFit and fine-tuning on 8 and 32, two seeds each, all scored on the 2,000 validation texts.

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
SEEDS = [0, 1]
# Bounded for the main job's CI budget: on a busy 2-core CPU one SetFit fit (20 steps of 16 pairs) takes
# 1.5-3 minutes and every SetFit or fine-tuning fit predicts the 2,000 validation texts again (~1 minute),
# whatever the number of labels, so they run at two sizes, 8 and 32 per class (fine-tuning: 30 steps of
# 16 texts at lr 1e-4), and two seeds; with three seeds the cold run took well over 20 minutes here.
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
# Measured cold (mean ± std over seeds 0-1, validation accuracy; most-frequent 0.352; 15 minutes on
# the busy 2-core CPU): zero-shot 0.428 (with the descriptions 0.413); features-logreg 0.301 ± 0.105 /
# 0.414 ± 0.002 / 0.502 ± 0.010 at 8/32/128 per class; SetFit 0.436 ± 0.010 at 32; fine-tuning
# 0.289 ± 0.135 at 32 (its seeds spread too widely to gate). With seeds 0-2 the gated means were within
# a point of these, and at 8 per class SetFit read 0.323 ± 0.072 and fine-tuning 0.264 ± 0.102: seeds
# spread too widely to gate there either. Gates sit about 1.5 points below the means.
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
