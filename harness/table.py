"""The terminal leaderboard printed at the end of a pytest run."""

from __future__ import annotations

from tabulate import tabulate


def _fmt(value, spec: str) -> str:
    return format(value, spec) if value is not None else "—"


def leaderboard(records) -> str:
    """One row per pair record (docs/results.md): status, main metrics, fit time, or the reason."""
    rows = []
    for r in sorted(records, key=lambda r: (r["suite"], r["checkpoint"], r["approach"]["id"])):
        metrics = r.get("metrics") or {}
        timings = r.get("timings") or {}
        rows.append(
            [
                r["suite"],
                r["checkpoint"],
                r["approach"]["id"],
                r["status"],
                _fmt(metrics.get("accuracy"), ".3f"),
                _fmt(metrics.get("f1_weighted"), ".3f"),
                _fmt(metrics.get("f1_macro"), ".3f"),
                _fmt(timings.get("fit"), ".1f") + (" (cached)" if r.get("cached") else ""),
                (r.get("reason") or "")[:90],
            ]
        )
    headers = ["suite", "checkpoint", "approach", "status", "acc", "f1_w", "f1_m", "fit s", "reason"]
    return tabulate(rows, headers=headers, tablefmt="simple")
