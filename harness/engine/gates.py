"""Quality gates: minimum values for metrics, with readable failure reasons."""

from __future__ import annotations

from ..errors import HarnessError
from ..results.model import METRICS, GateResult, Metrics


class GateError(HarnessError, ValueError):
    """A gate that names no gated metric."""


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
    failed = [f"{r.metric} {r.value:.3f} < {r.threshold:.3f}" for r in results if not r.passed]
    return f"{label} · " + "; ".join(failed) if failed else None
