"""The regression baseline: the metrics each pair must keep and the throughput to compare with.

A suite's baseline lives next to it, ``suites/baselines/<suite>.json`` (:class:`BaselineDocument`).
A metric regresses when it drops by more than its tolerance: by default the larger of 1 point and
the half-width of the current run's 95% bootstrap CI. Throughput is compared as measured only on the
machine the baseline was taken on, elsewhere only as ``normalized_throughput`` (a ratio to a
reference workload of the same run), and otherwise reported without failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .io import ResultsError, read_json, write_json
from .model import METRICS, BaselineCheck, BaselineDocument, BaselinePair, BaselineResult, BaselineTiming
from .model import Machine, Metrics, SuiteDocument, TimingRecord

MIN_TOLERANCE = 0.01  # one point
TIMING_TOLERANCE = 0.5  # throughput may drop to half its baseline; tighter gates fire on machine noise
EPSILON = 1e-9  # a drop of exactly the tolerance passes despite float rounding


class BaselineError(ResultsError):
    """A baseline file or a tolerance that cannot be used; the message is one line."""


def baseline_path(suite_file, suite: str) -> Path:
    """``<directory of the suite module>/baselines/<suite>.json``."""
    return Path(suite_file).parent / "baselines" / f"{suite}.json"


def machine_fingerprint(environment: dict) -> Machine:
    """What raw timings depend on: CPU model, GPU name and torch version."""
    versions = environment.get("versions") or {}
    return Machine(cpu=environment.get("cpu"), gpu=environment.get("gpu"), torch=versions.get("torch"))


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


def check_timing(
    entry: BaselineTiming | None, record: TimingRecord, machine: Machine, tolerance: float = TIMING_TOLERANCE
) -> dict:
    """Compare one timing record with its baseline entry.

    On the baseline's machine raw ``texts_per_s`` is compared; elsewhere ``normalized_throughput``
    when both sides have it; otherwise the result is ``not-gated`` (reported, never failed).
    Returns ``{status: new|ok|regressed|not-gated, mode, metric, baseline, value, tolerance, passed}``.
    """
    if entry is None:
        return {"status": "new", "mode": None, "passed": True}
    if entry.machine == machine:
        mode, metric = "same-machine", "texts_per_s"
    elif entry.normalized_throughput and record.normalized_throughput:
        mode, metric = "normalized", "normalized_throughput"
    else:
        return {"status": "not-gated", "mode": None, "passed": True}
    baseline, value = float(getattr(entry, metric)), float(getattr(record, metric))
    passed = value >= baseline * (1 - tolerance) - EPSILON
    return {
        "status": "ok" if passed else "regressed",
        "mode": mode,
        "metric": metric,
        "baseline": baseline,
        "value": value,
        "tolerance": tolerance,
        "passed": passed,
    }


def timing_failure_message(record: TimingRecord, result: dict, path) -> str | None:
    """``timing all-MiniLM-L6-v2 inference cpu batch 32 · texts_per_s 80.0 < 50% of baseline 120.0 (...)``."""
    if result["passed"]:
        return None
    share = round((1 - result["tolerance"]) * 100)
    return (
        f"timing {record.checkpoint} {record.task} {record.device} batch {record.batch_size} · "
        f"{result['metric']} {result['value']:.4g} < {share}% of baseline {result['baseline']:.4g} "
        f"({result['mode']}; {path})"
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
