"""The typed model of everything the harness writes: pair records, suite documents, baselines.

One definition gives validation (files are untrusted input), serialization and the JSON Schema
(``SuiteDocument.model_json_schema()``). ``docs/results.md`` describes the same fields; a test keeps
the two in step. Numbers are finite, counts are bounded, strings are strings: ``"0.5"`` is not a number.
Unknown keys are kept (newer writers may add some); known keys are typed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from .types import (  # noqa: F401 - the building blocks are part of this module's names
    BASELINE_KIND,
    MAX_COUNT,
    METRICS,
    SCHEMA_VERSION,
    STATUS_ORDER,
    SUITE_KIND,
    Count,
    GateResult,
    Interval,
    Model,
    Number,
    Share,
    Status,
)
from .curves import CurvePoint, SeedComparison, SeedRuns
from .runtimes import RuntimeRecord


class ApproachInfo(Model):
    """The approach of a pair and what its class says of itself (None in records written before that)."""

    name: str
    variant: str | None
    id: str
    params: dict
    runs_model: bool | None = None  # its predict step runs the model: texts / predict seconds is throughput
    no_model_reason: str | None = None  # why it does not, e.g. "runs no model"


class RuntimeSettings(Model):
    """How a pair ran: device type, dtype as resolved (``auto`` became bf16 or fp32), batch size."""

    device: str
    dtype: str
    batch_size: Count

    def __str__(self) -> str:
        return f"{self.device} · {self.dtype} · {self.batch_size}"


class ConfidenceIntervals(Model):
    level: Share
    n_resamples: Count
    accuracy: Interval | None = None
    f1_weighted: Interval | None = None
    f1_macro: Interval | None = None


class ClassScores(Model):
    precision: Share
    recall: Share
    f1: Share
    support: Count


class Metrics(Model):
    accuracy: Share
    f1_weighted: Share
    f1_macro: Share
    loss_mean: Number | None = None
    per_class: dict[str, ClassScores] = {}
    confusion_matrix: list[list[Share]] = []
    ci: ConfidenceIntervals | None = None
    ece: Number | None = None
    brier: Number | None = None


class Timings(Model):
    fit: Number
    predict: Number
    score: Number


class TrainingThroughput(Model):
    """How fast a fine-tune trained: useful FLOP/s of its training epochs against the GEMM peak."""

    device: str
    dtype: str
    threads: Count
    steps: Count
    texts: Count
    tokens: Count  # unpadded tokens of the training batches
    padded_tokens: Count  # tokens the padded batches held
    train_s: Number  # wall time of the training epochs (evaluation excluded)
    cpu_s: Number  # process CPU time over the same epochs
    useful_gflop: Number  # 3x the forward FLOPs of the unpadded tokens
    executed_gflop: Number  # the same over the padded batches
    gflops: Number  # useful_gflop / train_s
    gemm_peak_gflops: Number  # the best of gemm_peak_readings
    gemm_peak_readings: list[Number] = []  # before, during and after training (older records: none)
    peak_fraction: Number | None


class CheckpointSource(Model):
    kind: str
    location: str
    revision: str | None = None
    weights: str | None = None  # what keys its cached results: hub revision or sha256 of the files
    weights_mb: Number | None = None
    n_parameters: Count | None = None
    stored_dtype: str | None = None  # what the weight files hold (fp16: upcast to fp32 when loaded)


class Example(Model):
    index: Count
    text: str
    gold: str
    predicted: str
    loss: Number | None = None
    p_gold: Share | None = None


class Examples(Model):
    worst_loss: list[Example] = []
    best_loss: list[Example] = []


class Predictions(Model):
    gold: list[Count]
    predicted: list[Count]
    loss: list[Number] | None = None
    proba: list[list[Share]] | None = None


class CalibrationBin(Model):
    low: Number
    high: Number
    count: Count
    confidence: Number
    accuracy: Number


class Calibration(Model):
    n_bins: Count
    bins: list[CalibrationBin] = []


class Suspect(Model):
    index: Count
    text: str
    gold: str | None = None
    predicted: str | None = None
    p_gold: Share | None = None
    conflicting: bool = False


class LabelSuspects(Model):
    rule: str | None = None
    per_class: dict[str, Count] = {}
    examples: list[Suspect] = []


class BaselineCheck(Model):
    metric: str
    baseline: Number
    value: Number
    tolerance: Number
    passed: bool


class BaselineResult(Model):
    status: Literal["new", "ok", "regressed"]
    checks: list[BaselineCheck] = []


class PairKey(Model):
    checkpoint: str
    approach: str


class PairRecord(Model):
    """One (suite, checkpoint, approach) of a run: its status and, once evaluated, everything it produced."""

    schema_version: Literal[1] = SCHEMA_VERSION
    suite: str
    checkpoint: str
    approach: ApproachInfo
    status: Status
    reason: str | None
    gates: list[GateResult] = []
    split: str | None
    n_examples: Count | None
    metrics: Metrics | None
    timings: Timings | None
    environment: dict = {}
    baseline: BaselineResult | None = None
    runtime: RuntimeSettings | None = None  # None for a pair not evaluated
    dataset: str | None = None
    dataset_source: dict | None = None  # {kind: local|hub|dataset, location}
    checkpoint_source: CheckpointSource | None = None
    train_split: str | None = None
    n_truncated: Count | None = None
    labels: list[str] | None = None
    eval_fingerprint: str | None = None
    calibration: Calibration | None = None
    label_suspects: LabelSuspects | None = None
    examples: Examples | None = None
    training_history: list[dict] | None = None
    training_throughput: TrainingThroughput | None = None
    seeds: SeedRuns | None = None  # fitted once per seed: every seed's scores (the rest is the first seed's)
    cached: bool | None = None  # predictions and timings came from the cache: an earlier run measured them
    predictions: Predictions | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.checkpoint, self.approach.id

    @property
    def title(self) -> str:
        return f"{self.checkpoint} · {self.approach.id}"

    @property
    def evaluated(self) -> bool:
        return self.metrics is not None and self.predictions is not None

    def inconsistency(self) -> tuple[list, str] | None:
        """The first place where the record contradicts itself, as (path, message), or None."""
        p = self.predictions
        if p is None:
            return None
        if self.labels is None:
            return ["labels"], "expected the label names (predictions are present), got null"
        n, n_labels = self.n_examples, len(self.labels)
        if n is None:
            return ["n_examples"], "expected the number of examples (predictions are present), got null"
        for key in ("gold", "predicted", "loss", "proba"):
            values = getattr(p, key)
            if values is not None and len(values) != n:
                return ["predictions", key], f"expected {n} entries (n_examples), got {len(values)}"
        for key in ("gold", "predicted"):
            for i, label_id in enumerate(getattr(p, key)):
                if label_id >= n_labels:
                    return ["predictions", key, i], f"expected a label id below {n_labels} (labels), got {label_id}"
        for i, row in enumerate(p.proba or []):
            if len(row) != n_labels:
                return ["predictions", "proba", i], f"expected {n_labels} probabilities (labels), got {len(row)}"
        if self.metrics is not None and self.metrics.confusion_matrix:
            if len(self.metrics.confusion_matrix) != n_labels:
                return ["metrics", "confusion_matrix"], f"expected {n_labels} rows (labels)"
        return None


class Split(Model):
    n: Count
    class_counts: dict[str, Count]


class LabelledAs(Model):
    split: str
    label: str


class ConflictingText(Model):
    text: str
    labels: list[LabelledAs]


class Duplicates(Model):
    n_conflicting: Count = 0
    examples: list[ConflictingText] = []


class BoxStats(TypedDict, total=False):
    """One class's token lengths: matplotlib ``bxp`` statistics plus n and mean (only n when empty).
    A plain dict, as the writer made it: ``n`` stays an integer, absent keys stay absent."""

    __pydantic_config__ = ConfigDict(strict=True, allow_inf_nan=False, extra="allow")
    n: Count
    mean: Number
    min: Number
    q1: Number
    med: Number
    q3: Number
    max: Number
    whislo: Number
    whishi: Number


class TokenLengths(Model):
    split: str
    max_length: Count | None = None
    per_class: dict[str, BoxStats] = {}
    n_exceeding: dict[str, Count] = {}


class LabelChecks(Model):
    """Classes of a split with no training examples; labels that differ only by case or whitespace."""

    train_split: str = "train"
    unseen_in_train: dict[str, list[str]] = {}  # split -> its classes with no train_split example
    similar_labels: list[list[str]] = []


class Leakage(Model):
    """Texts of an evaluation split found verbatim in the training split."""

    split: str
    n_leaked: Count
    share: Share
    examples: list[str] = []


class DatasetOverview(Model):
    name: str
    labels: list[str]
    splits: dict[str, Split]
    duplicates: Duplicates | None = None
    label_checks: LabelChecks | None = None
    leakage: list[Leakage] = []
    token_lengths: dict[str, TokenLengths] = {}


class TimingCap(Model):
    """A measurement its time limit cut short: the limit, the time it took, which parts stopped early."""

    limit_s: Number
    elapsed_s: Number
    reason: str


class TimingRecord(Model):
    """One speed measurement (docs/results.md, "Timing record"); further measured fields are extra keys."""

    checkpoint: str
    task: str
    texts_per_s: Number
    device: str | None = None
    dtype: str | None = None
    batch_size: Count | None = None
    n_texts: Count | None = None
    tokens_per_s: Number | None = None
    latency_ms: dict[str, Number] = {}
    normalized_throughput: Number | None = None
    ratio: Annotated[float, Field(gt=0, le=1e300)] | None = None  # the timing protocol's, the gated figure
    remeasured: bool = False
    capped: TimingCap | None = None  # the time limit was reached: the record says which parts it cut
    speedup_vs_cpu: Number | None = None
    note: str | None = None
    baseline: dict | None = None
    measured_in: str | None = None  # the suite of this run that measured it, when that is another one

    @property
    def key(self) -> tuple:
        return self.checkpoint, self.task, self.device, self.dtype, self.batch_size


class Comparison(Model):
    a: PairKey
    b: PairKey
    metric: str
    a_value: Number
    b_value: Number
    difference: Number
    ci: Interval | None = None
    mcnemar_p: Share | None = None
    n_discordant: list[Count] = []
    n_examples: Count | None = None
    winner: Literal["a", "b"] | None = None
    per_seed: list[SeedComparison] = []  # both pairs seeded alike: one paired test per seed


class FailedTest(Model):
    """One failed test of the run: its node id, its one-line message and where the report shows it."""

    test: str
    message: str
    section: Literal["pair", "performance", "runtimes", "learning-curve", "other"] = "other"
    pair: PairKey | None = None


class UnfinishedTest(Model):
    """A test that did not finish: its node id, why, and its pair when it tests one."""

    test: str
    reason: Literal["interrupted", "terminated", "worker crashed", "timed out", "not run"]
    pair: PairKey | None = None


class Verdict(Model):
    """The run's verdict on the suite: every test counted, every failure and unfinished test listed."""

    status: Literal["passed", "failed", "incomplete"]
    reason: str | None = None  # why the run is incomplete
    tests: dict[str, Count] = {}  # outcome (passed, failed, skipped, unfinished) -> tests
    failures: list[FailedTest] = []
    unfinished: list[UnfinishedTest] = []


