"""Batched forward passes: tokenize once, sort by length, pad each batch to its own longest text."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch


def model_max_length(tokenizer, max_position_embeddings: int | None) -> int:
    """The longest input the model takes: the tokenizer's limit capped by the position table."""
    limit = max_position_embeddings or 512
    declared = getattr(tokenizer, "model_max_length", None)
    if declared and declared < 100_000:  # tokenizers without a limit report ~1e30
        limit = min(limit, declared)
    return int(limit)


@dataclass
class Encoded:
    """Token ids per text (unpadded) and how many texts were truncated."""

    input_ids: list[list[int]]
    n_truncated: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def encode(tokenizer, texts: Sequence[str], max_length: int) -> Encoded:
    """Tokenize without padding; count the texts longer than ``max_length``."""
    texts = list(texts)
    full = tokenizer(texts, truncation=False, verbose=False)["input_ids"]
    long = [i for i, ids in enumerate(full) if len(ids) > max_length]
    if long:
        cut = tokenizer([texts[i] for i in long], truncation=True, max_length=max_length)["input_ids"]
        for i, ids in zip(long, cut, strict=True):
            full[i] = ids
    return Encoded(full, len(long))


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Index batches, longest texts first (a memory problem shows at once), stable order."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad(input_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the batch's longest sequence; return ids and attention mask."""
    width = max(len(ids) for ids in input_ids)
    ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for row, seq in enumerate(input_ids):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def forward_batches(
    model,
    encoded: Encoded,
    pad_id: int,
    batch_size: int,
    device: torch.device,
    step: Callable[[object, torch.Tensor], dict[str, torch.Tensor]],
    progress: str | None = None,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Run ``model`` over length-sorted batches; yield (original indices, ``step`` outputs)."""
    from tqdm.auto import tqdm

    batches = length_sorted_batches(encoded.lengths, batch_size)
    model.eval()
    with torch.inference_mode():
        for index in tqdm(batches, desc=progress, disable=progress is None, leave=False):
            ids, mask = pad([encoded.input_ids[i] for i in index], pad_id)
            ids, mask = ids.to(device), mask.to(device)
            outputs = model(input_ids=ids, attention_mask=mask)
            yield index, {k: v.float().cpu().numpy() for k, v in step(outputs, mask).items()}


def collect(batches: Iterator[tuple[np.ndarray, dict[str, np.ndarray]]], n: int) -> dict[str, np.ndarray]:
    """Put batch outputs back in the original text order."""
    out: dict[str, np.ndarray] = {}
    for index, values in batches:
        for key, value in values.items():
            if key not in out:
                out[key] = np.empty((n, *value.shape[1:]), dtype=np.float32)
            out[key][index] = value
    return out


def pad_token_id(tokenizer) -> int:
    if tokenizer.pad_token_id is None:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no pad token; set tokenizer.pad_token")
    return tokenizer.pad_token_id


def _softmax(outputs, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"proba": torch.softmax(outputs.logits.float(), dim=-1)}


def class_probabilities(
    model,
    tokenizer,
    texts: Sequence[str],
    batch_size: int,
    device: torch.device,
    max_length: int | None = None,
    progress: str | None = None,
) -> np.ndarray:
    """Softmax of a classification head over ``texts``, in their original order."""
    encoded = encode(
        tokenizer, texts, max_length or model_max_length(tokenizer, model.config.max_position_embeddings)
    )
    batches = forward_batches(model, encoded, pad_token_id(tokenizer), batch_size, device, _softmax, progress)
    return collect(batches, len(encoded.input_ids))["proba"]
