"""The terminal leaderboard printed at the end of a pytest run."""

from __future__ import annotations

from tabulate import tabulate

from ..results.model import PairRecord
from .content import CACHED, throughput


def _fmt(value, spec: str) -> str:
    return format(value, spec) if value is not None else "—"


def _metric(record: PairRecord, name: str) -> str:
    """The metric, or for a pair fitted once per seed its ``mean±std`` over seeds."""
    if record.seeds is not None:
        summary = record.seeds.summary
        return f"{summary.mean[name]:.3f}±{summary.std[name]:.3f}"
    return _fmt(record.metrics and getattr(record.metrics, name), ".3f")


def _timing(value, spec: str, record: PairRecord) -> str:
    """A timing; a cached pair's says that an earlier run measured it."""
    return _fmt(value, spec) + (f" ({CACHED})" if record.cached and value is not None else "")


def leaderboard(records: list[PairRecord]) -> str:
    """One row per pair record: status, main metrics (mean±std over seeds for a seeded pair), fit time
    and predict throughput (where the predict step runs the model), the runtime it ran with, or the reason;
    then what the cached marker means, when a row has one."""
    rows = []
    for r in sorted(records, key=lambda r: (r.suite, r.checkpoint, r.approach.id)):
        t = r.timings
        rows.append(
            [
                r.suite,
                r.checkpoint,
                r.approach.id,
                r.status,
                _metric(r, "accuracy"),
                _metric(r, "f1_weighted"),
                _metric(r, "f1_macro"),
                _timing(t and t.fit, ".1f", r),
                _timing(throughput(r) if t else None, ",.0f", r),
                str(r.runtime) if r.runtime else "—",
                (r.reason or "")[:90],
            ]
        )
    headers = ["suite", "checkpoint", "approach", "status", "acc", "f1_w", "f1_m", "fit s", "predict texts/s",
               "runtime", "reason"]
    table = tabulate(rows, headers=headers, tablefmt="simple")
    if any(r.cached and r.timings for r in records):
        table += f"\n({CACHED}): timings measured by the earlier run that computed the cached predictions"
    return table


def costliest_phases(phases: list, n: int = 5) -> str:
    """The ``n`` most expensive phases of the run (per suite, pair, phase and split), for the terminal."""
    from .budget import phase_totals, seconds_text

    totals = phase_totals(phases)
    if not totals:
        return "where the time went: no phase recorded"
    total = sum(t.seconds for t in totals)
    rows = [
        [t.suite, t.what, t.label, seconds_text(t.seconds), f"{t.seconds / total:.0%}", t.runs,
         f"{t.cached}/{t.runs}" if t.cached else ""]
        for t in totals[:n]
    ]
    headers = ["suite", "pair", "phase", "time", "share", "runs", "cached"]
    head = f"where the time went: the {len(rows)} most expensive of {seconds_text(total)} in phases"
    return head + "\n" + tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
