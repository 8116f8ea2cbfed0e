"""Committed baselines: the metrics each (checkpoint, approach) must keep, and throughput to compare with.

A suite's baseline lives next to it, ``suites/baselines/<suite>.json``::

    {"kind": "harness.baseline", "schema_version": 1, "suite": "emotion",
     "pairs": [{"checkpoint", "approach", "n_examples", "metrics": {"accuracy", "f1_weighted", "f1_macro"}}],
     "performance": [{"checkpoint", "task", "device", "dtype", "batch_size", "texts_per_s",
                      "normalized_throughput", "machine": {"cpu", "gpu", "torch"}}]}

A metric regresses when it drops by more than its tolerance: by default the larger of 1 point and
the half-width of the current run's 95% bootstrap CI. Throughput is compared as measured only on the
machine the baseline was taken on, elsewhere only as ``normalized_throughput`` (a ratio to a
reference workload of the same run), and otherwise reported without failing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

KIND = "harness.baseline"
SCHEMA_VERSION = 1
CHECKED_METRICS = ("accuracy", "f1_weighted", "f1_macro")
MIN_TOLERANCE = 0.01  # one point
TIMING_TOLERANCE = 0.5  # throughput may drop to half its baseline; tighter gates fire on machine noise
TIMING_KEY = ("checkpoint", "task", "device", "dtype", "batch_size")
EPSILON = 1e-9  # a drop of exactly the tolerance passes despite float rounding


class BaselineError(ValueError):
    """A baseline file or a tolerance that cannot be used; the message is one line."""


def baseline_path(suite_file, suite: str) -> Path:
    """``<directory of the suite module>/baselines/<suite>.json``."""
    return Path(suite_file).parent / "baselines" / f"{suite}.json"


def machine_fingerprint(environment: dict) -> dict:
    """What raw timings depend on: CPU model, GPU name and torch version."""
    return {
        "cpu": environment.get("cpu"),
        "gpu": environment.get("gpu"),
        "torch": (environment.get("versions") or {}).get("torch"),
    }


@dataclass
class Baseline:
    """A loaded baseline file; ``pairs`` keyed by (checkpoint, approach id), ``performance`` by TIMING_KEY."""

    path: Path
    suite: str
    pairs: dict[tuple[str, str], dict]
    performance: dict[tuple, dict]


_UNSHOWN = object()


def _fail(path, where: str, expected: str, got=_UNSHOWN) -> BaselineError:
    found = "" if got is _UNSHOWN else f", got {'nothing' if got is None else repr(got)}"
    return BaselineError(f"{path}: {where}: expected {expected}{found}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _validate_pair(path, where: str, entry) -> tuple[tuple[str, str], dict]:
    if not isinstance(entry, dict):
        raise _fail(path, where, "an object", type(entry).__name__)
    for name in ("checkpoint", "approach"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise _fail(path, f"{where}.{name}", "a non-empty string", entry.get(name))
    n = entry.get("n_examples")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise _fail(path, f"{where}.n_examples", "a positive integer", n)
    metrics = entry.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise _fail(path, f"{where}.metrics", f"an object with some of {list(CHECKED_METRICS)}", metrics)
    for name, value in metrics.items():
        if name not in CHECKED_METRICS:
            raise _fail(path, f"{where}.metrics", f"only {list(CHECKED_METRICS)}", name)
        if not _is_number(value) or not 0 <= value <= 1:
            raise _fail(path, f"{where}.metrics.{name}", "a number in [0, 1]", value)
    return (entry["checkpoint"], entry["approach"]), entry


def _validate_timing(path, where: str, entry) -> tuple[tuple, dict]:
    if not isinstance(entry, dict):
        raise _fail(path, where, "an object", type(entry).__name__)
    for name in TIMING_KEY:
        if name not in entry:
            raise _fail(path, f"{where}.{name}", "a value (it identifies the timing)")
    if not _is_number(entry.get("texts_per_s")) or entry["texts_per_s"] <= 0:
        raise _fail(path, f"{where}.texts_per_s", "a positive number", entry.get("texts_per_s"))
    normalized = entry.get("normalized_throughput")
    if normalized is not None and (not _is_number(normalized) or normalized <= 0):
        raise _fail(path, f"{where}.normalized_throughput", "a positive number or null", normalized)
    machine = entry.get("machine")
    if not isinstance(machine, dict) or set(machine) != {"cpu", "gpu", "torch"}:
        raise _fail(path, f"{where}.machine", "an object with cpu, gpu and torch", machine)
    return tuple(entry[name] for name in TIMING_KEY), entry


def _keyed(path, entries, field: str, validate) -> dict:
    if not isinstance(entries, list):
        raise _fail(path, field, "a list", type(entries).__name__)
    keyed = {}
    for i, entry in enumerate(entries):
        key, value = validate(path, f"{field}[{i}]", entry)
        if key in keyed:
            raise _fail(path, f"{field}[{i}]", "one entry per key", key)
        keyed[key] = value
    return keyed


def parse(document, path, suite: str) -> Baseline:
    """Validate a decoded baseline document; errors name the file and the field."""
    if not isinstance(document, dict):
        raise _fail(path, "document", "a JSON object", type(document).__name__)
    if document.get("kind") != KIND:
        raise _fail(path, "kind", repr(KIND), document.get("kind"))
    if document.get("schema_version") != SCHEMA_VERSION:
        raise _fail(path, "schema_version", str(SCHEMA_VERSION), document.get("schema_version"))
    if document.get("suite") != suite:
        raise _fail(path, "suite", repr(suite), document.get("suite"))
    return Baseline(
        Path(path),
        suite,
        _keyed(path, document.get("pairs", []), "pairs", _validate_pair),
        _keyed(path, document.get("performance", []), "performance", _validate_timing),
    )


def load(path, suite: str) -> Baseline:
    """The baseline at ``path``; an empty one when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return Baseline(path, suite, {}, {})
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise BaselineError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    return parse(document, path, suite)


