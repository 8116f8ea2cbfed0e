"""The regression baseline: the metrics each pair must keep and the throughput to compare with.

A suite's baseline lives next to it, ``suites/baselines/<suite>.json`` (:class:`BaselineDocument`).
A metric regresses when it drops by more than its tolerance: by default the larger of 1 point and
the half-width of the current run's 95% bootstrap CI. Speed is gated through the timing protocol's
``ratio`` (:mod:`harness.engine.timing.protocol`: the model's CPU-time throughput over a reference GEMM's,
timed in alternating rounds), on the machine the baseline was taken on only, and a drop fails only
when a re-measurement confirms it. Raw throughput is never gated: a busy neighbour halves it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .io import ResultsError, read_json, write_json
from .model import METRICS, BaselineCheck, BaselineDocument, BaselinePair, BaselineResult, BaselineTiming
from .model import Machine, Metrics, SuiteDocument, TimingRecord

MIN_TOLERANCE = 0.01  # one point
# The timing ratio may drop to 70% of its baseline. Measured on a 2-core machine at load ~10 (4-layer
# BERT, hidden 128): a 2x slower model lands at 0.42-0.62 of its baseline, beside a busy process at 0.84-1.23.
TIMING_TOLERANCE = 0.3
EPSILON = 1e-9  # a drop of exactly the tolerance passes despite float rounding


class BaselineError(ResultsError):
    """A baseline file or a tolerance that cannot be used; the message is one line."""


def baseline_path(suite_file, suite: str) -> Path:
    """``<directory of the suite module>/baselines/<suite>.json``."""
    return Path(suite_file).parent / "baselines" / f"{suite}.json"


def machine_fingerprint(environment: dict) -> Machine:
    """What timings depend on: CPU model, the instruction set torch uses, GPU name and torch version."""
    versions = environment.get("versions") or {}
    return Machine(
        cpu=environment.get("cpu"),
        gpu=environment.get("gpu"),
        torch=versions.get("torch"),
        cpu_capability=environment.get("cpu_capability"),
    )


@dataclass
class Baseline:
    """A loaded baseline: entries keyed by (checkpoint, approach id) and by timing key."""

    path: Path
    suite: str
    pairs: dict[tuple[str, str], BaselinePair]
    performance: dict[tuple, BaselineTiming]


def load(path, suite: str) -> Baseline:
    """The baseline at ``path``; an empty one when the file does not exist."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return Baseline(path, suite, {}, {})
    try:
        document = read_json(path, BaselineDocument)
    except ResultsError as e:
        raise BaselineError(str(e)) from None
    if document.suite != suite:
        raise BaselineError(f"{path}: suite: expected {suite!r}, got {document.suite!r}")
    return Baseline(
        path,
        suite,
        {entry.key: entry for entry in document.pairs},
        {entry.key: entry for entry in document.performance},
    )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def tolerances(configured, metrics: Metrics) -> dict[str, float]:
    """Allowed drop per checked metric: ``configured`` (a number, or ``{metric: number}`` for some
    metrics) or else max(1 point, half-width of the metric's CI)."""
    if configured is None:
        configured = {}
    elif _is_number(configured):
        configured = dict.fromkeys(METRICS, configured)
    elif not isinstance(configured, dict):
        raise BaselineError(f"baseline tolerance: expected a number or {{metric: number}}, got {configured!r}")
    unknown = sorted(set(configured) - set(METRICS))
    if unknown:
        raise BaselineError(f"baseline tolerance: unknown metric(s) {unknown}; expected {list(METRICS)}")
    for name, value in configured.items():
        if not _is_number(value) or value < 0:
            raise BaselineError(f"baseline tolerance: {name} must be a number ≥ 0, got {value!r}")

    def default(name: str) -> float:
        bounds = getattr(metrics.ci, name, None) if metrics.ci is not None else None
        return max(MIN_TOLERANCE, (bounds[1] - bounds[0]) / 2) if bounds else MIN_TOLERANCE

    return {name: float(configured.get(name, default(name))) for name in METRICS}


