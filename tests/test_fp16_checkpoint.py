"""A checkpoint stored in fp16 (harness.engine.fp16_copy) loads as fp32, predicts alike, and says so."""

import json

import numpy as np
import pytest
import torch

from harness.engine.checkpoints import CheckpointError, resolve_checkpoint
from harness.engine.fp16_copy import write_fp16_copy

from .conftest import make_examples


def _probabilities(checkpoint, texts):
    from transformers import AutoModelForSequenceClassification

    model = checkpoint.load_model(AutoModelForSequenceClassification).eval()
    batch = checkpoint.load_tokenizer()(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model, torch.softmax(model(**batch).logits, -1).numpy()


@pytest.fixture
def fp16_classifier(tiny_classifier_checkpoint, tmp_path):
    """The tiny classifier's fp16 copy, its config naming float16 as a checkpoint saved in fp16 does."""
    copy = tmp_path / "fp16"
    write_fp16_copy(tiny_classifier_checkpoint, copy)
    config = json.loads((copy / "config.json").read_text())
    config["dtype"] = "float16"
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_fp16_copy_loads_as_fp32_with_the_same_predictions(tiny_classifier_checkpoint, fp16_classifier):
    original = resolve_checkpoint(str(tiny_classifier_checkpoint))
    copy = resolve_checkpoint(str(fp16_classifier))
    assert (original.stored_dtype(), copy.stored_dtype()) == ("fp32", "fp16")
    size = (fp16_classifier / "model.safetensors").stat().st_size
    assert size < 0.6 * (tiny_classifier_checkpoint / "model.safetensors").stat().st_size

    texts = [text for text, _ in make_examples(40, seed=3)]
    model_32, p_32 = _probabilities(original, texts)
    model_16, p_16 = _probabilities(copy, texts)
    assert {p.dtype for p in model_16.parameters()} == {torch.float32}  # upcast, though config says float16
    # fp16 rounding of the weights (relative 2^-11) moves the probabilities a little, never far
    assert np.abs(p_16 - p_32).max() < 5e-3
    assert (p_16.argmax(1) == p_32.argmax(1)).mean() >= 0.95
    # every weight is the fp32 one rounded to fp16 and back
    weights_32 = dict(model_32.named_parameters())
    for name, weight in model_16.named_parameters():
        assert torch.equal(weight, weights_32[name].half().float()), name


def test_pair_record_says_the_weights_were_stored_in_fp16(pytester, fp16_classifier, dataset_dir):
    from .generated_suite import suite_source

    body = """
@pytest.fixture(params=[approach_spec("features-logreg", pooling="cls")], ids=str)
def approach(request):
    return request.param

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
"""
    pytester.makepyfile(test_tiny=suite_source([fp16_classifier], body))
    result = pytester.runpytest(
        "--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu"
    )
    result.assert_outcomes(passed=1)
    doc = json.loads((pytester.path / "out" / "tiny.json").read_text())
    source = doc["pairs"][0]["checkpoint_source"]
    assert (source["kind"], source["stored_dtype"]) == ("local", "fp16")
    assert "- **Stored weights:** fp16 (loaded as fp32)" in (pytester.path / "out" / "tiny.md").read_text()


def test_fp16_copy_refuses_a_folder_without_weights_or_a_used_target(tiny_checkpoint, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no model.safetensors or pytorch_model.bin to copy in fp16"):
        write_fp16_copy(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(CheckpointError, match="exists and is not empty"):
        write_fp16_copy(tiny_checkpoint, tmp_path / "used")
