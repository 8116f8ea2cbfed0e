"""Runtime gates and what a suite declares: ``RUNTIMES`` and ``RUNTIME_GATES``.

``RUNTIMES`` is a list of runtime names for every declared approach that runs a transformer, or a
dict ``{approach id: [runtime names]}``. ``RUNTIME_GATES`` is ``{runtime name: {gate: limit}}``;
every runtime is gated on :data:`DEFAULTS` unless the suite says otherwise:

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


def declared_runtimes(module, specs) -> dict[str, list[str]]:
    """``{approach id: [runtime names]}`` from the suite's ``RUNTIMES`` (``{}`` without it) for the
    declared approaches ``specs``; approaches that run no transformer get none from a list. Unknown
    names are a one-line error."""
    from .graphs import runs_transformer

    declared = getattr(module, "RUNTIMES", None)
    if declared is None:
        return {}
    where = f"{module.__name__}.RUNTIMES"
    ids = {spec.id: spec for spec in specs}
    if isinstance(declared, dict):
        for key, names in declared.items():
            if key not in ids:
                raise RuntimeDeclarationError(
                    f"{where}: approach {key!r} is not declared; expected one of {sorted(ids)}"
                )
            if not runs_transformer(ids[key].name):
                raise RuntimeDeclarationError(
                    f"{where}: approach {key!r} runs no transformer; runtimes need one"
                )
            _check_names(where, names)
        return {key: list(names) for key, names in declared.items()}
    if not isinstance(declared, (list, tuple)):
        raise RuntimeDeclarationError(f"{where}: expected a list of runtime names or a dict per approach id")
    _check_names(where, declared)
    return {spec.id: list(declared) for spec in specs if runs_transformer(spec.name)}


def runtimes_for(module, spec) -> list[str]:
    """The runtimes the suite declares for one approach: ``[]`` when none, or when it runs no transformer."""
    from .graphs import runs_transformer

    declared = getattr(module, "RUNTIMES", None) or []
    names = declared.get(spec.id, []) if isinstance(declared, dict) else declared
    _check_names(f"{module.__name__}.RUNTIMES", names)
    return list(names) if runs_transformer(spec.name) else []


def _check_names(where: str, names) -> None:
    from .backends import RUNTIMES

    unknown = [name for name in names if name not in RUNTIMES]
    if unknown:
        raise RuntimeDeclarationError(
            f"{where}: unknown runtime {unknown[0]!r}; expected some of {list(RUNTIMES)}"
        )


def declared_gates(module) -> dict[str, dict]:
    """The suite's ``RUNTIME_GATES`` (``{runtime: {gate: limit}}``), checked."""
    from .backends import RUNTIMES

    gates = getattr(module, "RUNTIME_GATES", None) or {}
    where = f"{module.__name__}.RUNTIME_GATES"
    for name, limits in gates.items():
        if name not in RUNTIMES:
            raise RuntimeDeclarationError(
                f"{where}: unknown runtime {name!r}; expected some of {list(RUNTIMES)}"
            )
        unknown = sorted(set(limits) - set(BOUNDS))
        if unknown:
            raise RuntimeDeclarationError(
                f"{where}[{name!r}]: unknown gate {unknown[0]!r}; expected some of {list(BOUNDS)}"
            )
    return gates
