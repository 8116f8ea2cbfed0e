"""The transformer part of a fitted pair, as a runtime executes it: a :class:`Graph`.

A graph is a torch module ``(input_ids, attention_mask) -> one tensor`` (a classification head's
logits, or pooled hidden states), the tokenizer and maximum length that feed it, and a ``head``
turning its outputs into class probabilities in the dataset's label order (softmax, the label
mapping of a published head, or the logistic regression of ``features-logreg``). Every runtime
runs the same graph and the same head, so they differ only in how the module is executed.

An approach names its adapter in its ``deployment_graph`` class attribute; the built-in adapters are
``sequence-classifier``, ``classification-head`` and ``pooled-features``, and :func:`register_graph`
adds another (``graph(estimator) -> Graph``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...errors import HarnessError

_ADAPTERS: dict[str, Callable] = {}
VOLATILE_CONFIG = ("dtype", "torch_dtype", "transformers_version")  # config keys a save/load round trip sets


class GraphError(HarnessError, ValueError):
    """A pair whose approach runs no transformer a deployment runtime could execute."""


class Logits(torch.nn.Module):
    """A sequence-classification model's logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class Pooled(torch.nn.Module):
    """An encoder's last hidden state, pooled as ``features-logreg`` pools it (``cls`` or ``mean``)."""

    def __init__(self, model, pooling: str):
        super().__init__()
        self.model = model
        self.pooling = pooling

    def forward(self, input_ids, attention_mask):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


@dataclass
class Graph:
    """What every runtime of a pair executes; ``model`` is the fitted Hugging Face model (fp32)."""

    model: object
    wrap: Callable[[object], torch.nn.Module]  # Hugging Face model -> the module a runtime runs
    auto_class: type  # loads ``model`` back from ``save_pretrained``
    tokenizer: object
    max_length: int
    head: Callable[
        [np.ndarray], np.ndarray
    ]  # module outputs -> class probabilities (label order, or classes_)
    output: str  # what the module returns: "logits", "pooled-cls" or "pooled-mean"

    def module(self) -> torch.nn.Module:
        return self.wrap(self.model).eval()

    def fingerprint(self) -> str:
        """sha256 of the fitted weights, the config and what the module returns: keys exported artefacts
        and runtime predictions. Not where the model was loaded from, nor the dtype it was loaded in (the
        weights say it): a fine-tuned model and the same model read back from the cache are one."""
        config = {
            key: value
            for key, value in self.model.config.to_dict().items()
            if not key.startswith("_") and key not in VOLATILE_CONFIG
        }
        digest = hashlib.sha256(self.output.encode() + b"\x00")
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        for name, tensor in sorted(self.model.state_dict().items()):
            tensor = tensor.detach().to("cpu").contiguous()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        return digest.hexdigest()


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def register_graph(kind: str):
    """Decorator: ``graph(estimator) -> Graph`` for the fitted estimators of approaches whose
    ``deployment_graph`` is ``kind``."""

    def decorate(adapter: Callable) -> Callable:
        _ADAPTERS[kind] = adapter
        return adapter

    return decorate


def graph_of(estimator, label: str) -> Graph:
    """The graph of a fitted estimator; a one-line error for an approach without one."""
    name = getattr(estimator, "name", type(estimator).__name__)
    kind = getattr(estimator, "deployment_graph", None)
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        why = "runs no transformer" if kind is None else f"names the unregistered deployment graph {kind!r}"
        raise GraphError(
            f"{label}: approach {name!r} {why}; deployment runtimes need one of {sorted(_ADAPTERS)} "
            "(its deployment_graph)"
        )
    return adapter(estimator)


def _classifier_max_length(tokenizer, model, declared: int | None) -> int:
    from ..inference import model_max_length

    return declared or model_max_length(tokenizer, model.config.max_position_embeddings)


@register_graph("sequence-classifier")
def _finetune(estimator) -> Graph:
    from transformers import AutoModelForSequenceClassification

    model = estimator.model_.eval()
    return Graph(
        model,
        Logits,
        AutoModelForSequenceClassification,
        estimator.tokenizer_,
        estimator.max_length_,
        softmax,
        "logits",
    )


@register_graph("classification-head")
def _pretrained(estimator) -> Graph:
    from transformers import AutoModelForSequenceClassification

    model = estimator.model_.eval()
    columns = list(estimator.columns_)
    return Graph(
        model,
        Logits,
        AutoModelForSequenceClassification,
        estimator.tokenizer_,
        _classifier_max_length(estimator.tokenizer_, model, estimator.max_length),
        lambda logits: softmax(logits)[:, columns],
        "logits",
    )


@register_graph("pooled-features")
def _features(estimator) -> Graph:
    from transformers import AutoModel

    checkpoint, pooling = estimator.checkpoint, estimator.pooling
    tokenizer = checkpoint.load_tokenizer()
    model = checkpoint.load_model().eval()
    return Graph(
        model,
        lambda m: Pooled(m, pooling),
        AutoModel,
        tokenizer,
        _classifier_max_length(tokenizer, model, estimator.max_length),
        estimator.classifier_.predict_proba,  # columns follow classifier_.classes_
        f"pooled-{pooling}",
    )
