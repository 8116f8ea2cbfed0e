"""Typed runtime records: a fitted pair executed by one deployment runtime (docs/results.md: Runtime record).

A record says what was run (``runtime``: ``torch-fp32``, ``torch-int8``, ``onnx-int8``, …; its
backend, dtype and device), what it scored on the evaluation split, how far it is from the
``torch-fp32`` reference of the same pair measured in the same process, what it costs (size on
disk, parameters, memory, load time) and how fast it is. A runtime that could not run here is a
``skipped`` record with the reason and no numbers.
"""

from __future__ import annotations

from typing import Literal

from .types import Count, Model, Number, Share, Status

REFERENCE = "torch-fp32"  # what every runtime of a pair is compared with


class RuntimeGate(Model):
    """One gate of a runtime: ``value`` must be at least (``min``) or at most (``max``) ``limit``."""

    metric: str
    bound: Literal["min", "max"]
    limit: Number
    value: Number
    passed: bool


class RuntimeRecord(Model):
    """One (checkpoint, approach, runtime) of a suite run."""

    suite: str
    checkpoint: str
    approach: str  # approach id
    runtime: str
    status: Status
    reason: str | None = None
    backend: str | None = None  # torch | onnxruntime
    dtype: str | None = None  # fp32 | bf16 | fp16 | int8
    device: str | None = None
    provider: str | None = None  # ONNX Runtime execution provider
    split: str | None = None
    n_examples: Count | None = None
    batch_size: Count | None = None
    accuracy: Share | None = None
    f1_weighted: Share | None = None
    accuracy_drop: Number | None = None  # reference accuracy minus this runtime's
    agreement: Share | None = None  # share of predictions identical to the reference's
    max_proba_diff: Number | None = None  # max |Δ probability| against the reference
    size_mb: Number | None = None  # the artefact on disk, MiB
    n_parameters: Count | None = None
    latency_ms: dict[str, Number] = {}  # batch 1, per text end to end: p50, p95
    texts_per_s: Number | None = None  # at batch_size, tokenization included
    speedup: Number | None = None  # texts_per_s over the reference's
    latency_speedup: Number | None = None  # reference p50 latency over this one's
    peak_memory_mb: Number | None = None  # resident memory added by loading and running it, MiB
    load_s: Number | None = None  # from the artefact on disk to a ready model
    export_s: Number | None = None  # building the artefact (ONNX export, quantization); null for torch
    artefact_cached: bool | None = None
    predictions_cached: bool = False  # scores and peak memory are those of the run that predicted
    rounds: Count | None = None
    gates: list[RuntimeGate] = []
    contention: dict | None = None  # over the timing rounds: {seen, runqueue_wait_share, threshold}
    capped: str | None = None  # why fewer timing rounds ran than asked (the time limit was reached)
    note: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.checkpoint, self.approach, self.runtime

    @property
    def measured(self) -> bool:
        return self.texts_per_s is not None