def tolerances(configured, metrics: dict) -> dict[str, float]:
    """Allowed drop per checked metric: ``configured`` (a number, or ``{metric: number}`` for some
    metrics) or else max(1 point, half-width of the metric's CI in ``metrics["ci"]``)."""
    if configured is None:
        configured = {}
    elif _is_number(configured):
        configured = dict.fromkeys(CHECKED_METRICS, configured)
    elif not isinstance(configured, dict):
        raise BaselineError(
            f"baseline tolerance: expected a number or {{metric: number}}, got {configured!r}"
        )
    unknown = sorted(set(configured) - set(CHECKED_METRICS))
    if unknown:
        raise BaselineError(
            f"baseline tolerance: unknown metric(s) {unknown}; expected {list(CHECKED_METRICS)}"
        )
    for name, value in configured.items():
        if not _is_number(value) or value < 0:
            raise BaselineError(f"baseline tolerance: {name} must be a number ≥ 0, got {value!r}")
    ci = metrics.get("ci") or {}

    def default(name: str) -> float:
        low, high = ci.get(name, (0.0, 0.0))
        return max(MIN_TOLERANCE, (high - low) / 2)

    return {name: float(configured.get(name, default(name))) for name in CHECKED_METRICS}


@dataclass(frozen=True)
class BaselineCheck:
    metric: str
    baseline: float
    value: float
    tolerance: float
    passed: bool

    def describe(self) -> str:
        if self.metric == "n_examples":
            return (
                f"n_examples {self.value} ≠ baseline {self.baseline} "
                "(the evaluation examples changed; run with --update-baseline)"
            )
        return (
            f"{self.metric} {self.value:.4f} < baseline {self.baseline:.4f} − tolerance {self.tolerance:.4f}"
        )


@dataclass(frozen=True)
class PairCheck:
    """One pair against its baseline entry; ``new`` when the baseline has no entry for it."""

    new: bool
    checks: tuple[BaselineCheck, ...] = ()

    @property
    def status(self) -> str:
        if self.new:
            return "new"
        return "ok" if all(c.passed for c in self.checks) else "regressed"

    def to_dict(self) -> dict:
        return {"status": self.status, "checks": [asdict(c) for c in self.checks]}

    def failure_message(self, label: str, path) -> str | None:
        """``finetune · MiniLM · accuracy 0.9100 < baseline 0.9350 − tolerance 0.0120 (baselines/x.json)``."""
        failed = [c.describe() for c in self.checks if not c.passed]
        return f"{label} · " + "; ".join(failed) + f" ({path})" if failed else None


