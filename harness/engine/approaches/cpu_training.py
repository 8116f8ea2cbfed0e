"""Cheaper dropout, attention and memory reuse for fine-tuning on CPU, for training only.

torch's CPU dropout draws its keep-mask with ``bernoulli_`` (one Mersenne-Twister draw per element),
and CPU SDPA falls back to its slow math path whenever attention dropout is on: together about a
fifth of a MiniLM training step. And glibc hands a step's freed memory back to the kernel, so the next
step page-faults it in again. For the duration of a fine-tune, :func:`cpu_training_kernels` swaps in a
dropout whose keep-mask compares 16-bit uniforms (four per 64-bit PCG64 draw, seeded from torch's
generator, so ``set_seed`` makes it reproducible) with ``p`` quantized to a multiple of 2⁻¹⁶
(``0.1`` → 6554/65536 = 0.100006), kept values scaled by ``1/(1 - p_quantized)``: the same Bernoulli
keep-mask statistics as torch's. Attention runs eagerly with that dropout while training (the
``"harness_cpu_training"`` implementation of transformers' ``AttentionInterface``) and through SDPA
otherwise, glibc keeps freed memory (:func:`retained_heap`), and embedding tables keep their gradient
in one buffer re-zeroed by rows (:class:`RowGradient`). On exit the model has its own dropout modules,
attention implementation and embeddings back: nothing of this reaches a saved model or its config.
In fp32 every one of these computes the same numbers as stock torch given the same keep-masks; under
bf16 autocast the attention's two products run in bf16 and its softmax in fp32.
"""

from __future__ import annotations

import ctypes
import os
import sys
from contextlib import contextmanager

import numpy as np
import torch

ATTENTION = "harness_cpu_training"
KERNELS = "fast-dropout-3"  # names this module's kernels in the fine-tune's cache key: change it with them
UNIFORMS = 1 << 16  # the keep-mask's resolution: p is a multiple of 1/65536
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
RETAINED_BYTES = 1 << 30  # freed memory glibc keeps while training (it returns on exit)


def quantized(p: float) -> float:
    """The drop probability the mask actually uses: ``p`` rounded to a multiple of 2⁻¹⁶."""
    return round(p * UNIFORMS) / UNIFORMS


