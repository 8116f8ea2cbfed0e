"""Zero-shot classification: no training example is used, only the label names (or descriptions).

``zero-shot`` embeds each label's text and each input with the checkpoint's encoder (pooled last
hidden state, shared with ``features-logreg``) and turns the cosine similarities into probabilities
with a softmax at ``temperature``. ``zero-shot-nli`` runs transformers' ``zero-shot-classification``
pipeline: each label becomes a hypothesis ("This example is {label}.") scored by an NLI head; a
checkpoint without an entailment label is skipped with the reason.
"""

from __future__ import annotations

import numpy as np

from ...errors import NotApplicable
from ..runtime import Runtime
from .base import Approach
from .features import POOLINGS, HiddenStateExtractor
from .registry import ApproachError, register_approach


def label_texts(labels, descriptions: dict | None, approach: str) -> list[str]:
    """The text that stands for each label: its description when given, else its name."""
    if descriptions is None:
        return [str(name) for name in labels]
    missing = [name for name in labels if name not in descriptions]
    if missing:
        raise ApproachError(
            f"approach {approach!r}: descriptions has no entry for label(s) {missing}; expected one per "
            f"label of {list(labels)}"
        )
    texts = [str(descriptions[name]) for name in labels]
    repeated = sorted({text for text in texts if texts.count(text) > 1})
    if repeated:
        raise ApproachError(
            f"approach {approach!r}: descriptions repeat {repeated}; expected one text per label"
        )
    return texts


def cosine_softmax(texts: np.ndarray, labels: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax over labels of cosine(text, label) / temperature, one row per text."""

    def unit(rows: np.ndarray) -> np.ndarray:
        rows = rows.astype(np.float64)
        return rows / np.clip(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12, None)

    logits = unit(texts) @ unit(labels).T / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


@register_approach("zero-shot")
class ZeroShot(Approach):
    """Cosine similarity between the embedding of a text and of each label's name or description.

    ``descriptions``: ``{label: text}`` for every label (default: the label names themselves);
    ``temperature`` sharpens (small) or flattens (large) the probabilities, not their order.
    """

    min_train_classes = 0  # nothing is trained
    learning_curve = False
    zero_shot = True
    runs_model = False  # the texts' embeddings come from the extraction pairs of the run share (and cache)
    no_model_reason = "compares embeddings the feature extraction shares with other pairs"

    def __init__(self, checkpoint=None, descriptions=None, temperature=0.05, pooling="mean", max_length=None):
        self.checkpoint = checkpoint
        self.descriptions = descriptions
        self.temperature = temperature
        self.pooling = pooling
        self.max_length = max_length

    def fit(self, X=None, y=None, *, runtime=None, labels=(), eval_set=None):
        """Embed the labels' texts; ``X`` and ``y`` are not used."""
        if not self.temperature > 0:
            raise ApproachError(
                f"approach 'zero-shot': temperature {self.temperature!r}; expected a number > 0"
            )
        if self.pooling not in POOLINGS:
            raise ApproachError(f"approach 'zero-shot': pooling {self.pooling!r}; expected one of {POOLINGS}")
        self.label_texts_ = label_texts(labels, self.descriptions, "zero-shot")
        self.extractor_ = HiddenStateExtractor.shared(self.checkpoint, runtime or Runtime(), self.max_length)
        self.label_embeddings_ = self.extractor_.transform(self.label_texts_, self.pooling)
        return self

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        extractor = self.extractor_
        if runtime is not None and runtime.settings() != extractor.runtime.settings():
            extractor = HiddenStateExtractor.shared(self.checkpoint, runtime, self.max_length)
        return cosine_softmax(extractor.transform(X, self.pooling), self.label_embeddings_, self.temperature)


def entailment_index(id2label: dict) -> int | None:
    """The output index whose label name starts with ``entail`` (case-insensitive), or None."""
    found = [int(i) for i, name in id2label.items() if str(name).lower().startswith("entail")]
    return found[0] if len(found) == 1 else None


@register_approach("zero-shot-nli")
class ZeroShotNLI(Approach):
    """transformers' ``zero-shot-classification`` pipeline over an NLI checkpoint.

    Each label's text (its name, or ``descriptions[label]``) fills ``hypothesis_template``; the
    probabilities are the softmax of the entailment logits over the labels.
    """

    min_train_classes = 0  # nothing is trained
    learning_curve = False
    zero_shot = True

    def __init__(
        self, checkpoint=None, descriptions=None, hypothesis_template="This example is {}.", max_length=None
    ):
        self.checkpoint = checkpoint
        self.descriptions = descriptions
        self.hypothesis_template = hypothesis_template
        self.max_length = max_length

    def fit(self, X=None, y=None, *, runtime=None, labels=(), eval_set=None):
        """Load the NLI head; a checkpoint without an entailment label is not applicable (skipped)."""
        from transformers import AutoModelForSequenceClassification, pipeline

        id2label = self.checkpoint.config().get("id2label") or {}
        if entailment_index(id2label) is None:
            found = f"id2label {sorted(map(str, id2label.values()))}" if id2label else "no id2label"
            raise NotApplicable(
                f"checkpoint {self.checkpoint.id!r} has no entailment head (config.json: {found}); "
                "zero-shot-nli needs an NLI checkpoint"
            )
        runtime = runtime or Runtime()
        self.label_texts_ = label_texts(labels, self.descriptions, "zero-shot-nli")
        model = self.checkpoint.load_model(AutoModelForSequenceClassification)
        tokenizer = self.checkpoint.load_tokenizer()
        if self.max_length:
            tokenizer.model_max_length = self.max_length
        self.pipeline_ = pipeline(
            "zero-shot-classification", model=model, tokenizer=tokenizer, device=runtime.torch_device()
        )
        return self

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        runtime = runtime or Runtime()
        column = {text: i for i, text in enumerate(self.label_texts_)}
        outputs = self.pipeline_(
            list(X),
            candidate_labels=self.label_texts_,
            hypothesis_template=self.hypothesis_template,
            batch_size=runtime.batch_size,
        )
        proba = np.zeros((len(X), len(self.label_texts_)))
        for row, output in enumerate(outputs if isinstance(outputs, list) else [outputs]):
            for text, p in zip(output["labels"], output["scores"], strict=True):
                proba[row, column[text]] = p
        return proba
