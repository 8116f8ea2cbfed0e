"""Real data and real weights: the emotion mirror (``HARNESS_DATA_DIR``) and the MiniLM mirror package."""

import os
from pathlib import Path

import numpy as np
import pytest

from harness.engine.approaches.features import HiddenStateExtractor
from harness.engine.runtime import Runtime
from harness.engine.checkpoints import CheckpointUnavailable, resolve_checkpoint
from harness.engine.data import load_dataset

pytestmark = pytest.mark.slow
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def emotion():
    data_dir = os.environ.get("HARNESS_DATA_DIR")
    if not data_dir or not (Path(data_dir) / "emotion").is_dir():
        pytest.skip("real data: set HARNESS_DATA_DIR to a directory holding emotion/ (e.g. ../shared/data)")
    return load_dataset("emotion", data_dir=data_dir)


@pytest.fixture(scope="module")
def minilm():
    try:
        return resolve_checkpoint(MINILM)
    except CheckpointUnavailable as e:
        pytest.skip(str(e))


def test_emotion_mirror_has_every_row_in_hub_label_order(emotion):
    assert {s: len(d) for s, d in emotion.items()} == {"train": 16000, "validation": 2000, "test": 2000}
    assert emotion["train"].features["label"].names == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    # class counts from the data's README: sadness, joy, love, anger, fear, surprise
    assert np.bincount(emotion["validation"]["label"]).tolist() == [550, 704, 178, 275, 212, 81]
    assert np.bincount(emotion["train"]["label"]).tolist() == [4666, 5362, 1304, 2159, 1937, 572]
    assert emotion["validation"][0] == {
        "text": "im feeling quite sad and sorry for myself but ill snap out of it soon",
        "label": 0,
    }


def test_minilm_resolves_to_the_installed_mirror(minilm):
    assert minilm.source in ("mirror-package", "model-dir", "hub")
    config = minilm.config()
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("bert", 384, 6)


def test_minilm_mean_features_are_semantic(minilm):
    texts = ["i feel so happy and glad today", "i am delighted and cheerful", "i am furious and angry at him"]
    features = HiddenStateExtractor(minilm, Runtime(device="cpu")).transform(texts, "mean")
    assert features.shape == (3, 384)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    assert similarity[0, 1] > similarity[0, 2] + 0.1
