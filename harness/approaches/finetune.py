"""Fine-tuning a sequence-classification head with ``transformers.Trainer``.

Defaults are the book's recipe: 2 epochs, lr 2e-5, batch 64, weight decay 0.01, evaluate every
epoch on ``eval_set`` and keep the best epoch (by accuracy). Batches are padded dynamically.
``dtype`` ``bf16``/``fp16`` trains with mixed precision (``TrainingArguments(bf16=True)`` /
``fp16=True``: autocast, fp32 master weights) and predicts under the same autocast.

Under ``torchrun`` / ``accelerate launch`` every process trains the one model (``batch_size`` per
process) and keeps the same epoch: the best epoch's weights are kept in memory, not in a Trainer
checkpoint that only process 0 would write, in its own temporary directory.
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np

from ..cache import cache_key, environment_parts, examples_digest
from ..checkpoints import select_device
from ..inference import check_dtype, class_probabilities, model_max_length
from .base import Approach


def _accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def _best_epoch_keeper():
    """A ``TrainerCallback`` that keeps the best epoch's weights (made here: transformers loads lazily)."""
    from transformers import TrainerCallback

    class KeepBestEpoch(TrainerCallback):
        """Keeps a copy of the weights of the epoch with the best eval accuracy (the first of equals);
        every process sees the same gathered accuracy, so every process keeps the same epoch."""

        def __init__(self):
            self.accuracy, self.weights = -1.0, None

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            if metrics["eval_accuracy"] > self.accuracy:
                self.accuracy = metrics["eval_accuracy"]
                self.weights = {
                    name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()
                }

    return KeepBestEpoch()


class FineTune(Approach):
    name = "finetune"

    def __init__(
        self,
        checkpoint=None,
        labels=(),
        num_train_epochs=2,
        learning_rate=2e-5,
        batch_size=64,
        weight_decay=0.01,
        group_by_length=False,
        max_length=None,
        seed=42,
        device=None,
        training_args=None,
        cache=None,
        dtype="fp32",
    ):
        self.checkpoint = checkpoint
        self.labels = labels
        self.num_train_epochs = num_train_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.group_by_length = group_by_length
        self.max_length = max_length
        self.seed = seed
        self.device = device
        self.training_args = training_args
        self.cache = cache
        self.dtype = dtype

    def _tokenized(self, texts, labels):
        import datasets

        data = datasets.Dataset.from_dict({"text": list(texts), "label": list(map(int, labels))})
        return data.map(
            lambda batch: self.tokenizer_(batch["text"], truncation=True, max_length=self.max_length_),
            batched=True,
            remove_columns=["text"],
        )

    def fit(self, X, y, eval_set=None):
        self.device_ = select_device(self.device)
        check_dtype(self.dtype, self.device_)
        self.tokenizer_ = self.checkpoint.load_tokenizer()
        self.max_length_ = self.max_length or model_max_length(
            self.tokenizer_, self.checkpoint.config().get("max_position_embeddings")
        )
        if self.cache is None:
            model, self.history_ = self._train(X, y, eval_set)
        else:
            model, self.history_ = self._cached_train(X, y, eval_set)
        self.model_ = model.to(self.device_).eval()
        return self

    def _cached_train(self, X, y, eval_set):
        """Train once per cache key; later runs load the saved (safetensors) model and history."""
        from transformers import AutoModelForSequenceClassification

        trained = {}

        def build(directory):
            trained["model"], history = self._train(X, y, eval_set)
            trained["model"].save_pretrained(directory)
            return {"history": history}

        directory, meta = self.cache.entry("finetune", self._cache_key(X, y, eval_set), build)
        model = trained.get("model") or AutoModelForSequenceClassification.from_pretrained(
            directory, trust_remote_code=False
        )
        return model, meta["history"]

    def _cache_key(self, X, y, eval_set) -> str:
        return cache_key(
            params={**self.hyperparameters(), "device": self.device_.type},
            labels=list(self.labels),
            checkpoint=self.checkpoint.fingerprint(),
            train=examples_digest(X, y),
            eval=examples_digest(*eval_set) if eval_set is not None else None,
            **environment_parts(),
        )

    def _train(self, X, y, eval_set):
        """Fine-tune a fresh head on (X, y); return the (best) model and the per-epoch log."""
        from transformers import (
            AutoModelForSequenceClassification,
            DataCollatorWithPadding,
            Trainer,
            TrainingArguments,
            set_seed,
        )

        set_seed(self.seed)
        labels = list(self.labels)
        model = self.checkpoint.load_model(
            AutoModelForSequenceClassification,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
        best = _best_epoch_keeper()
        output_dir = tempfile.mkdtemp(prefix="harness-finetune-")
        try:
            args = TrainingArguments(
                output_dir=output_dir,
                num_train_epochs=self.num_train_epochs,
                learning_rate=self.learning_rate,
                per_device_train_batch_size=self.batch_size,
                per_device_eval_batch_size=self.batch_size,
                weight_decay=self.weight_decay,
                eval_strategy="epoch" if eval_set is not None else "no",
                save_strategy="no",
                logging_strategy="epoch",
                # the heads' loss is a batch mean: scaling it by the number of processes (transformers'
                # default) would multiply the gradients and the logged losses by it
                average_tokens_across_devices=False,
                train_sampling_strategy="group_by_length" if self.group_by_length else "random",
                use_cpu=self.device_.type == "cpu",
                bf16=self.dtype == "bf16",
                fp16=self.dtype == "fp16",
                seed=self.seed,
                report_to="none",
                **(self.training_args or {}),
            )
            trainer = Trainer(
                model=model,
                args=args,
                train_dataset=self._tokenized(X, y),
                eval_dataset=self._tokenized(*eval_set) if eval_set is not None else None,
                processing_class=self.tokenizer_,
                data_collator=DataCollatorWithPadding(self.tokenizer_),
                compute_metrics=_accuracy,
                callbacks=[best],
            )
            trainer.train()
            if best.weights is not None:
                trainer.model.load_state_dict(best.weights)
        finally:
            shutil.rmtree(output_dir, ignore_errors=True)
        return trainer.model, [entry for entry in trainer.state.log_history if "epoch" in entry]

    def predict_proba(self, X) -> np.ndarray:
        return class_probabilities(
            self.model_,
            self.tokenizer_,
            X,
            self.batch_size,
            self.device_,
            self.max_length_,
            progress=f"predict {self.checkpoint.short_name}",
            dtype=self.dtype,
        )
