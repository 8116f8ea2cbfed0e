"""Typed documents of ``harness bench`` (docs/results.md: Bench file): what it prints and ``--json`` writes.

``BenchDocument``: feature-extraction throughput per method (``seed``, ``pipeline``,
``sentence-transformers``, ``harness-<dtype>``), with an optional batch-size sweep (timing records)
and validation accuracy per dtype. ``BenchRuntimesDocument`` (``--runtimes``): per fitted pair, each
deployment runtime's figures and their ratios to the ``torch-fp32`` reference.
"""

from __future__ import annotations

from typing import Literal

from .model import TimingRecord
from .runtimes import RuntimeGate, RuntimeRecord
from .types import SCHEMA_VERSION, Count, Model, Number, Share, Status

BENCH_KIND = "harness.bench"
BENCH_RUNTIMES_KIND = "harness.bench-runtimes"


class MethodFigures(Model):
    """One way of extracting features, timed on the bench's texts (tokenization included)."""

    seconds: Number
    dtype: str
    max_abs_diff: Number  # largest |Δ| of its features against ``compared_with``'s
    compared_with: str
    texts_per_s: Number
    ratio_vs_seed: Number
    achieved_gflops: Number  # useful work (unpadded lengths) per second
    peak_fraction: Number  # achieved_gflops over the GEMM peak of its dtype


class SweepRecord(TimingRecord):
    """A timing record of the batch-size sweep; the timer's figures that a suite keeps as extra keys
    are typed here."""

    rounds: Count
    tokenize_ms: Number
    peak_rss_mb: Number
    peak_cuda_mb: Number | None
    achieved_gflops: Number
    reference_gflops: Number


class BenchRun(Model):
    """What every bench document starts with: the model, the texts and the machine's side of the run."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: str
    checkpoint: str
    dataset: str
    split: str
    n_texts: Count  # the texts timed (and scored)
    device: str
    torch_threads: Count


class BenchDocument(BenchRun):
    """``harness bench --json PATH``: extraction throughput of the harness against the usual ways."""

    kind: Literal["harness.bench"] = BENCH_KIND
    batch_size: Count
    gemm_peak_gflops: dict[str, Number]  # per dtype, measured in the same process
    gflop: Number  # useful work of one pass over the texts
    methods: dict[str, MethodFigures]
    sweep: list[SweepRecord] = []  # --sweep N
    accuracy: dict[str, Share] = {}  # --accuracy: per dtype

    def inconsistency(self) -> tuple[list, str] | None:
        for name, method in self.methods.items():
            if method.dtype not in self.gemm_peak_gflops:
                return ["methods", name, "dtype"], f"no GEMM peak for {method.dtype!r} in gemm_peak_gflops"
        return None


class RuntimeBenchSettings(Model):
    """How the runtimes were measured (a suite's ``RUNTIME_*`` declarations, ``--batch-size``)."""

    batch_size: Count
    speed_texts: Count
    latency_texts: Count
    rounds: Count
    time_limit: Number | None  # seconds; null: no cap


class RuntimeFigures(Model):
    """A measured runtime: its record's figures, flattened, and its ratios to ``torch-fp32``."""

    status: Status
    texts_per_s: Number
    accuracy: Share
    f1_weighted: Share
    agreement: Share
    max_proba_diff: Number
    size_mb: Number
    n_parameters: Count
    peak_memory_mb: Number
    load_s: Number
    latency_ms_p50: Number
    latency_ms_p95: Number
    texts_per_s_ratio: Number  # higher is faster
    latency_p50_ratio: Number  # reference p50 over this one's: higher is faster
    size_ratio: Number  # lower is smaller
    accuracy_drop: Number
    gates: list[RuntimeGate]
    record: RuntimeRecord

    @classmethod
    def of(cls, record: RuntimeRecord, reference: RuntimeRecord) -> RuntimeFigures:
        return cls(
            status=record.status,
            texts_per_s=record.texts_per_s,
            accuracy=record.accuracy,
            f1_weighted=record.f1_weighted,
            agreement=record.agreement,
            max_proba_diff=record.max_proba_diff,
            size_mb=record.size_mb,
            n_parameters=record.n_parameters,
            peak_memory_mb=record.peak_memory_mb,
            load_s=record.load_s,
            latency_ms_p50=record.latency_ms["p50"],
            latency_ms_p95=record.latency_ms["p95"],
            texts_per_s_ratio=record.speedup,
            latency_p50_ratio=record.latency_speedup,
            size_ratio=record.size_mb / reference.size_mb,
            accuracy_drop=record.accuracy_drop,
            gates=record.gates,
            record=record,
        )


class RuntimeNotMeasured(Model):
    """A runtime that could not run here (``skipped``) or could not be built (``failed``)."""

    status: Status
    reason: str | None


class BenchPair(Model):
    approach: str  # approach id
    pair_accuracy: Share
    runtimes: dict[str, RuntimeFigures | RuntimeNotMeasured]  # torch-fp32 first


class BenchRuntimesDocument(BenchRun):
    """``harness bench --runtimes --json PATH``: a fitted pair run by every deployment runtime."""

    kind: Literal["harness.bench-runtimes"] = BENCH_RUNTIMES_KIND
    settings: RuntimeBenchSettings
    pairs: list[BenchPair]
