"""Batched forward passes: tokenize once, sort by length, pad each batch to its own longest text.

A text longer than ``max_length`` × :data:`CHARS_PER_TOKEN` characters is tokenized through a prefix
(:func:`bounded_texts`): a multi-megabyte text costs what a few thousand characters cost, gives the
same truncated tokens, and is still counted as truncated. Shorter texts are tokenized whole.

Compute dtypes: ``fp32`` (default), ``bf16`` and ``fp16`` run the forward passes under
``torch.autocast`` (matrix products in the low-precision type, reductions such as layer norm and
softmax kept in fp32); the weights stay fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .budget import timed
from ..errors import HarnessError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# x86 instructions that run each low-precision type natively (oneDNN emulates it, slowly, without them)
CPU_FLAGS = {"bf16": {"avx512_bf16", "amx_bf16"}, "fp16": {"avx512_fp16", "amx_fp16"}}


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo; None where there is no such file."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


NUMERIC_FLAGS = ("avx", "amx", "fma", "f16c")  # CPU flags of the vector and matrix units that compute


def instruction_set(device: torch.device) -> list[str]:
    """What computes results on ``device``, as cache keys name it: the GPU's name on CUDA, else the
    CPU's vector and matrix flags (:func:`cpu_flags`): bf16 and int8 kernels round differently
    elsewhere, and fp32 ones sum in another order."""
    if device.type == "cuda":
        return [torch.cuda.get_device_name(device)]
    return sorted(flag for flag in cpu_flags() or () if flag.startswith(NUMERIC_FLAGS))


def onednn_native(dtype: str) -> bool:
    """oneDNN's answer: whether it has native ``dtype`` (``bf16``/``fp16``) kernels on this CPU."""
    if not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    return bool({"bf16": ops._is_mkldnn_bf16_supported, "fp16": ops._is_mkldnn_fp16_supported}[dtype]())


def dtype_supported(dtype: str, device: torch.device) -> bool:
    """Whether ``device`` runs ``dtype`` natively (on CPU: oneDNN support and the matching instructions).

    The machine is asked through :func:`cpu_flags` and :func:`onednn_native` only (tests simulate other
    CPUs by answering these two)."""
    if dtype == "fp32":
        return True
    if device.type == "cuda":
        return dtype == "fp16" or torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    flags = cpu_flags()
    return onednn_native(dtype) and (flags is None or bool(CPU_FLAGS[dtype] & flags))


class DtypeUnsupported(HarnessError, ValueError):
    """A dtype that is unknown, or that the device cannot run natively (one line, as every run shows it)."""


def check_dtype(dtype: str, device: torch.device) -> None:
    """Raise :class:`DtypeUnsupported` for an unknown dtype or one that ``device`` cannot run fast."""
    if dtype not in DTYPES:
        raise DtypeUnsupported(f"dtype {dtype!r}: expected one of {sorted(DTYPES)}")
    if not dtype_supported(dtype, device):
        raise DtypeUnsupported(f"dtype {dtype!r} is not supported on {device} here; use fp32")


def autocast(dtype: str, device: torch.device):
    """The context a forward pass in ``dtype`` runs in: nothing for fp32, else ``torch.autocast``.

    Enter it once around all batches: autocast keeps the low-precision copies of the weights
    until the outermost context exits.
    """
    check_dtype(dtype, device)
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[dtype])


def model_max_length(tokenizer, max_position_embeddings: int | None) -> int:
    """The longest input the model takes: the tokenizer's limit capped by the position table."""
    limit = max_position_embeddings or 512
    declared = getattr(tokenizer, "model_max_length", None)
    if declared and declared < 100_000:  # tokenizers without a limit report ~1e30
        limit = min(limit, declared)
    return int(limit)


CHARS_PER_TOKEN = 64  # a text over max_length × this many characters is tokenized through a prefix


def _prefix(text: str, limit: int) -> str:
    """``text[:limit]``, ending before its last space, tab or line break in the second half: no word is
    cut in two, unless the second half is one word."""
    head = text[:limit]
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return head[:cut] if cut > limit // 2 else head


def bounded_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[str]:
    """``texts``, each long one replaced by a prefix that already has more than ``max_length`` tokens.

    A prefix cut between words has no more tokens than the text, and the same first ones: tokenizing
    it with truncation gives the text's own truncated tokens. The prefix starts at ``max_length`` ×
    :data:`CHARS_PER_TOKEN` characters and doubles while it has too few tokens (a text of mostly
    spaces), up to the whole text. Texts no longer than that are returned as they are.
    """
    out = list(texts)
    for i, text in enumerate(out):
        limit = max_length * CHARS_PER_TOKEN
        while limit < len(text):
            prefix = _prefix(text, limit)
            if len(tokenizer([prefix], truncation=False, verbose=False)["input_ids"][0]) > max_length:
                out[i] = prefix
                break
            limit *= 2
    return out


@dataclass
class Encoded:
    """Token ids per text (unpadded) and how many texts were truncated."""

    input_ids: list[list[int]]
    n_truncated: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def first_of_each_length(self) -> list[int]:
        """The index of the first text of each token length, in order: at batch 1 every shape a pass
        over these texts runs, once (a warm-up)."""
        return sorted(np.unique(self.lengths, return_index=True)[1].tolist())


@timed("tokenization")
def encode(tokenizer, texts: Sequence[str], max_length: int) -> Encoded:
    """Tokenize without padding; count the texts longer than ``max_length`` (long ones by a prefix)."""
    texts = bounded_texts(tokenizer, texts, max_length)
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
    lengths = np.fromiter(map(len, input_ids), dtype=np.int64, count=len(input_ids))
    mask = np.arange(lengths.max()) < lengths[:, None]
    ids = np.full(mask.shape, pad_id, dtype=np.int64)
    ids[mask] = np.fromiter((i for seq in input_ids for i in seq), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))


def forward_batches(
    model,
    encoded: Encoded,
    pad_id: int,
    batch_size: int,
    device: torch.device,
    step: Callable[[object, torch.Tensor], dict[str, torch.Tensor]],
    progress: str | None = None,
    dtype: str = "fp32",
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Run ``model`` over length-sorted batches in ``dtype``; yield (original indices, ``step`` outputs)."""
    from tqdm.auto import tqdm

    batches = length_sorted_batches(encoded.lengths, batch_size)
    model.eval()
    with torch.inference_mode(), autocast(dtype, device):
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


def softmax(outputs, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Class probabilities from a classification head's logits (the inference step)."""
    return {"proba": torch.softmax(outputs.logits.float(), dim=-1)}


def class_probabilities(
    model,
    tokenizer,
    texts: Sequence[str],
    batch_size: int,
    device: torch.device,
    max_length: int | None = None,
    progress: str | None = None,
    dtype: str = "fp32",
) -> np.ndarray:
    """Softmax of a classification head over ``texts``, in their original order."""
    encoded = encode(
        tokenizer, texts, max_length or model_max_length(tokenizer, model.config.max_position_embeddings)
    )
    batches = forward_batches(
        model, encoded, pad_token_id(tokenizer), batch_size, device, softmax, progress, dtype
    )
    return collect(batches, len(encoded.input_ids))["proba"]
