"""The same seed gives identical metrics on CPU: fine-tune a tiny model twice through the real FineTune."""

import numpy as np

from harness import Runtime, approach_spec
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine.data import load_local
from harness.engine.evaluation import evaluate

from .conftest import LABELS


def fine_tuned(dataset, checkpoint, seed: int):
    spec = approach_spec("finetune", num_train_epochs=1, learning_rate=5e-3, batch_size=16, seed=seed)
    return evaluate("tiny", "tiny-emotion", dataset, checkpoint, spec, Runtime(device="cpu"))


def losses(history: list[dict]) -> list[dict]:
    """The training log without its wall-clock entries (runtime, samples per second)."""
    return [
        {k: v for k, v in entry.items() if "runtime" not in k and "per_second" not in k} for entry in history
    ]


def test_fine_tuning_twice_with_one_seed_gives_identical_metrics(tiny_checkpoint, dataset_dir):
    dataset = load_local(dataset_dir, LABELS)
    dataset["train"] = dataset["train"].select(range(96))  # six batches an epoch: enough to diverge by seed
    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    first, second = (fine_tuned(dataset, checkpoint, seed=7) for _ in range(2))
    assert first.estimator is not second.estimator and first.estimator.seed == 7
    assert losses(first.history) == losses(second.history)
    assert np.array_equal(first.proba, second.proba)
    assert first.scored["metrics"] == second.scored["metrics"]  # accuracy, F1, their bootstrap CIs, ECE, Brier: exactly
    for part in ("calibration", "label_suspects", "worst", "best"):
        assert first.scored[part] == second.scored[part]
    other_seed = fine_tuned(dataset, checkpoint, seed=8)
    assert not np.array_equal(first.proba, other_seed.proba)  # the seed, not luck, made them equal