def keep_mask(shape, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A boolean mask, True with probability ``1 - quantized(p)`` per element, independently."""
    count = int(np.prod(shape))
    seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))  # torch's generator: set_seed decides
    raw = np.random.PCG64(seed).random_raw(-(-count // 4))  # four 16-bit uniforms per 64-bit draw
    uniforms = raw.view(np.int16)[:count]  # uniform over [-32768, 32767]; numpy compares 2x faster
    return torch.from_numpy(uniforms >= round(p * UNIFORMS) - UNIFORMS // 2).view(shape).to(device)


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``torch.nn.functional.dropout`` with the cheaper keep-mask (and ``p`` quantized, see module):
    ``x`` times a mask of ``1/(1 - p)`` and ``0`` in ``x``'s dtype, which the backward pass reuses.

    The mask becomes those values through its bytes (``uint8`` → ``x.dtype``, times the scale): on CPU
    torch converts and selects from ``bool`` tensors element by element, 4-5x slower (``torch.where``:
    0.29 ms for a MiniLM hidden state, against 0.06 ms)."""
    if not training or p == 0.0:
        return x
    p = quantized(p)
    if p >= 1.0:
        return x * 0.0
    keep = keep_mask(x.shape, p, x.device).view(torch.uint8)
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


class FastDropout(torch.nn.Dropout):
    """An ``nn.Dropout`` with the cheaper keep-mask (a subclass: code that looks for dropouts finds it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention with the cheaper dropout while training; SDPA when there is no dropout."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not module.training or dropout == 0.0:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=0.0, scaling=scaling, **kwargs
        )
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scaling, key.transpose(2, 3))
    if attention_mask is not None:
        scores = scores + attention_mask
    # softmax in fp32 (torch's bf16 softmax over rows as short as a tweet's is 4x slower), dropped in
    # the dtype the next product runs in (bf16 under autocast): half the memory traffic
    weights = fast_dropout(torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype), dropout)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(ATTENTION, attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, eager_mask)  # additive float mask: eager and SDPA


def _glibc():
    """The C library when it is glibc (``mallopt``, ``malloc_trim``), else None (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextmanager
def retained_heap():
    """While inside, glibc keeps freed memory for the next allocation instead of handing it back to the
    kernel: a training step frees and re-allocates its activations and gradients (the word embeddings'
    alone are 47 MB for MiniLM), and every fresh page is a page fault (18k per MiniLM step, 21 ms of
    system time; 3k and 4 ms inside). On exit the thresholds become the ceilings glibc's own adaptive
    ones reach (32 MB mmap, 64 MB trim) and the kept memory goes back."""
    libc = _glibc()
    if libc is None:
        yield
        return
    if not libc.mallopt(M_MMAP_THRESHOLD, RETAINED_BYTES // 4):
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # a glibc that caps the threshold: the cap
    libc.mallopt(M_TRIM_THRESHOLD, RETAINED_BYTES)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
        libc.malloc_trim(0)


class RowGradient:
    """An ``nn.Embedding`` whose weight gradient lives in one dense buffer that is re-zeroed by rows.

    Stock, every backward pass allocates and zero-fills a dense gradient the size of the table
    (MiniLM's word embeddings: 47 MB, 7 ms a step, of which about 1 ms is writing and the rest
    first-touch of fresh memory) to fill the few hundred rows the batch used. Here the embedding
    computes its sparse gradient; once autograd has stored it, :meth:`_densify` writes it into the
    buffer, after zeroing the rows the previous step wrote, and makes the buffer the weight's
    ``grad``: the same dense tensor the optimizer, clipping and gradient accumulation expect.
    """

    def __init__(self, embedding: torch.nn.Embedding):
        self.embedding, self.weight = embedding, embedding.weight
        self.buffer: torch.Tensor | None = None
        self.written: torch.Tensor | None = None  # rows of the buffer that may be non-zero
        self.pending: list[torch.Tensor] = []  # rows of the gradients since the last _densify
        embedding.sparse = True
        self.handles = [
            self.weight.register_hook(self._seen),
            self.weight.register_post_accumulate_grad_hook(self._densify),
        ]

    @staticmethod
    def applies(module: torch.nn.Module) -> bool:
        return (
            type(module) is torch.nn.Embedding
            and module.weight.requires_grad
            and not module.sparse
            and module.max_norm is None
            and not module.scale_grad_by_freq
        )

    def _seen(self, grad: torch.Tensor) -> torch.Tensor:
        if grad.is_sparse:
            self.pending.append(grad._indices()[0])
        return grad

    def _densify(self, weight: torch.Tensor) -> None:
        rows = torch.cat(self.pending) if self.pending else None
        self.pending.clear()
        grad = weight.grad
        if grad.is_sparse:  # the first backward pass since the gradient was set to None
            if self.buffer is None:
                self.buffer = torch.zeros_like(weight)
            elif self.written is None:
                self.buffer.zero_()
            else:
                self.buffer.index_fill_(0, self.written, 0)
            self.buffer.index_add_(0, grad._indices()[0], grad._values())
            self.written = rows
            weight.grad = self.buffer
        elif grad is self.buffer and rows is not None and self.written is not None:
            self.written = torch.cat([self.written, rows])  # accumulated into the buffer by autograd
        else:  # someone else's dense gradient: the buffer's rows are unknown now
            self.written = None

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.embedding.sparse = False
        if self.weight.grad is not None and self.weight.grad is self.buffer:
            self.weight.grad = self.weight.grad.clone()  # the buffer is ours: the caller gets a copy


@contextmanager
def row_gradients(model):
    """While inside, every plain trainable ``nn.Embedding`` of ``model`` is a :class:`RowGradient`;
    not under ``torchrun`` (DDP reduces dense gradients bucket by bucket, not sparse ones)."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    tables = [] if distributed else [RowGradient(m) for m in model.modules() if RowGradient.applies(m)]
    try:
        yield
    finally:
        for table in tables:
            table.remove()


@contextmanager
def cpu_training_kernels(model, enabled: bool = True):
    """While inside, ``model`` trains with :class:`FastDropout` and, where the model dispatches its
    attention through transformers' ``AttentionInterface``, :func:`attention`, on a
    :func:`retained_heap`, with :func:`row_gradients`; all are undone on exit."""
    if not enabled:
        yield model
        return
    swapped = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is torch.nn.Dropout:
                swapped.append((parent, name, child))
    for parent, name, child in swapped:
        setattr(parent, name, FastDropout(child.p))
    previous = model.config._attn_implementation
    dispatches = getattr(model, "_supports_attention_backend", False)
    if dispatches:
        _register()
        model.set_attn_implementation(ATTENTION)
    try:
        with retained_heap(), row_gradients(model):
            yield model
    finally:
        for parent, name, child in swapped:
            child.train(getattr(parent, name).training)
            setattr(parent, name, child)
        if dispatches:
            model.set_attn_implementation(previous)
