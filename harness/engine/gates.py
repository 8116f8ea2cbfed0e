"""Every gate of the harness, in one place and with one message format.

- quality: minimum values of a pair's metrics (``GATES``, ``gate(evaluation, accuracy=0.9)``);
- baseline: a metric may not drop below the suite's baseline by more than its tolerance (by default
  the larger of 1 point and the half-width of the current run's 95% bootstrap CI); speed is gated
  through the timing protocol's ``ratio`` (:mod:`harness.engine.timing.protocol`), on the baseline's
  machine only, and a drop fails only when a re-measurement confirms it;
- deployment runtimes: accuracy drop, agreement, max |Δp| and speed ratios against torch-fp32;
- learning curves: minimum values of the mean over seeds at each training size (``CURVE_GATES``).

A failure reads ``<what> · <check>; <check> (<where>)``, e.g.
``finetune · all-MiniLM-L6-v2 · accuracy 0.871 < 0.900``. Baseline files are read and written by
:mod:`harness.results.baseline`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import SimpleNamespace

from ..errors import HarnessError
from ..results.baseline import BaselineError
from ..results.model import (
    METRICS,
    BaselineCheck,
    BaselinePair,
    BaselineResult,
    BaselineTiming,
    GateResult,
    Machine,
    Metrics,
    TimingRecord,
)
from ..results.runtimes import REFERENCE, RuntimeGate, RuntimeRecord

MIN_TOLERANCE = 0.01  # one point
# The timing ratio may drop to 70% of its baseline. Measured on a 2-core machine at load ~10 (4-layer
# BERT, hidden 128): a 2x slower model lands at 0.42-0.62 of its baseline, beside a busy process at 0.84-1.23.
TIMING_TOLERANCE = 0.3
EPSILON = 1e-9  # a drop of exactly the tolerance passes despite float rounding
BOUNDS = {
    "accuracy_drop": "max",
    "agreement": "min",
    "max_proba_diff": "max",
    "speedup": "min",
    "latency_speedup": "min",
}
DEFAULTS = {"accuracy_drop": 0.01, "agreement": 0.97}
SPEED_GATES = ("speedup", "latency_speedup")


class GateError(HarnessError, ValueError):
    """A gate that names no gated metric."""


class RuntimeDeclarationError(HarnessError, ValueError):
    """A suite's ``RUNTIMES`` or ``RUNTIME_GATES`` that names an unknown runtime, approach or gate."""


def message(what: str, failed: list[str], where: str | None = None) -> str | None:
    """``<what> · <failed>; <failed> (<where>)``, or None when nothing failed: every gate's message."""
    if not failed:
        return None
    return f"{what} · " + "; ".join(failed) + (f" ({where})" if where else "")


# -- quality --

def check(metrics: Metrics, **thresholds: float) -> list[GateResult]:
    """Compare ``metrics`` with minimum ``thresholds`` (``accuracy=0.9`` means accuracy ≥ 0.9)."""
    unknown = sorted(set(thresholds) - set(METRICS))
    if unknown:
        raise GateError(f"gate: unknown metric(s) {unknown}; expected some of {list(METRICS)}")
    results = []
    for name, minimum in thresholds.items():
        value = float(getattr(metrics, name))
        results.append(GateResult(metric=name, threshold=float(minimum), value=value, passed=value >= minimum))
    return results


def failure_message(label: str, results: list[GateResult]) -> str | None:
    """``finetune · all-MiniLM-L6-v2 · accuracy 0.871 < 0.900``, or None when every gate passed."""
    return message(label, [f"{r.metric} {r.value:.3f} < {r.threshold:.3f}" for r in results if not r.passed])


# -- learning curves --


def curve_label(point) -> str:
    """``setfit · all-MiniLM-L6-v2 · 32/class (mean of 3 seeds)``."""
    size = "reference" if point.shots is None else f"{point.shots}/class"
    seeds = f" (mean of {len(point.seeds)} seeds)" if len(point.seeds) > 1 else ""
    return f"{point.approach} · {point.checkpoint.rstrip('/').split('/')[-1]} · {size}{seeds}"


def check_curve_point(point, thresholds: dict) -> str | None:
    """Gate a learning-curve point's mean over seeds; its gates, status and reason are set. Returns the
    failure message, or None."""
    results = check(SimpleNamespace(**point.mean), **thresholds)
    failed = failure_message(curve_label(point), results)
    point.gates, point.status, point.reason = results, "failed" if failed else "passed", failed
    return failed


# -- the baseline --

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


def baseline_failure_message(result: BaselineResult, label: str, path) -> str | None:
    """``finetune · MiniLM · accuracy 0.9100 < baseline 0.9350 − tolerance 0.0120 (baselines/x.json)``."""
    return message(label, [describe(c) for c in result.checks if not c.passed], path)


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
    return message(
        f"timing {record.checkpoint} {record.task} {record.device} {record.dtype} batch {record.batch_size}",
        [f"ratio {measured} < {share}% of baseline {result['baseline']:.4g}"],
        f"measured {times}; raw texts/s {record.texts_per_s:.4g}, baseline "
        f"{result['texts_per_s']['baseline']:.4g}; {path}",
    )


# -- deployment runtimes --

def check_runtime(record: RuntimeRecord, thresholds: dict) -> list[RuntimeGate]:
    """The defaults overridden by ``thresholds``, checked against the record (none for the reference's
    comparisons with itself)."""
    limits = {**DEFAULTS, **thresholds}
    if record.runtime == REFERENCE:
        limits = {k: v for k, v in thresholds.items() if k not in SPEED_GATES}
    gates = []
    for metric, limit in limits.items():
        value = float(getattr(record, metric))
        bound = BOUNDS[metric]
        passed = value >= limit if bound == "min" else value <= limit
        gates.append(RuntimeGate(metric=metric, bound=bound, limit=float(limit), value=value, passed=passed))
    return gates


def runtime_failure_message(label: str, record: RuntimeRecord) -> str | None:
    """``finetune · all-MiniLM-L6-v2 · onnx-int8 · agreement 0.951 < 0.970``, or None when all passed."""
    failed = [
        f"{g.metric} {g.value:.4g} {'<' if g.bound == 'min' else '>'} {g.limit:.4g}"
        for g in record.gates
        if not g.passed
    ]
    return message(f"{label} · {record.runtime}", failed)


def check_runtime_names(where: str, names) -> None:
    """Runtime names the harness knows (a one-line error names the first unknown one)."""
    from .deploy.backends import RUNTIMES

    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise RuntimeDeclarationError(f"{where}: {names!r}; expected a list of runtime names")
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown:
        raise RuntimeDeclarationError(
            f"{where}: unknown runtime {unknown[0]!r}; expected some of {list(RUNTIMES)}"
        )


def check_runtime_limits(where: str, gates: dict) -> None:
    """``{runtime: {gate: limit}}`` with known runtimes and gates."""
    from .deploy.backends import RUNTIMES

    for name, limits in gates.items():
        if name not in RUNTIMES:
            raise RuntimeDeclarationError(
                f"{where}: unknown runtime {name!r}; expected some of {list(RUNTIMES)}"
            )
        unknown = sorted(set(limits) - set(BOUNDS)) if isinstance(limits, dict) else [limits]
        if unknown:
            raise RuntimeDeclarationError(
                f"{where}[{name!r}]: unknown gate {unknown[0]!r}; expected some of {list(BOUNDS)}"
            )
