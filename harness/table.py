"""The terminal leaderboard printed at the end of a pytest run."""

from __future__ import annotations

from tabulate import tabulate


def _fmt(value, spec: str) -> str:
    return format(value, spec) if value is not None else "—"


def leaderboard(outcomes) -> str:
    """One row per (suite, checkpoint, approach): status, main metrics, fit time, or the reason."""
    rows = []
    for o in sorted(outcomes, key=lambda o: (o.suite, o.checkpoint, o.approach.id)):
        metrics = o.evaluation.metrics if o.evaluation is not None else {}
        timings = o.evaluation.timings if o.evaluation is not None else {}
        rows.append(
            [
                o.suite,
                o.checkpoint,
                o.approach.id,
                o.status,
                _fmt(metrics.get("accuracy"), ".3f"),
                _fmt(metrics.get("f1_weighted"), ".3f"),
                _fmt(metrics.get("f1_macro"), ".3f"),
                _fmt(timings.get("fit"), ".1f"),
                (o.reason or "")[:90],
            ]
        )
    headers = ["suite", "checkpoint", "approach", "status", "acc", "f1_w", "f1_m", "fit s", "reason"]
    return tabulate(rows, headers=headers, tablefmt="simple")
