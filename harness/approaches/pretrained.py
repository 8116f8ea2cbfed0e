"""Scoring a checkpoint that already has a classification head; labels are mapped by name."""

from __future__ import annotations

import numpy as np

from ..checkpoints import select_device
from ..inference import class_probabilities
from .base import Approach


class LabelMismatch(ValueError):
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


class Pretrained(Approach):
    name = "pretrained"
    min_train_classes = 0  # nothing is trained

    def __init__(self, checkpoint=None, labels=(), batch_size=64, max_length=None, device=None):
        self.checkpoint = checkpoint
        self.labels = labels
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device

    def fit(self, X=None, y=None, eval_set=None):
        """Nothing is trained: load the head and map its labels onto the dataset's."""
        from transformers import AutoModelForSequenceClassification

        self.device_ = select_device(self.device)
        self.tokenizer_ = self.checkpoint.load_tokenizer()
        self.model_ = self.checkpoint.load_model(AutoModelForSequenceClassification).to(self.device_)
        self.columns_ = head_columns(self.model_.config.id2label, self.labels, self.checkpoint.id)
        return self

    def predict_proba(self, X) -> np.ndarray:
        proba = class_probabilities(
            self.model_,
            self.tokenizer_,
            X,
            self.batch_size,
            self.device_,
            self.max_length,
            progress=f"predict {self.checkpoint.short_name}",
        )
        return proba[:, self.columns_]
