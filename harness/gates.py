"""Quality gates: minimum values for metrics, with readable failure reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass

GATED_METRICS = ("accuracy", "f1_weighted", "f1_macro")


@dataclass(frozen=True)
class GateResult:
    metric: str
    threshold: float
    value: float

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check(metrics: dict, **thresholds: float) -> list[GateResult]:
    """Compare ``metrics`` with minimum ``thresholds`` (``accuracy=0.9`` means accuracy ≥ 0.9)."""
    unknown = sorted(set(thresholds) - set(GATED_METRICS))
    if unknown:
        raise ValueError(f"gate: unknown metric(s) {unknown}; expected some of {list(GATED_METRICS)}")
    return [GateResult(name, float(minimum), float(metrics[name])) for name, minimum in thresholds.items()]


def failure_message(label: str, results: list[GateResult]) -> str | None:
    """``finetune · all-MiniLM-L6-v2 · accuracy 0.871 < 0.900``, or None when every gate passed."""
    failed = [f"{r.metric} {r.value:.3f} < {r.threshold:.3f}" for r in results if not r.passed]
    return f"{label} · " + "; ".join(failed) if failed else None
