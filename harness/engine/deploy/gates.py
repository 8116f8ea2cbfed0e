"""Runtime gates, and checks of what a suite declares in ``RUNTIMES`` and ``RUNTIME_GATES``.

``RUNTIMES`` is a list of runtime names for every declared approach that runs a transformer, or a
dict ``{approach name, id or (checkpoint, id): [runtime names]}``. ``RUNTIME_GATES`` is
``{runtime name: {gate: limit}}`` (or such a dict per approach name, id or pair); every runtime is
gated on :data:`DEFAULTS` unless the suite says otherwise:

- ``accuracy_drop`` (at most; default 0.01, one point): reference accuracy minus the runtime's;
- ``agreement`` (at least; default 0.97): share of predictions identical to the reference's;
- ``max_proba_diff`` (at most): largest |Δ probability| against the reference;
- ``speedup`` (at least): texts/s at the batch size over the reference's, measured in the same rounds;
- ``latency_speedup`` (at least): reference batch-1 p50 latency over the runtime's.
"""

from __future__ import annotations

from ...errors import HarnessError
from ...results.runtimes import REFERENCE, RuntimeGate, RuntimeRecord

BOUNDS = {
    "accuracy_drop": "max",
    "agreement": "min",
    "max_proba_diff": "max",
    "speedup": "min",
    "latency_speedup": "min",
}
DEFAULTS = {"accuracy_drop": 0.01, "agreement": 0.97}
SPEED_GATES = ("speedup", "latency_speedup")


class RuntimeDeclarationError(HarnessError, ValueError):
    """A suite's ``RUNTIMES`` or ``RUNTIME_GATES`` that names an unknown runtime, approach or gate."""


def check(record: RuntimeRecord, thresholds: dict) -> list[RuntimeGate]:
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


def failure_message(label: str, record: RuntimeRecord) -> str | None:
    """``finetune · all-MiniLM-L6-v2 · onnx-int8 · agreement 0.951 < 0.970``, or None when all passed."""
    failed = [
        f"{g.metric} {g.value:.4g} {'<' if g.bound == 'min' else '>'} {g.limit:.4g}"
        for g in record.gates
        if not g.passed
    ]
    return f"{label} · {record.runtime} · " + "; ".join(failed) if failed else None


def check_runtime_names(where: str, names) -> None:
    """Runtime names the harness knows (a one-line error names the first unknown one)."""
    from .backends import RUNTIMES

    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise RuntimeDeclarationError(f"{where}: {names!r}; expected a list of runtime names")
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown:
        raise RuntimeDeclarationError(
            f"{where}: unknown runtime {unknown[0]!r}; expected some of {list(RUNTIMES)}"
        )


def check_runtime_limits(where: str, gates: dict) -> None:
    """``{runtime: {gate: limit}}`` with known runtimes and gates."""
    from .backends import RUNTIMES

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
