"""Speed measurement: throughput and per-batch latency of feature extraction and inference.

A pass runs a model over texts the way the harness does (tokenize, length-sorted batches padded to
their own longest text, ``inference_mode``); :class:`BatchTimer` times every batch of every pass,
tokenization apart from the forward passes, synchronizing CUDA so GPU timings are real. Its
:meth:`~BatchTimer.record` is a timing record (docs/results.md): texts/s and tokens/s, latency
percentiles per batch, peak memory, the dtype, and a GEMM peak measured in the same process as the
yardstick (``normalized_throughput``) that makes runs on different machines comparable.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..approaches.features import pool
from ..inference import (
    DTYPES,
    Encoded,
    check_dtype,
    dtype_supported,
    encode,
    forward_batches,
    model_max_length,
    pad_token_id,
    softmax,
)

TASKS = {"extraction": pool, "inference": softmax}  # hidden states (pooled) / class probabilities
PERCENTILES = (50, 90, 95, 99)
SWEEP_BATCH_SIZES = (1, 8, 32, 64, 128)
_GEMM_PEAKS: dict[tuple[str, str], float] = {}
PEAK_GROUP_S = 0.02  # one timed group of the GEMM peak lasts at least this (seconds)...
PEAK_SECONDS = 0.3  # ...and groups run for at least this long


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously); nothing to do on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """``{"p50": …, "p90": …, "p95": …, "p99": …}`` of the samples (linear interpolation)."""
    values = np.percentile(np.asarray(samples_ms, dtype=np.float64), PERCENTILES)
    return {f"p{q}": float(v) for q, v in zip(PERCENTILES, values, strict=True)}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def gemm_peak_gflops(device: torch.device | str = "cpu", dtype: str = "fp32") -> float:
    """Best matrix-multiply throughput of ``device`` in ``dtype`` (GFLOP/s): :func:`measure_gemm_peak`
    once per process, the yardstick every later record of the process is compared with."""
    key = (str(torch.device(device)), dtype)
    if key not in _GEMM_PEAKS:
        _GEMM_PEAKS[key] = measure_gemm_peak(device, dtype)
    return _GEMM_PEAKS[key]


def measure_gemm_peak(device: torch.device | str = "cpu", dtype: str = "fp32") -> float:
    """One fresh reading of the GEMM peak of ``device`` in ``dtype`` (GFLOP/s).

    Square products (1024² on CPU, 4096² on GPU) in ``dtype`` itself, in groups of at least
    :data:`PEAK_GROUP_S` seconds, for at least :data:`PEAK_SECONDS` and five groups; the best group
    counts: the roof a transformer's GEMMs run against. A shared machine's speed swings by ±8% within a
    few milliseconds, so a short measurement (five groups of two products: 30 ms) could read a roof
    40% low after a busy stretch, and a fine-tune's share of it as much too high.
    """
    device = torch.device(device)
    size = 4096 if device.type == "cuda" else 1024
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device, DTYPES[dtype]) for _ in range(2))

    def group(repeats: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        return time.perf_counter() - start

    group(1)  # warm-up: kernel selection, lazy initialization
    repeats = max(1, math.ceil(PEAK_GROUP_S / max(group(1), 1e-9)))
    best, groups, started = float("inf"), 0, time.perf_counter()
    while groups < 5 or time.perf_counter() - started < PEAK_SECONDS:
        best, groups = min(best, group(repeats) / repeats), groups + 1
    return 2 * size**3 / best / 1e9


def forward_flops(model, lengths: Sequence[int]) -> float:
    """Floating-point operations of a forward pass over texts of these (unpadded) token lengths.

    Every ``Linear`` layer once per token (pooler and classifier heads, which see one vector per
    text, once per text) plus attention scores and mixing, ``4·L²·hidden`` per layer: the useful
    work, the same for every method that computes the same outputs.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    per_token = per_text = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            flops = 2 * module.in_features * module.out_features
            if any(part in name for part in ("pooler", "classifier")):
                per_text += flops
            else:
                per_token += flops
    config = model.config
    attention = 4 * float((lengths**2).sum()) * config.hidden_size * config.num_hidden_layers
    return per_token * float(lengths.sum()) + per_text * len(lengths) + attention


