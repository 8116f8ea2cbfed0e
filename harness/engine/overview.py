"""What a report says about the dataset: split sizes, classes, duplicates, tokens per text."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .inference import bounded_texts

MAX_DUPLICATE_EXAMPLES = 50
MAX_LEAKED_EXAMPLES = 10  # evaluation texts found in train, shown as examples
EXAMPLE_CHARS = 1000  # the most of one example text the overview keeps
TOKEN_BATCH = 1024  # texts tokenized at once: memory stays bounded whatever the split's size


def dataset_overview(name: str, dataset, train_split: str = "train") -> dict:
    """Split sizes, class counts, texts that appear with conflicting gold labels, label problems (classes
    without training examples, labels that differ only by case or whitespace) and evaluation texts found
    verbatim in ``train_split`` (leakage)."""
    labels = None
    splits = {}
    seen: dict[str, list[tuple[str, int]]] = defaultdict(list)  # text -> (split, label id) per occurrence
    for split, data in dataset.items():
        labels = list(data.features["label"].names)
        ids = np.asarray(data["label"], dtype=int)
        counts = np.bincount(ids, minlength=len(labels))
        splits[split] = {"n": len(data), "class_counts": dict(zip(labels, map(int, counts), strict=True))}
        for batch in data.iter(batch_size=TOKEN_BATCH):
            for text, label in zip(batch["text"], batch["label"], strict=True):
                seen[text].append((split, int(label)))
    labels = labels or []
    conflicting = [
        {"text": text, "labels": [{"split": split, "label": labels[label]} for split, label in found]}
        for text, found in seen.items()
        if len({label for _, label in found}) > 1
    ]
    return {
        "name": name,
        "labels": labels,
        "splits": splits,
        "duplicates": {
            "n_conflicting": len(conflicting),
            "examples": conflicting[:MAX_DUPLICATE_EXAMPLES],
        },
        "label_checks": label_checks(labels, splits, train_split),
        "leakage": leakage(seen, splits, train_split),
        "token_lengths": {},
    }


def label_checks(labels: list[str], splits: dict, train_split: str) -> dict:
    """Classes with examples in another split but none in ``train_split``, and groups of labels that
    differ only by case or whitespace (``joy``, ``Joy``, ``joy ``)."""
    train = splits.get(train_split, {}).get("class_counts")
    unseen = {}
    if train is not None:
        for split, info in splits.items():
            missing = [label for label, n in info["class_counts"].items() if n and not train.get(label)]
            if split != train_split and missing:
                unseen[split] = missing
    groups = defaultdict(list)
    for label in labels:
        groups[" ".join(label.split()).casefold()].append(label)
    return {"train_split": train_split, "unseen_in_train": unseen,
            "similar_labels": [group for group in groups.values() if len(group) > 1]}


def leakage(seen: dict, splits: dict, train_split: str) -> list[dict]:
    """For each other split: how many of its texts appear verbatim in ``train_split``, the share, examples."""
    if train_split not in splits:
        return []
    found = {split: [0, []] for split in splits if split != train_split}
    for text, occurrences in seen.items():
        where = [split for split, _ in occurrences]
        if train_split not in where:
            continue
        for split in found:
            n = where.count(split)
            if n:
                found[split][0] += n
                if len(found[split][1]) < MAX_LEAKED_EXAMPLES:
                    found[split][1].append(text[:EXAMPLE_CHARS])
    return [
        {"split": split, "n_leaked": n, "share": n / splits[split]["n"] if splits[split]["n"] else 0.0,
         "examples": examples}
        for split, (n, examples) in found.items()
        if n
    ]


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

    Texts are tokenized :data:`TOKEN_BATCH` at a time, so memory stays bounded on a split of any size.
    A very long text is measured on a prefix (``inference.bounded_texts``): its length here is over
    ``max_length`` but may be less than its full length.
    """
    n_exceeding = {}
    per_class = {}
    for name, data in dataset.items():
        lengths = split_lengths(data, tokenizer, max_length)
        n_exceeding[name] = int((lengths > max_length).sum())
        if name == split:
            labels = data.features["label"].names
            ids = np.asarray(data["label"], dtype=int)
            per_class = {label: box_stats(lengths[ids == i]) for i, label in enumerate(labels)}
    return {"split": split, "max_length": int(max_length), "per_class": per_class, "n_exceeding": n_exceeding}


def split_lengths(data, tokenizer, max_length: int) -> np.ndarray:
    """Tokens per text of a split, tokenized in batches of :data:`TOKEN_BATCH` texts."""
    lengths = np.empty(len(data), dtype=np.int64)
    start = 0
    for batch in data.iter(batch_size=TOKEN_BATCH):
        texts = bounded_texts(tokenizer, batch["text"], max_length)
        encoded = tokenizer(
            texts, truncation=False, verbose=False, return_attention_mask=False, return_token_type_ids=False
        )["input_ids"]
        lengths[start : start + len(texts)] = [len(ids) for ids in encoded]
        start += len(texts)
    return lengths
