"""Scoring a checkpoint that already has a classification head; labels are mapped by name."""

from __future__ import annotations

import numpy as np

from ...errors import HarnessError
from ..inference import class_probabilities
from ..runtime import Runtime
from .base import Approach
from .registry import register_approach


class LabelMismatch(HarnessError, ValueError):
    """The head's ``id2label`` does not name the dataset's labels."""


def head_columns(id2label: dict, labels, checkpoint_id: str) -> list[int]:
    """For each dataset label (in order), the head's output index with that name (case-insensitive)."""
    head = {str(name).lower(): int(index) for index, name in id2label.items()}
    wanted = [str(name).lower() for name in labels]
    if sorted(head) != sorted(wanted):
        raise LabelMismatch(
            f"checkpoint {checkpoint_id!r}: head labels {sorted(head)} do not match the dataset's "
            f"{sorted(wanted)}"
        )
    return [head[name] for name in wanted]


@register_approach("pretrained")
class Pretrained(Approach):
    min_train_classes = 0  # nothing is trained
    learning_curve = False
    deployment_graph = "classification-head"

    def __init__(self, checkpoint=None, max_length=None):
        self.checkpoint = checkpoint
        self.max_length = max_length

    def fit(self, X=None, y=None, *, runtime=None, labels=(), eval_set=None):
        """Nothing is trained: load the head and map its labels onto the dataset's."""
        from transformers import AutoModelForSequenceClassification

        runtime = runtime or Runtime()
        self.tokenizer_ = self.checkpoint.load_tokenizer()
        model = self.checkpoint.load_model(AutoModelForSequenceClassification)
        self.model_ = model.to(runtime.torch_device()).eval()
        self.columns_ = head_columns(self.model_.config.id2label, labels, self.checkpoint.id)
        return self

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        runtime = runtime or Runtime()
        proba = class_probabilities(
            self.model_,
            self.tokenizer_,
            X,
            runtime.batch_size,
            runtime.torch_device(),
            self.max_length,
            progress=f"predict {self.checkpoint.short_name}",
            dtype=runtime.dtype,
        )
        return proba[:, self.columns_]
