"""Fine-tuning a sequence-classification head with ``transformers.Trainer``.

Defaults are the book's recipe: 2 epochs, lr 2e-5, batch 64, weight decay 0.01, evaluate every
epoch on ``eval_set`` and keep the best epoch (by accuracy). Batches are padded dynamically.
A runtime dtype ``bf16``/``fp16`` trains with mixed precision (``TrainingArguments(bf16=True)`` /
``fp16=True``: autocast, fp32 master weights) and predicts under the same autocast; the runtime's
batch size is the prediction batch size. The trained model is cached (safetensors) and kept as a plain
fp32 model whatever the training dtype: the dtype is a run setting, never part of the fitted model.

Under ``torchrun`` / ``accelerate launch`` every process trains the one model (``batch_size`` per
process) and keeps the same epoch: the best epoch's weights are kept in memory, not in a Trainer
checkpoint that only process 0 would write, in its own temporary directory.

On CPU (``cpu_kernels=True``, the default) training swaps in a cheaper dropout and an eager attention
with it (softmax in fp32), keeps the heap between steps and keeps embedding gradients in a buffer
re-zeroed by rows (:mod:`.cpu_training`: same keep-mask statistics, ``p`` quantized to 2⁻¹⁶; in fp32
everything else bit for bit stock): a fifth to a quarter off a MiniLM step. The fitted model has its
stock modules and attention back. CUDA trains stock.
``torch.compile`` does not pay here: with the dynamic shapes of padded batches it compiled for 98 s
and then ran a CPU step slower (0.93 s vs 0.25 s), so it is not used.
"""

from __future__ import annotations

import numpy as np

from ..cache import examples_digest
from ..inference import bounded_texts, class_probabilities, model_max_length
from ..runtime import Runtime
from ..scratch import scratch_dir
from .base import Approach
from .cpu_training import KERNELS, cpu_training_kernels
from .registry import register_approach


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



@register_approach("finetune")
class FineTune(Approach):
    deployment_graph = "sequence-classifier"
    export_format = "classifier"

    def __init__(
        self,
        checkpoint=None,
        num_train_epochs=2,
        learning_rate=2e-5,
        batch_size=64,
        weight_decay=0.01,
        group_by_length=False,
        max_length=None,
        seed=42,
        training_args=None,
        cpu_kernels=True,
    ):
        self.checkpoint = checkpoint
        self.num_train_epochs = num_train_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.group_by_length = group_by_length
        self.max_length = max_length
        self.seed = seed
        self.training_args = training_args
        self.cpu_kernels = cpu_kernels

    def _tokenized(self, texts, labels):
        import datasets

        texts = bounded_texts(self.tokenizer_, texts, self.max_length_)  # a huge text: a prefix of it
        data = datasets.Dataset.from_dict({"text": texts, "label": list(map(int, labels))})
        return data.map(
            lambda batch: self.tokenizer_(batch["text"], truncation=True, max_length=self.max_length_),
            batched=True,
            remove_columns=["text"],
        )

    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        import torch
        from transformers import AutoModelForSequenceClassification

        runtime = runtime or Runtime()
        self.labels_ = list(labels) or [str(i) for i in range(int(np.max(y)) + 1)]
        self.device_ = runtime.torch_device()
        self.tokenizer_ = self.checkpoint.load_tokenizer()
        self.max_length_ = self.max_length or model_max_length(
            self.tokenizer_, self.checkpoint.config().get("max_position_embeddings")
        )
        parts = {
            "params": self.hyperparameters(),
            "labels": self.labels_,
            "checkpoint": self.checkpoint.fingerprint(),
            "train": examples_digest(X, y),
            "eval": examples_digest(*eval_set) if eval_set is not None else None,
            "kernels": KERNELS if self._fast_kernels() else "stock",  # a new kernel: a new cache entry
        }

        def train():
            model, history, throughput = self._train(X, y, eval_set, runtime)
            return model, {"history": history, "training": throughput}

        model, meta, _ = runtime.cached(
            "finetune",
            parts,
            train,
            save=lambda model, directory: model.save_pretrained(directory),
            load=lambda directory: AutoModelForSequenceClassification.from_pretrained(
                directory, trust_remote_code=False, dtype=torch.float32
            ),
            meta_keys=("history",),
        )
        self.history_ = meta["history"]
        self.training_throughput_ = meta.get("training")
        self.model_ = model.to(self.device_).eval()
        return self

    def _fast_kernels(self) -> bool:
        return self.cpu_kernels and self.device_.type == "cpu"

    def _train(self, X, y, eval_set, runtime: Runtime):
        """Fine-tune a fresh head on (X, y); return the (best) model, the per-epoch log and the
        training-throughput record (:class:`~harness.engine.timing.training.TrainingMeter`)."""
        from transformers import (
            AutoModelForSequenceClassification,
            DataCollatorWithPadding,
            Trainer,
            TrainingArguments,
            set_seed,
        )

        from ..timing.training import TrainingMeter

        set_seed(self.seed)
        labels = self.labels_
        model = self.checkpoint.load_model(
            AutoModelForSequenceClassification,
            new_head=True,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
        best = _best_epoch_keeper()
        meter = TrainingMeter(DataCollatorWithPadding(self.tokenizer_), self.device_, runtime.dtype)
        kernels = cpu_training_kernels(model, enabled=self._fast_kernels())
        with scratch_dir("finetune") as output_dir, kernels:  # removed on every exit path, even a kill
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
                bf16=runtime.dtype == "bf16",
                fp16=runtime.dtype == "fp16",
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
                data_collator=meter,
                compute_metrics=_accuracy,
                callbacks=[best, meter.callback()],
            )
            trainer.train()
            throughput = meter.throughput(trainer.model, trainer.state.global_step)
            if best.weights is not None:
                trainer.model.load_state_dict(best.weights)
            # mixed precision wraps the model's forward in autocast for good: unwrapped, the model is
            # plain fp32 again, and how it runs later is the caller's runtime's business
            model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False).float()
        history = [entry for entry in trainer.state.log_history if "epoch" in entry]
        return model, history, throughput

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        runtime = runtime or Runtime()
        return class_probabilities(
            self.model_,
            self.tokenizer_,
            X,
            runtime.batch_size,
            self.device_,
            self.max_length_,
            progress=f"predict {self.checkpoint.short_name}",
            dtype=runtime.dtype,
        )