def speed_settings() -> list[tuple[str, str]]:
    """(device, dtype) pairs worth comparing on this machine: CPU fp32, CPU bf16 where the CPU runs it
    natively, and with CUDA fp32, fp16 and bf16 (where supported)."""
    settings = [("cpu", dtype) for dtype in ("fp32", "bf16") if dtype_supported(dtype, torch.device("cpu"))]
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        settings += [("cuda", dtype) for dtype in ("fp32", "fp16", "bf16") if dtype_supported(dtype, cuda)]
    return settings


@dataclass
class Pass:
    """The timings of one pass over the texts: seconds per tokenized chunk and per forward batch."""

    tokenize_s: list[float]
    batch_s: list[float]
    lengths: np.ndarray  # tokens per text

    @property
    def seconds(self) -> float:
        return sum(self.tokenize_s) + sum(self.batch_s)


@dataclass
class BatchTimer:
    """Calling it runs one timed pass over ``texts``; :meth:`record` summarizes the passes.

    Tokenization is timed per chunk of ``batch_size`` texts in their given order; the forward
    passes per length-sorted batch (padding, transfer, model, outputs back on the CPU). ``task``:
    ``extraction`` (pooled hidden states of an ``AutoModel``) or ``inference`` (class probabilities
    of a sequence-classification model). Usable as the function of ``benchmark.pedantic``.
    """

    model: object
    tokenizer: object
    task: str
    device: torch.device
    dtype: str = "fp32"
    batch_size: int = 32
    max_length: int | None = None
    passes: list[Pass] = field(default_factory=list)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r}: expected one of {sorted(TASKS)}")
        self.device = torch.device(self.device)
        check_dtype(self.dtype, self.device)
        self._max_length = self.max_length or model_max_length(
            self.tokenizer, self.model.config.max_position_embeddings
        )
        self._pad_id = pad_token_id(self.tokenizer)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def __call__(self, texts: Sequence[str]) -> None:
        texts = list(texts)
        tokenize_s, input_ids = [], []
        for start in range(0, len(texts), self.batch_size):
            begin = time.perf_counter()
            chunk = encode(self.tokenizer, texts[start : start + self.batch_size], self._max_length)
            tokenize_s.append(time.perf_counter() - begin)
            input_ids += chunk.input_ids
        encoded = Encoded(input_ids, n_truncated=0)
        batches = forward_batches(
            self.model,
            encoded,
            self._pad_id,
            self.batch_size,
            self.device,
            TASKS[self.task],
            dtype=self.dtype,
        )
        batch_s = []
        synchronize(self.device)
        while True:
            begin = time.perf_counter()
            if next(batches, None) is None:
                break
            synchronize(self.device)
            batch_s.append(time.perf_counter() - begin)
        self.passes.append(Pass(tokenize_s, batch_s, encoded.lengths))

    def record(self, checkpoint: str, skip: int = 0, note: str | None = None) -> dict:
        """The timing record of the passes after the first ``skip`` (warm-up) ones.

        ``texts_per_s``/``tokens_per_s`` count tokenization and forward passes; ``latency_ms`` are
        percentiles of the forward batches alone, ``tokenize_ms`` the median tokenized chunk.
        """
        passes = self.passes[skip:]
        if not passes:
            raise ValueError(f"no timed passes to summarize ({len(self.passes)} run, {skip} skipped)")
        seconds = sum(p.seconds for p in passes)
        batch_ms = [1000 * s for p in passes for s in p.batch_s]
        tokenize_ms = [1000 * s for p in passes for s in p.tokenize_s]
        texts_per_s = sum(len(p.lengths) for p in passes) / seconds
        flops = sum(forward_flops(self.model, p.lengths) for p in passes)
        reference = gemm_peak_gflops(self.device, self.dtype)
        return {
            "checkpoint": checkpoint,
            "task": self.task,
            "device": str(self.device),
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "n_texts": len(passes[0].lengths),
            "rounds": len(passes),
            "texts_per_s": texts_per_s,
            "tokens_per_s": sum(int(p.lengths.sum()) for p in passes) / seconds,
            "latency_ms": percentiles(batch_ms),
            "tokenize_ms": percentiles(tokenize_ms)["p50"],
            "peak_rss_mb": peak_rss_mb(),
            "peak_cuda_mb": torch.cuda.max_memory_allocated(self.device) / 2**20
            if self.device.type == "cuda"
            else None,
            "achieved_gflops": flops / seconds / 1e9,
            "reference_gflops": reference,
            "normalized_throughput": texts_per_s / reference,
            "note": note,
        }