def describe(check: BaselineCheck) -> str:
    if check.metric == "n_examples":
        return (
            f"n_examples {check.value:g} ≠ baseline {check.baseline:g} "
            "(the evaluation examples changed; run with --update-baseline)"
        )
    return f"{check.metric} {check.value:.4f} < baseline {check.baseline:.4f} − tolerance {check.tolerance:.4f}"


def check_pair(entry: BaselinePair | None, n_examples: int, metrics: Metrics, configured=None) -> BaselineResult:
    """Compare one evaluated pair's metrics with its baseline ``entry`` (None: not in the baseline)."""
    allowed = tolerances(configured, metrics)  # validated even for a new pair
    if entry is None:
        return BaselineResult(status="new")
    checks = [
        BaselineCheck(
            metric=name,
            baseline=float(entry.metrics[name]),
            value=float(getattr(metrics, name)),
            tolerance=allowed[name],
            passed=entry.metrics[name] - getattr(metrics, name) <= allowed[name] + EPSILON,
        )
        for name in METRICS
        if name in entry.metrics
    ]
    if entry.n_examples != n_examples:
        checks.insert(
            0,
            BaselineCheck(
                metric="n_examples", baseline=entry.n_examples, value=n_examples, tolerance=0, passed=False
            ),
        )
    status = "ok" if all(c.passed for c in checks) else "regressed"
    return BaselineResult(status=status, checks=checks)


def failure_message(result: BaselineResult, label: str, path) -> str | None:
    """``finetune · MiniLM · accuracy 0.9100 < baseline 0.9350 − tolerance 0.0120 (baselines/x.json)``."""
    failed = [describe(c) for c in result.checks if not c.passed]
    return f"{label} · " + "; ".join(failed) + f" ({path})" if failed else None


def decide(
    ratios: Sequence[float], baseline_ratio: float | None, tolerance: float = TIMING_TOLERANCE,
    remeasurable: bool = True,
) -> dict:
    """The timing gate's rule on the ratios measured so far: the first measurement, then its re-measurement.

    ``status``: ``new`` (no baseline ratio), ``ok`` (some ratio at or above ``(1 − tolerance) ×
    baseline``), ``unconfirmed`` (one measurement below and ``remeasurable``: measure again) or
    ``regressed`` (all below, and re-measured or not re-measurable). ``value`` is the best ratio.
    """
    if not _is_number(tolerance) or not 0 <= tolerance < 1:
        raise BaselineError(f"timing tolerance: expected a number in [0, 1), got {tolerance!r}")
    if baseline_ratio is None:
        return {"status": "new", "mode": None, "passed": True}
    if not _is_number(baseline_ratio) or baseline_ratio <= 0:
        raise BaselineError(f"baseline ratio: expected a positive number, got {baseline_ratio!r}")
    if not ratios:
        raise ValueError("no measured ratio to decide on")
    best = max(ratios)
    if best >= baseline_ratio * (1 - tolerance) - EPSILON:
        status = "ok"
    else:
        status = "unconfirmed" if len(ratios) == 1 and remeasurable else "regressed"
    return {
        "status": status,
        "mode": "ratio",
        "metric": "ratio",
        "baseline": float(baseline_ratio),
        "value": float(best),
        "values": [float(r) for r in ratios],
        "tolerance": float(tolerance),
        "passed": status != "regressed",
    }


