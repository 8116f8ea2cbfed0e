"""The book's chapter-2 study on ``emotion``: checkpoints × approaches, gated on validation accuracy/F1.

Run: ``./run main`` (or ``pytest suites/ --benchmark``; without --benchmark only the cheap
most-frequent classifier runs). Checkpoints that cannot be resolved here are skipped with the reason.
"""

import pytest

from harness import approach_spec

DISTILBERT = "distilbert-base-uncased"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PUBLISHED = "bhadresh-savani/distilbert-base-uncased-emotion"  # its model card reports 0.938 test accuracy

DATASET = "emotion"
CHECKPOINTS = [DISTILBERT, MINILM]
APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="cls"),
    approach_spec("features-logreg", pooling="mean"),
    # The book's recipe (lr 2e-5, random batches) by default. MiniLM is small and learns faster with
    # lr 1e-4; length-grouped batches spend less of its two CPU epochs on padding; bf16 autocast where
    # the device runs it natively ("auto") trains ~1.3x faster at the same accuracy (0.9255 vs 0.925).
    approach_spec(
        "finetune",
        per_checkpoint={MINILM: {"learning_rate": 1e-4, "group_by_length": True}},
        runtime={"dtype": "auto"},
    ),
]
# The most-frequent class is "joy" (704 of 2000 validation texts); the book reports 0.633 (features)
# and ~0.92 (finetune) for DistilBERT.
GATES = {
    "most-frequent": {"accuracy": 0.35},
    "features-logreg-cls": {"accuracy": 0.62},
    "features-logreg-mean": {"accuracy": 0.62},
    (MINILM, "features-logreg-mean"): {"accuracy": 0.68},
    "finetune": {"accuracy": 0.91, "f1_weighted": 0.91},
}
# How to ship the fine-tuned pairs (chapter 8). Measured, MiniLM fine-tuned in bf16 on the 2-core CI CPU
# (AVX-512 BF16/VNNI), against torch-fp32: onnx-fp32 agrees fully (max |Δp| 4e-6), 1.7x texts/s;
# per-channel int8 keeps 97.45% (torch) and 98.9% (onnx) of the predictions, accuracy 0.9225 / 0.922
# (fp32 0.9255), at 3.0x / 2.9x texts/s (batch 32) and 2.4x / 4.3x batch-1 latency in a quiet cold main
# job, onnx-int8 a quarter of the size. The torch-int8 agreement gate leaves a point for other CPUs'
# int8 kernels; the speed gates only ask int8 not to be slower: without VNNI (AVX2 only) onnx-int8
# measured 1.21x at batch 32, too close to any higher bar for a gate that must not flake.
RUNTIMES = {"finetune": ["torch-fp32", "torch-bf16", "torch-int8", "onnx-fp32", "onnx-int8"]}
RUNTIME_GATES = {
    "onnx-fp32": {"agreement": 0.999, "max_proba_diff": 1e-4},
    "onnx-int8": {"agreement": 0.97, "speedup": 1.0, "latency_speedup": 2.0},
    "torch-int8": {"agreement": 0.965, "speedup": 1.0},
}
# Below suites/baselines/emotion.json: the book's recipe lands in 0.92-0.94 across machines. A VM's
# CPU reads just "AMD EPYC": the speed ratio may drop to 60% (a 2x slower model measured 51%).
TIMING_TOLERANCE = 0.4
BASELINE_TOLERANCE = {"accuracy": 0.02, "f1_weighted": 0.02, "f1_macro": 0.03}


def test_quality(evaluation, gate):
    gate(evaluation)


@pytest.mark.parametrize("checkpoint", [PUBLISHED], indirect=True)
@pytest.mark.parametrize("approach", [approach_spec("pretrained")], indirect=True, ids=str)
def test_published_classifier(evaluation, gate):
    gate(evaluation, accuracy=0.92, f1_weighted=0.92)
