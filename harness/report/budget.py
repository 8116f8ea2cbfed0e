"""The report's "Where the time went" section: the run's phases (``SuiteDocument.phases``) summed per
pair, phase and split, most expensive first, and per kind of phase for the figure.

A phase's seconds are its own (the phases inside it are counted apart), so the rows add up to the
time the run spent in the harness. Rows whose result came from the cache say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results.model import PhaseRecord
from .cells import MISSING, ROW_LIMIT, Cell, Table, plain, title

TITLE = "Where the time went"
ABOUT = (
    "Every phase of the run, timed where it ran (its own seconds: the phases inside it are counted "
    "apart, so the rows add up). Summed per pair, phase and split, most expensive first; "
    "\"cached\" counts the runs of a phase whose result was read from the cache."
)


@dataclass(frozen=True)
class PhaseTotal:
    """One row: a phase of a pair (or of the run) summed over its runs (seeds, training sizes, ...)."""

    suite: str
    what: str  # the pair, the checkpoint of a speed measurement, or "run"
    phase: str
    split: str | None
    seconds: float
    runs: int
    cached: int  # runs whose result came from the cache

    @property
    def label(self) -> str:
        return self.phase + (f" ({self.split})" if self.split else "")


@dataclass
class BudgetView:
    total_s: float
    table: Table
    per_phase: dict[str, tuple[float, float]]  # phase → (computed seconds, seconds of cached runs)


def _what(record: PhaseRecord) -> str:
    if record.approach:
        return title(record.checkpoint or "", record.approach)
    return record.checkpoint.rsplit("/", 1)[-1] if record.checkpoint else "run"


def phase_totals(phases: list[PhaseRecord]) -> list[PhaseTotal]:
    """Phases summed per (suite, pair, phase, split), most expensive first."""
    sums: dict[tuple, list] = {}
    for record in phases:
        key = (record.suite or "", _what(record), record.phase, record.split)
        found = sums.setdefault(key, [0.0, 0, 0])
        found[0] += record.seconds
        found[1] += 1
        found[2] += bool(record.cached)
    totals = [PhaseTotal(*key, seconds, runs, cached) for key, (seconds, runs, cached) in sums.items()]
    return sorted(totals, key=lambda t: (-t.seconds, t.suite, t.what, t.label))


def seconds_text(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def budget_view(phases: list[PhaseRecord]) -> BudgetView | None:
    """The section's table and figure data; None when the run recorded no phase."""
    if not phases:
        return None
    totals = phase_totals(phases)
    total_s = sum(t.seconds for t in totals)
    rows = [
        [
            plain(t.what),
            plain(t.label),
            Cell(f"{t.seconds:.1f}", numeric=True),
            Cell(f"{t.seconds / total_s:.1%}" if total_s else MISSING, numeric=True),
            Cell(str(t.runs), numeric=True),
            Cell(str(t.cached), numeric=True),
        ]
        for t in totals[:ROW_LIMIT]
    ]
    left_out = len(totals) - ROW_LIMIT
    note = f"{left_out} cheaper rows left out (the JSON keeps every phase)" if left_out > 0 else None
    per_phase: dict[str, list[float]] = {}
    for record in phases:
        part = per_phase.setdefault(record.phase, [0.0, 0.0])
        part[1 if record.cached else 0] += record.seconds
    table = Table(["pair", "phase", "seconds", "share", "runs", "cached"], rows, "budget", note)
    return BudgetView(total_s, table, {name: (a, b) for name, (a, b) in per_phase.items()})
