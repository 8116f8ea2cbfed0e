"""What a report says about the dataset: split sizes, classes, duplicates, tokens per text."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .inference import bounded_texts

MAX_DUPLICATE_EXAMPLES = 50


def dataset_overview(name: str, dataset) -> dict:
    """Split sizes, class counts and texts that appear with conflicting gold labels."""
    labels = None
    splits = {}
    seen: dict[str, list[dict]] = defaultdict(list)
    for split, data in dataset.items():
        labels = list(data.features["label"].names)
        ids = np.asarray(data["label"], dtype=int)
        counts = np.bincount(ids, minlength=len(labels))
        splits[split] = {"n": len(data), "class_counts": dict(zip(labels, map(int, counts), strict=True))}
        for text, label in zip(data["text"], ids, strict=True):
            seen[text].append({"split": split, "label": labels[label]})
    conflicting = [
        {"text": text, "labels": found}
        for text, found in seen.items()
        if len({f["label"] for f in found}) > 1
    ]
    return {
        "name": name,
        "labels": labels or [],
        "splits": splits,
        "duplicates": {
            "n_conflicting": len(conflicting),
            "examples": conflicting[:MAX_DUPLICATE_EXAMPLES],
        },
        "token_lengths": {},
    }


def box_stats(values: np.ndarray) -> dict:
    """matplotlib ``bxp`` statistics (whiskers at 1.5 IQR, clipped to the data) plus n and mean."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return {"n": 0}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "q1": float(q1),
        "med": float(med),
        "q3": float(q3),
        "max": float(values.max()),
        "whislo": float(inside.min()),
        "whishi": float(inside.max()),
    }


def token_lengths(dataset, tokenizer, max_length: int, split: str = "train") -> dict:
    """Tokens per text by class on ``split`` (the book's box plot) and texts over ``max_length`` per split.

    A very long text is measured on a prefix (``inference.bounded_texts``): its length here is over
    ``max_length`` but may be less than its full length.
    """
    n_exceeding = {}
    per_class = {}
    for name, data in dataset.items():
        texts = bounded_texts(tokenizer, data["text"], max_length)
        lengths = np.fromiter(
            (len(ids) for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]),
            dtype=np.int64,
        )
        n_exceeding[name] = int((lengths > max_length).sum())
        if name == split:
            labels = data.features["label"].names
            ids = np.asarray(data["label"], dtype=int)
            per_class = {label: box_stats(lengths[ids == i]) for i, label in enumerate(labels)}
    return {"split": split, "max_length": int(max_length), "per_class": per_class, "n_exceeding": n_exceeding}