def check_pair(entry: dict | None, n_examples: int, metrics: dict, configured=None) -> PairCheck:
    """Compare one evaluated pair's metrics with its baseline ``entry`` (None: not in the baseline)."""
    allowed = tolerances(configured, metrics)  # validated even for a new pair
    if entry is None:
        return PairCheck(new=True)
    checks = [
        BaselineCheck(
            name,
            float(entry["metrics"][name]),
            float(metrics[name]),
            allowed[name],
            entry["metrics"][name] - metrics[name] <= allowed[name] + EPSILON,
        )
        for name in CHECKED_METRICS
        if name in entry["metrics"]
    ]
    if entry["n_examples"] != n_examples:
        checks.insert(0, BaselineCheck("n_examples", entry["n_examples"], n_examples, 0, False))
    return PairCheck(new=False, checks=tuple(checks))


def check_timing(
    entry: dict | None, record: dict, machine: dict, tolerance: float = TIMING_TOLERANCE
) -> dict:
    """Compare one timing record with its baseline entry.

    On the baseline's machine raw ``texts_per_s`` is compared; elsewhere ``normalized_throughput``
    when both sides have it; otherwise the result is ``not-gated`` (reported, never failed).
    Returns ``{status: new|ok|regressed|not-gated, mode, metric, baseline, value, tolerance, passed}``.
    """
    if entry is None:
        return {"status": "new", "mode": None, "passed": True}
    if entry["machine"] == machine:
        mode, metric = "same-machine", "texts_per_s"
    elif entry.get("normalized_throughput") and record.get("normalized_throughput"):
        mode, metric = "normalized", "normalized_throughput"
    else:
        return {"status": "not-gated", "mode": None, "passed": True}
    baseline, value = float(entry[metric]), float(record[metric])
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


def timing_failure_message(record: dict, result: dict, path) -> str | None:
    """``timing all-MiniLM-L6-v2 inference cpu batch 32 · texts_per_s 80.0 < 75% of baseline 120.0 (...)``."""
    if result["passed"]:
        return None
    share = round((1 - result["tolerance"]) * 100)
    return (
        f"timing {record['checkpoint']} {record['task']} {record['device']} batch {record['batch_size']} · "
        f"{result['metric']} {result['value']:.4g} < {share}% of baseline {result['baseline']:.4g} "
        f"({result['mode']}; {path})"
    )


def timing_key(record: dict) -> tuple:
    return tuple(record.get(name) for name in TIMING_KEY)


def updated_document(baseline: Baseline, pairs: list[dict], performance: list[dict], machine: dict) -> dict:
    """The baseline with the evaluated ``pairs`` (pair records) and ``performance`` (timing records)
    of this run replacing their entries; entries this run did not produce are kept."""
    entries = dict(baseline.pairs)
    for record in pairs:
        if record.get("metrics") is None:
            continue
        entries[record["checkpoint"], record["approach"]["id"]] = {
            "checkpoint": record["checkpoint"],
            "approach": record["approach"]["id"],
            "n_examples": record["n_examples"],
            "metrics": {name: round(float(record["metrics"][name]), 6) for name in CHECKED_METRICS},
        }
    timings = dict(baseline.performance)
    for record in performance:
        if not _is_number(record.get("texts_per_s")) or record["texts_per_s"] <= 0:
            continue  # nothing to compare with later
        timings[timing_key(record)] = {
            **{name: record[name] for name in TIMING_KEY},
            "texts_per_s": record["texts_per_s"],
            "normalized_throughput": record.get("normalized_throughput"),
            "machine": machine,
        }
    return {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "suite": baseline.suite,
        "pairs": [entries[key] for key in sorted(entries)],
        "performance": [timings[key] for key in sorted(timings, key=repr)],
    }


def update_file(path, suite_document: dict) -> Path:
    """Write a suite results document's pairs and timings into the baseline at ``path``.

    Entries the run did not produce are kept; a file that cannot be used is replaced.
    """
    suite = suite_document["suite"]
    try:
        existing = load(path, suite)
    except BaselineError:
        existing = Baseline(Path(path), suite, {}, {})
    machine = machine_fingerprint(suite_document["environment"])
    return write(
        path, updated_document(existing, suite_document["pairs"], suite_document["performance"], machine)
    )


def write(path, document: dict) -> Path:
    """Write atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