def measure(
    timer: BatchTimer,
    texts: Sequence[str],
    checkpoint: str,
    rounds: int = 3,
    warmup_rounds: int = 1,
    note: str | None = None,
    deadline=None,
) -> dict:
    """Run ``warmup_rounds`` untimed and ``rounds`` timed passes over the same texts (the warm-up runs
    every shape the timed passes run); return the timing record. Past ``deadline`` (a
    :class:`~harness.engine.timing.protocol.Deadline`) no timed pass starts after the first."""
    for _ in range(warmup_rounds):
        timer(texts)
    start = len(timer.passes)
    for _ in range(rounds):
        if len(timer.passes) > start and deadline is not None and deadline.reached("timed passes"):
            break
        timer(texts)
    return timer.record(checkpoint, skip=start, note=note)


def sweep(
    model,
    tokenizer,
    texts: Sequence[str],
    checkpoint: str,
    task: str,
    device: torch.device | str,
    dtype: str = "fp32",
    batch_sizes: Sequence[int] = SWEEP_BATCH_SIZES,
    rounds: int = 1,
    warmup_rounds: int = 1,
    note: str | None = None,
) -> list[dict]:
    """One timing record per batch size, each after its own warm-up."""
    return [
        measure(
            BatchTimer(model, tokenizer, task, device, dtype, size),
            texts,
            checkpoint,
            rounds,
            warmup_rounds,
            note,
        )
        for size in batch_sizes
    ]


def add_speedups(records: list[dict]) -> list[dict]:
    """Set ``speedup_vs_cpu`` on every non-CPU record: its texts/s over the CPU fp32 record's of the
    same checkpoint, task and batch size (None when there is none)."""
    cpu = {
        (r["checkpoint"], r["task"], r["batch_size"]): r["texts_per_s"]
        for r in records
        if r["device"] == "cpu" and r["dtype"] == "fp32"
    }
    for record in records:
        if record["device"] != "cpu":
            base = cpu.get((record["checkpoint"], record["task"], record["batch_size"]))
            record["speedup_vs_cpu"] = record["texts_per_s"] / base if base else None
    return records


def load_model(checkpoint, task: str, device: torch.device | str, num_labels: int | None = None):
    """The model ``task`` times, in eval mode on ``device``: the bare encoder for extraction; for
    inference a sequence-classification model with ``num_labels`` classes (the dataset's), whose head
    is randomly initialized when the checkpoint has none of that size (the same work per text)."""
    if task != "extraction" and not num_labels:
        raise ValueError(f"timing {task}: the number of labels is needed for the classification head")
    if task == "extraction":
        model = checkpoint.load_model()
    else:
        from transformers import AutoModelForSequenceClassification

        model = checkpoint.load_model(
            AutoModelForSequenceClassification, new_head=True, num_labels=num_labels
        )
    return model.to(device).eval()


def benchmark_speed(
    benchmark,
    timer: BatchTimer,
    texts: Sequence[str],
    checkpoint: str,
    rounds: int = 3,
    warmup_rounds: int = 1,
    note: str | None = None,
) -> dict:
    """Time passes of ``timer`` over ``texts`` with pytest-benchmark's ``benchmark.pedantic`` (its
    statistics are per pass); return the timing record, also put into ``benchmark.extra_info``."""
    texts = list(texts)
    benchmark.pedantic(timer, args=(texts,), rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
    # with --benchmark-disable pedantic runs a single pass: then that pass is the record
    record = timer.record(checkpoint, skip=max(0, len(timer.passes) - rounds), note=note)
    benchmark.extra_info.update(record)
    return record