class CacheSummary(Model):
    root: str | None = None
    mode: Literal["use", "refresh", "off"] = "use"
    hits: Count = 0
    stores: Count = 0


class PhaseRecord(Model):
    """One timed phase of a run (``harness.engine.budget``): its own seconds, phases inside it left out."""

    phase: str
    seconds: Annotated[float, Field(ge=0, le=1e300)]
    cached: bool | None = None  # its result came from the cache (None: nothing cached in it)
    suite: str | None = None
    checkpoint: str | None = None
    approach: str | None = None  # approach id; None for a phase of no pair (dataset load, speed, report)
    split: str | None = None
    detail: str | None = None  # e.g. ``32/class · seed 1``, ``onnx-int8``, ``extraction cpu fp32``


class NodeOutcome(Model):
    """One test of the run: its node id, worst phase outcome and seconds (setup, call and teardown)."""

    nodeid: str
    outcome: Status
    duration: Annotated[float, Field(ge=0, le=1e300)]


class Provenance(Model):
    """What the results were computed from: shards of one run must agree on every field."""

    commit: str | None = None  # git HEAD of the checkout, None outside git
    code: str  # sha256 of the harness package and the run's suite files (content, not paths)
    data: dict[str, str] = {}  # dataset name → sha256 of every split's texts and labels
    baseline: str | None = None  # sha256 of the suite's baseline file; None when there is none


