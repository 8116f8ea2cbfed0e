"""The report's figures in the book's style, drawn with matplotlib's Agg canvas into PNG bytes.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot state, no display needed) with
sizes that grow with the data up to :data:`MAX_INCHES`, a fixed dpi and no ``Software`` entry, so the
same data gives the same bytes. Labels are shortened to :data:`LABEL_LIMIT` characters, and the number
of text artists stays bounded: past ``ANNOTATED_CLASSES`` classes the confusion matrix has no cell
values, past ``LISTED_CLASSES`` no class names (its axes count class indices).
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .cells import ANNOTATED_CLASSES, LISTED_CLASSES, one_line, shortened

DPI = 100
MAX_INCHES = 12.0
LABEL_LIMIT = 30  # characters of a class name on an axis
TITLE_LIMIT = 80
BOX_KEYS = ("med", "q1", "q3", "whislo", "whishi", "mean")  # the keys Axes.bxp reads


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(min(width, MAX_INCHES), min(height, MAX_INCHES)), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes, reproducible: fixed dpi, no software/date metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def data_uri(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def label(text, limit: int = LABEL_LIMIT) -> str:
    return shortened(one_line(text), limit)


def class_distribution(counts: dict[str, dict[str, int]]) -> bytes:
    """Horizontal bars of texts per class, fewest first, one panel per split (the book's plot).

    ``counts`` is split → class → texts, for the classes to draw."""
    n_classes = max((len(c) for c in counts.values()), default=0)
    fig = new_figure(4.0 * max(len(counts), 1), max(3.5, 0.18 * n_classes))
    axes = fig.subplots(1, max(len(counts), 1), squeeze=False)[0]
    for ax, (split, per_class) in zip(axes, counts.items(), strict=False):
        ordered = sorted(per_class.items(), key=lambda item: item[1])
        ax.barh(range(len(ordered)), [n for _, n in ordered])
        ax.set_yticks(range(len(ordered)), [label(name) for name, _ in ordered])
        ax.set_title(f"Frequency of Classes ({label(split, TITLE_LIMIT)})")
    fig.tight_layout()
    return png(fig)


def token_lengths(checkpoint: str, per_class: dict) -> bytes:
    """Tokens per text by class as black box plots without fliers (the book's plot), from bxp stats."""
    stats = [
        {"label": label(name), **{k: s[k] for k in BOX_KEYS if k in s}}
        for name, s in per_class.items()
        if all(k in s for k in BOX_KEYS[:5])
    ]
    fig = new_figure(max(6.0, 0.3 * len(stats)), 4.0 if len(stats) <= 10 else 6.0)
    ax = fig.subplots()
    if stats:
        black = {"color": "black"}
        ax.bxp(stats, showfliers=False, boxprops=black, whiskerprops=black, capprops=black, medianprops=black)
        if len(stats) > 10:
            ax.tick_params(axis="x", labelrotation=90)
    ax.set_title(f"Tokens Per Text ({label(checkpoint, TITLE_LIMIT)})")
    ax.grid(False)
    fig.tight_layout()
    return png(fig)


def confusion_matrix(matrix: list[list[float]], labels: list[str]) -> bytes:
    """Row-normalized confusion matrix as the book draws it: Blues, two decimals, no colorbar.

    Past ``ANNOTATED_CLASSES`` classes the cells carry no values, past ``LISTED_CLASSES`` the axes
    count class indices instead of naming the classes."""
    import numpy as np

    n = len(matrix)
    values = np.asarray(matrix, dtype=float)
    size = min(6.0 + 0.2 * max(0, n - 10), MAX_INCHES)
    fig = new_figure(size, size)
    ax = fig.subplots()
    names = [label(name) for name in labels]
    if n <= ANNOTATED_CLASSES:
        from sklearn.metrics import ConfusionMatrixDisplay

        display = ConfusionMatrixDisplay(confusion_matrix=values, display_labels=names)
        display.plot(cmap="Blues", values_format=".2f", ax=ax, colorbar=False)
    else:
        ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
        if n <= LISTED_CLASSES:
            ax.set_xticks(range(n), names, rotation=90, fontsize="small")
            ax.set_yticks(range(n), names, fontsize="small")
            ax.set(xlabel="Predicted label", ylabel="True label")
        else:
            ax.set(xlabel="Predicted label (class index)", ylabel="True label (class index)")
    ax.set_title("Normalized confusion matrix")
    fig.tight_layout()
    return png(fig)


def reliability_diagram(bins: list) -> bytes:
    """Accuracy against mean confidence per confidence bin, with the diagonal of perfect calibration."""
    fig = new_figure(4.5, 5.0)
    ax = fig.subplots()
    ax.bar(
        [(b.low + b.high) / 2 for b in bins],
        [b.accuracy for b in bins],
        width=[b.high - b.low for b in bins],
        edgecolor="black",
        label="accuracy",
    )
    ax.plot(
        [b.confidence for b in bins],
        [b.accuracy for b in bins],
        "o",
        color="black",
        label="bin: mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title="Reliability diagram")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize="small", frameon=False)
    fig.tight_layout()
    return png(fig)


def phase_bars(per_phase: dict[str, tuple[float, float]]) -> bytes:
    """Seconds per kind of phase, most expensive at the top: computed, and read from the cache."""
    ordered = sorted(per_phase.items(), key=lambda item: sum(item[1]))
    fig = new_figure(7.5, max(2.5, 0.35 * len(ordered) + 1.2))
    ax = fig.subplots()
    names = [label(name) for name, _ in ordered]
    computed = [seconds[0] for _, seconds in ordered]
    cached = [seconds[1] for _, seconds in ordered]
    ax.barh(names, computed, color="#1f77b4", label="computed")
    ax.barh(names, cached, left=computed, color="#aec7e8", label="from the cache")
    ax.set(xlabel="seconds", title="Where the time went")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    fig.tight_layout()
    return png(fig)


@dataclass(frozen=True)
class Bubble:
    x: float
    accuracy: float  # 0-1, drawn in %
    size: float  # bubble area is proportional to it
    label: str  # one legend entry (and colour) per label


def bubble_plot(bubbles: list[Bubble], xlabel: str, title: str) -> bytes:
    """The book's chapter-8 plot: accuracy (%) against ``x``, bubble area proportional to ``size``,
    one colour per label (matplotlib's colour cycle)."""
    fig = new_figure(6.5, 4.2)
    ax = fig.subplots()
    largest = max((b.size for b in bubbles), default=1) or 1
    for bubble in bubbles:
        area = 40 + 1200 * bubble.size / largest
        name = label(bubble.label, 2 * LABEL_LIMIT)
        ax.scatter(bubble.x, 100 * bubble.accuracy, s=area, alpha=0.5, label=name)
    if bubbles:
        legend = ax.legend(loc="lower right", fontsize="small", title="size ∝ bubble area")
        legend.get_title().set_fontsize("small")
        for handle in legend.legend_handles:
            handle.set_sizes([40])
        accuracies = [100 * b.accuracy for b in bubbles]
        low, high = min(accuracies), max(accuracies)
        margin = max(1.0, (high - low) * 0.5)
        ax.set_ylim(max(0.0, low - margin), min(100.0, high + margin))
        xs = [b.x for b in bubbles]
        ax.set_xlim(0, max(xs) * 1.25 if all(map(math.isfinite, xs)) else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(label(title), fontsize="medium")
    fig.tight_layout()
    return png(fig)
