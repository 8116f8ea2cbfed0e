"""The report's deployment-runtime section: a table per pair and the book's accuracy-vs-latency plot.

``runtime_section_markdown(doc)`` and ``runtime_section_html(doc)`` take a suite document (a
:class:`~harness.results.model.SuiteDocument` or its JSON data) and return the section, or ``""``
when the run measured no runtime. The plot (chapter 8 of *NLP with Transformers*): accuracy against
batch-1 latency, one colour per runtime, bubble area proportional to the size on disk.
"""

from __future__ import annotations

import html
import math

from ..results.runtimes import REFERENCE, RuntimeRecord
from .figures import data_uri, new_figure, png
from .markdown import escape

MISSING = "–"
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


def records_of(doc) -> list[RuntimeRecord]:
    """The document's runtime records, typed."""
    found = doc.get("runtimes") or [] if isinstance(doc, dict) else doc.runtimes
    return [r if isinstance(r, RuntimeRecord) else RuntimeRecord.model_validate(r) for r in found]


def by_pair(records: list[RuntimeRecord]) -> dict[tuple[str, str], list[RuntimeRecord]]:
    """Records grouped by (checkpoint, approach), in the order they were measured."""
    pairs: dict[tuple[str, str], list[RuntimeRecord]] = {}
    for record in records:
        pairs.setdefault((record.checkpoint, record.approach), []).append(record)
    return pairs


def _number(value, spec: str) -> str:
    return MISSING if value is None else format(value, spec)


def _scaled(share, spec: str, unit: str) -> str:
    """A share shown in points or percent: ``0.0123`` → ``+1.23 pt``."""
    return MISSING if share is None else format(100 * share, spec) + unit


def _gates(record: RuntimeRecord) -> str:
    if not record.gates:
        return MISSING
    failed = [g for g in record.gates if not g.passed]
    if not failed:
        return f"passed ({len(record.gates)})"
    return "; ".join(
        f"{g.metric} {g.value:.4g} {'<' if g.bound == 'min' else '>'} {g.limit:.4g}" for g in failed
    )


def row(record: RuntimeRecord) -> list[str]:
    """The cells of one measured runtime, as text."""
    latency = record.latency_ms
    return [
        record.runtime,
        record.backend or MISSING,
        record.dtype or MISSING,
        _number(record.accuracy, ".4f"),
        _number(record.f1_weighted, ".4f"),
        _scaled(record.accuracy_drop, "+.2f", " pt"),
        _scaled(record.agreement, ".2f", "%"),
        _number(record.max_proba_diff, ".1e"),
        _number(record.size_mb, ",.1f"),
        _number(record.n_parameters, ",d"),
        _number(latency.get("p50"), ".2f"),
        _number(latency.get("p95"), ".2f"),
        _number(record.texts_per_s, ",.1f"),
        _number(record.speedup, ".2f"),
        _number(record.latency_speedup, ".2f"),
        _number(record.peak_memory_mb, ",.0f"),
        _number(record.load_s, ".2f"),
        _gates(record),
    ]


def _context(records: list[RuntimeRecord]) -> str:
    first = next((r for r in records if r.measured), records[0])
    return (
        f"{first.split or 'evaluation'} split, {_number(first.n_examples, 'd')} texts, "
        f"device {first.device}, "
        f"batch {_number(first.batch_size, 'd')}, {_number(first.rounds, 'd')} timing rounds"
    )


def _not_measured(records: list[RuntimeRecord]) -> list[RuntimeRecord]:
    return [r for r in records if not r.measured]


