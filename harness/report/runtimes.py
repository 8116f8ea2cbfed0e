"""The report's deployment-runtime section: a table per pair and the book's accuracy-vs-latency plot.

:func:`runtime_views` turns a suite document's runtime records into one view per pair (plain text,
like :mod:`harness.report.content`); the Markdown and HTML renderers show them after the pairs, and
not at all when the run measured no runtime. The plot (chapter 8 of *NLP with Transformers*):
accuracy against batch-1 latency, one colour per runtime, bubble area proportional to the size on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results import SuiteDocument
from ..results.runtimes import RuntimeRecord
from .cells import MISSING, Cell, Table, num, one_line, plain
from .figures import Bubble, bubble_plot

HEADERS = [
    "runtime",
    "backend",
    "dtype",
    "accuracy",
    "F1 (weighted)",
    "accuracy drop",
    "agreement",
    "max |Δp|",
    "size MiB",
    "parameters",
    "p50 ms (batch 1)",
    "p95 ms (batch 1)",
    "texts/s",
    "× torch-fp32 texts/s",
    "× torch-fp32 p50",
    "memory MiB",
    "load s",
    "gates",
]
ABOUT = (
    "Each runtime runs the same fitted pair on the evaluation split in one process. Accuracy drop and "
    "agreement (share of identical predictions) are against torch-fp32; texts/s at the batch size and "
    "batch-1 latency time tokenization, the model and the probabilities, in interleaved rounds; ratios are "
    "to torch-fp32 in the same rounds. Memory: resident memory the runtime added while loading and "
    "predicting; load: from its artefact on disk to a ready model."
)


def by_pair(records: list[RuntimeRecord]) -> dict[tuple[str, str], list[RuntimeRecord]]:
    """Records grouped by (checkpoint, approach), in the order they were measured."""
    pairs: dict[tuple[str, str], list[RuntimeRecord]] = {}
    for record in records:
        pairs.setdefault((record.checkpoint, record.approach), []).append(record)
    return pairs


def _scaled(share, spec: str, unit: str) -> Cell:
    """A share shown in points or percent: ``0.0123`` → ``+1.23 pt``."""
    return Cell(MISSING if share is None else format(100 * share, spec) + unit, numeric=True)


def _gates(record: RuntimeRecord) -> str:
    if not record.gates:
        return MISSING
    failed = [g for g in record.gates if not g.passed]
    if not failed:
        return f"passed ({len(record.gates)})"
    return "; ".join(
        f"{g.metric} {g.value:.4g} {'<' if g.bound == 'min' else '>'} {g.limit:.4g}" for g in failed
    )


def row(record: RuntimeRecord) -> list[Cell]:
    """The cells of one measured runtime."""
    latency = record.latency_ms
    return [
        plain(record.runtime),
        plain(record.backend),
        plain(record.dtype),
        num(record.accuracy, ".4f"),
        num(record.f1_weighted, ".4f"),
        _scaled(record.accuracy_drop, "+.2f", " pt"),
        _scaled(record.agreement, ".2f", "%"),
        num(record.max_proba_diff, ".1e"),
        num(record.size_mb, ",.1f"),
        num(record.n_parameters, ",d"),
        num(latency.get("p50"), ".2f"),
        num(latency.get("p95"), ".2f"),
        num(record.texts_per_s, ",.1f"),
        num(record.speedup, ".2f"),
        num(record.latency_speedup, ".2f"),
        num(record.peak_memory_mb, ",.0f"),
        num(record.load_s, ".2f"),
        plain(_gates(record)),
    ]


def _context(records: list[RuntimeRecord]) -> str:
    first = next((r for r in records if r.measured), records[0])
    return one_line(
        f"{first.split or 'evaluation'} split, {_count(first.n_examples)} texts, "
        f"device {first.device or MISSING}, batch {_count(first.batch_size)}, "
        f"{_count(first.rounds)} timing rounds{_busy(first.contention)}{_cached(records)}"
    )


def _cached(records: list[RuntimeRecord]) -> str:
    cached = [r.runtime for r in records if r.predictions_cached]
    if not cached:
        return ""
    return (
        f"; predictions of {', '.join(cached)} read from the cache: their scores and memory are the run's "
        "that computed them, the speed is measured now"
    )


def _busy(contention: dict | None) -> str:
    if not contention or not contention.get("seen"):
        return ""
    share = contention.get("runqueue_wait_share") or 0.0
    return (
        f"; busy machine ({share:.0%} of runnable time waiting for a CPU): the speed ratios are "
        "inflated for torch's multi-threaded kernels, measure again on a quiet machine"
    )


def _count(value) -> str:
    return MISSING if value is None else str(value)


def scatter(records: list[RuntimeRecord], title: str) -> bytes:
    """Accuracy (%) against batch-1 p50 latency (ms) of the measured ``records``, bubble area proportional
    to the size on disk."""
    measured = [r for r in records if r.measured and None not in (r.accuracy, r.latency_ms.get("p50"))]
    bubbles = [Bubble(r.latency_ms["p50"], r.accuracy, r.size_mb or 0, r.runtime) for r in measured]
    return bubble_plot(bubbles, "p50 latency at batch 1 (ms)", title)


@dataclass
class RuntimeView:
    anchor: str
    title: str
    context: str  # split, texts, device, batch size, rounds
    table: Table | None  # the measured runtimes, the reference first
    not_measured: list[str]  # "status: reason" of each runtime without numbers
    measured: list[RuntimeRecord]  # for the plot


def runtime_views(doc: SuiteDocument) -> list[RuntimeView]:
    """One view per pair with runtime records, in the order they were measured."""
    views = []
    for i, ((checkpoint, approach), records) in enumerate(by_pair(doc.runtimes).items(), start=1):
        measured = [r for r in records if r.measured]
        table = Table(HEADERS, [row(r) for r in measured], "runtimes") if measured else None
        views.append(
            RuntimeView(
                anchor=f"runtimes-{i}",
                title=one_line(f"{checkpoint} · {approach}"),
                context=_context(records),
                table=table,
                not_measured=[
                    one_line(f"{r.status}: {r.reason or r.runtime}") for r in records if not r.measured
                ],
                measured=measured,
            )
        )
    return views
