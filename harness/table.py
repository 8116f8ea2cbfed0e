"""The terminal leaderboard printed at the end of a pytest run."""

from __future__ import annotations

from tabulate import tabulate

from .results.model import PairRecord


def _fmt(value, spec: str) -> str:
    return format(value, spec) if value is not None else "—"


def leaderboard(records: list[PairRecord]) -> str:
    """One row per pair record: status, main metrics, fit time, or the reason."""
    rows = []
    for r in sorted(records, key=lambda r: (r.suite, r.checkpoint, r.approach.id)):
        m, t = r.metrics, r.timings
        rows.append(
            [
                r.suite,
                r.checkpoint,
                r.approach.id,
                r.status,
                _fmt(m and m.accuracy, ".3f"),
                _fmt(m and m.f1_weighted, ".3f"),
                _fmt(m and m.f1_macro, ".3f"),
                _fmt(t and t.fit, ".1f") + (" (cached)" if r.cached else ""),
                (r.reason or "")[:90],
            ]
        )
    headers = ["suite", "checkpoint", "approach", "status", "acc", "f1_w", "f1_m", "fit s", "reason"]
    return tabulate(rows, headers=headers, tablefmt="simple")