def scatter(records: list[RuntimeRecord], title: str) -> bytes:
    """Accuracy (%) against batch-1 p50 latency (ms), bubble area proportional to the size on disk."""
    fig = new_figure(6.5, 4.2)
    ax = fig.subplots()
    measured = [r for r in records if r.measured and r.latency_ms.get("p50") is not None]
    largest = max((r.size_mb or 0 for r in measured), default=1) or 1
    for record in measured:  # matplotlib's colour cycle: one colour per runtime
        area = 40 + 1200 * (record.size_mb or 0) / largest
        ax.scatter(record.latency_ms["p50"], 100 * record.accuracy, s=area, alpha=0.5, label=record.runtime)
    if measured:
        legend = ax.legend(loc="lower right", fontsize="small", title="size ∝ bubble area")
        legend.get_title().set_fontsize("small")
        for handle in legend.legend_handles:
            handle.set_sizes([40])
        accuracies = [100 * r.accuracy for r in measured]
        low, high = min(accuracies), max(accuracies)
        margin = max(1.0, (high - low) * 0.5)
        ax.set_ylim(low - margin, high + margin)
        latencies = [r.latency_ms["p50"] for r in measured]
        ax.set_xlim(0, max(latencies) * 1.25 if all(map(math.isfinite, latencies)) else None)
    ax.set_xlabel("p50 latency at batch 1 (ms)")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return png(fig)


def runtime_section_markdown(doc) -> str:
    """The section in Markdown: per pair its context, the table and the runtimes not measured (why)."""
    pairs = by_pair(records_of(doc))
    if not pairs:
        return ""
    parts = ["## Deployment runtimes", "", escape(ABOUT), ""]
    for (checkpoint, approach), records in pairs.items():
        parts += [f"### {escape(checkpoint)} · {escape(approach)}", "", escape(_context(records)), ""]
        measured = [r for r in records if r.measured]
        if measured:
            parts.append("| " + " | ".join(escape(h) for h in HEADERS) + " |")
            parts.append("|" + "".join(" --- |" if i < 3 else " ---: |" for i in range(len(HEADERS))))
            parts += ["| " + " | ".join(escape(c) for c in row(r)) + " |" for r in measured]
            parts.append("")
        for record in _not_measured(records):
            parts.append(f"- {record.status}: {escape(record.reason or record.runtime)}")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def runtime_section_html(doc) -> str:
    """The section in HTML: per pair the table, the scatter plot (an embedded PNG) and the runtimes not
    measured; every text is escaped."""
    pairs = by_pair(records_of(doc))
    if not pairs:
        return ""
    e = html.escape
    parts = ['<section id="runtimes">', "<h2>Deployment runtimes</h2>", f"<p>{e(ABOUT)}</p>"]
    for (checkpoint, approach), records in pairs.items():
        title = f"{checkpoint} · {approach}"
        parts += [f'<h3 dir="auto">{e(title)}</h3>', f"<p>{e(_context(records))}</p>"]
        measured = [r for r in records if r.measured]
        if measured:
            head = "".join(f"<th>{e(h)}</th>" for h in HEADERS)
            body = []
            for record in measured:
                cells = row(record)
                tds = [f'<td class="text" dir="auto">{e(c)}</td>' for c in cells[:3]]
                tds += [f'<td class="num">{e(c)}</td>' for c in cells[3:-1]]
                failed = record.status == "failed"
                tds.append(f'<td class="text{" failed" if failed else ""}">{e(cells[-1])}</td>')
                marker = ' class="reference"' if record.runtime == REFERENCE else ""
                body.append(f"<tr{marker}>{''.join(tds)}</tr>")
            parts += [
                '<div class="table-wrap"><table class="runtimes">',
                f"<thead><tr>{head}</tr></thead>",
                f"<tbody>{''.join(body)}</tbody>",
                "</table></div>",
                f'<figure><img class="runtime-scatter" src="{data_uri(scatter(records, title))}" '
                f'alt="{e("Accuracy against batch-1 latency per runtime, bubble area = size: " + title)}">'
                "<figcaption>Accuracy vs batch-1 latency; bubble area ∝ size on disk</figcaption></figure>",
            ]
        missing = _not_measured(records)
        if missing:
            items = "".join(f"<li>{e(r.status)}: {e(r.reason or r.runtime)}</li>" for r in missing)
            parts.append(f'<ul class="not-measured">{items}</ul>')
    parts.append("</section>")
    return "\n".join(parts) + "\n"