class Shard(Model):
    """``--shard K/N``: which share of the run a document holds (docs/results.md, "Shards")."""

    index: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    plan: str  # sha256 of the whole assignment of tests to shards: every shard of a run computes the same
    balanced_by: Literal["cost", "count"]
    suites: list[str] = []  # every suite of the run's plan (a shard writes a document for each)
    assigned: Count = 0  # the suite's tests the plan gave this shard (fewer in ``tests``: it stopped early)
    ran: Count | None = None  # the tests it ran (set on merged documents)
    run_id: str | None = None  # the shard's own run (set on merged documents)
    environment: dict = {}  # the shard's machine (set on merged documents)


class SuiteDocument(Model):
    """``<report-dir>/<suite>.json``: a run's pair records and everything the report needs."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["harness.suite"] = SUITE_KIND
    suite: str
    run_id: str
    environment: dict
    cache: CacheSummary = CacheSummary()
    datasets: dict[str, DatasetOverview] = {}
    pairs: list[PairRecord]
    performance: list[TimingRecord] = []
    learning_curves: list[CurvePoint] = []  # a suite that declares SHOTS (harness/results/curves.py)
    comparisons: list[Comparison] = []
    runtimes: list[RuntimeRecord] = []  # deployment runtimes of pairs (harness/results/runtimes.py)
    phases: list[PhaseRecord] = []  # where the time went, every phase of every process
    verdict: Verdict | None = None  # None in files written before verdicts were recorded
    tests: list[NodeOutcome] = []  # every test the run ran, by node id
    provenance: Provenance | None = None
    shard: Shard | None = None  # a --shard K/N run's document
    shards: list[Shard] = []  # a merged document: the shards it was merged from

    def evaluated(self) -> list[PairRecord]:
        return [p for p in self.pairs if p.metrics is not None]

    def inconsistency(self) -> tuple[list, str] | None:
        seen: dict[tuple[str, str], int] = {}
        for i, pair in enumerate(self.pairs):
            if pair.key in seen:
                return ["pairs", i], f"{pair.key} appears twice (also pairs[{seen[pair.key]}]); expected one record each"
            seen[pair.key] = i
            problem = pair.inconsistency()
            if problem is not None:
                return ["pairs", i, *problem[0]], problem[1]
        return None


class Machine(Model):
    """What timings depend on: CPU model, the instruction set torch's kernels use, GPU, torch."""

    cpu: str | None
    gpu: str | None
    torch: str | None
    cpu_capability: str | None = None