def check_timing(
    entry: BaselineTiming | None,
    record: TimingRecord,
    machine: Machine,
    tolerance: float = TIMING_TOLERANCE,
    earlier: Sequence[float] = (),
    remeasurable: bool = True,
) -> dict:
    """Compare one timing record with its baseline entry (:func:`decide` on the ratios).

    ``earlier``: the ratios of the measurements this one re-measures. The ratio is gated only on the
    baseline's machine fingerprint and when both sides have one; otherwise the result is
    ``not-gated`` with its ``reason`` (reported, never failed). ``texts_per_s`` of both sides is
    kept for the report either way.
    """
    if entry is None:
        return {"status": "new", "mode": None, "passed": True}
    throughput = {"texts_per_s": {"baseline": entry.texts_per_s, "value": record.texts_per_s}}
    if entry.machine != machine:
        reason = "the baseline was measured on another machine"
    elif entry.ratio is None or record.ratio is None:
        side = "the baseline" if entry.ratio is None else "this record"
        reason = f"{side} has no timing-protocol ratio"
    else:
        return decide([*earlier, record.ratio], entry.ratio, tolerance, remeasurable) | throughput
    return {"status": "not-gated", "mode": None, "passed": True, "reason": reason} | throughput


def gate_timing(
    entry: BaselineTiming | None,
    record: TimingRecord,
    machine: Machine,
    remeasure: Callable[[], TimingRecord] | None = None,
    tolerance: float = TIMING_TOLERANCE,
) -> tuple[TimingRecord, dict]:
    """:func:`check_timing`, and below the floor ``remeasure()`` (a fresh measurement) confirms or
    clears the drop. Returns the record to keep (the re-measurement when there was one) and the
    result. Without ``remeasure`` one measurement below the floor regresses."""
    result = check_timing(entry, record, machine, tolerance, remeasurable=remeasure is not None)
    if result["status"] != "unconfirmed":
        return record, result
    second = remeasure()
    return second, check_timing(entry, second, machine, tolerance, earlier=[record.ratio])


def timing_failure_message(record: TimingRecord, result: dict, path) -> str | None:
    """``timing all-MiniLM-L6-v2 inference cpu batch 32 · texts_per_s 80.0 < 50% of baseline 120.0 (...)``."""
    if result["passed"]:
        return None
    share = round((1 - result["tolerance"]) * 100)
    values = result["values"]
    measured = " and ".join(f"{v:.4g}" for v in values)
    times = "twice" if len(values) > 1 else "once"
    return (
        f"timing {record.checkpoint} {record.task} {record.device} {record.dtype} batch {record.batch_size} · "
        f"ratio {measured} < {share}% of baseline {result['baseline']:.4g} "
        f"(measured {times}; raw texts/s {record.texts_per_s:.4g}, baseline "
        f"{result['texts_per_s']['baseline']:.4g}; {path})"
    )


def updated(baseline: Baseline, document: SuiteDocument) -> BaselineDocument:
    """The baseline with this run's evaluated pairs and timings replacing their entries; entries this
    run did not produce are kept."""
    pairs = dict(baseline.pairs)
    for record in document.evaluated():
        pairs[record.key] = BaselinePair(
            checkpoint=record.checkpoint,
            approach=record.approach.id,
            n_examples=record.n_examples,
            metrics={name: round(float(getattr(record.metrics, name)), 6) for name in METRICS},
        )
    timings = dict(baseline.performance)
    machine = machine_fingerprint(document.environment)
    for record in document.performance:
        if record.texts_per_s <= 0:
            continue  # nothing to compare with later
        timings[record.key] = BaselineTiming(
            checkpoint=record.checkpoint,
            task=record.task,
            device=record.device,
            dtype=record.dtype,
            batch_size=record.batch_size,
            texts_per_s=record.texts_per_s,
            normalized_throughput=record.normalized_throughput,
            ratio=record.ratio,
            machine=machine,
        )
    return BaselineDocument(
        suite=baseline.suite,
        pairs=[pairs[key] for key in sorted(pairs)],
        performance=[timings[key] for key in sorted(timings, key=repr)],
    )


def update_file(path, document: SuiteDocument) -> Path:
    """Write a run's pairs and timings into the baseline at ``path`` (a file that cannot be used is replaced)."""
    try:
        existing = load(path, document.suite)
    except BaselineError:
        existing = Baseline(Path(path), document.suite, {}, {})
    return write_json(path, updated(existing, document))