class BaselinePair(Model):
    checkpoint: Annotated[str, Field(min_length=1)]
    approach: Annotated[str, Field(min_length=1)]
    n_examples: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    metrics: dict[Literal["accuracy", "f1_weighted", "f1_macro"], Share] = Field(min_length=1)

    @property
    def key(self) -> tuple[str, str]:
        return self.checkpoint, self.approach


class BaselineTiming(Model):
    checkpoint: str
    task: str
    device: str | None
    dtype: str | None
    batch_size: Count | None
    texts_per_s: Annotated[float, Field(gt=0, le=1e300)]
    normalized_throughput: Annotated[float, Field(gt=0, le=1e300)] | None = None
    ratio: Annotated[float, Field(gt=0, le=1e300)] | None = None
    machine: Machine

    @property
    def key(self) -> tuple:
        return self.checkpoint, self.task, self.device, self.dtype, self.batch_size


class BaselineDocument(Model):
    """``suites/baselines/<suite>.json``: the metrics and throughput a suite is gated against."""

    kind: Literal["harness.baseline"] = BASELINE_KIND
    schema_version: Literal[1] = SCHEMA_VERSION
    suite: str
    pairs: list[BaselinePair] = []
    performance: list[BaselineTiming] = []

    def inconsistency(self) -> tuple[list, str] | None:
        for field, entries in (("pairs", self.pairs), ("performance", self.performance)):
            seen = set()
            for i, entry in enumerate(entries):
                if entry.key in seen:
                    return [field, i], f"expected one entry per key, got {entry.key} twice"
                seen.add(entry.key)
        return None
