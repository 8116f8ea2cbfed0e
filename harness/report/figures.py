"""The report's figures in the book's style, drawn with matplotlib's Agg canvas into PNG bytes.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot state, no display needed) with
fixed sizes and dpi, and saved without a ``Software`` entry, so the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
BOX_KEYS = ("med", "q1", "q3", "whislo", "whishi", "mean")  # the keys Axes.bxp reads


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes, reproducible: fixed dpi, no software/date metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def data_uri(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def class_distribution(overview: dict) -> bytes:
    """Horizontal bars of texts per class, fewest first, one panel per split (the book's plot)."""
    splits = overview.get("splits") or {}
    fig = new_figure(4.0 * max(len(splits), 1), 3.5)
    axes = fig.subplots(1, max(len(splits), 1), squeeze=False)[0]
    for ax, (split, info) in zip(axes, splits.items(), strict=False):
        counts = sorted((info.get("class_counts") or {}).items(), key=lambda item: item[1])
        ax.barh([label for label, _ in counts], [n for _, n in counts])
        ax.set_title(f"Frequency of Classes ({split})")
    fig.tight_layout()
    return png(fig)


def token_lengths(checkpoint: str, per_class: dict) -> bytes:
    """Tokens per text by class as black box plots without fliers (the book's plot), from bxp stats."""
    stats = [
        {"label": label, **{k: s[k] for k in BOX_KEYS if k in s}}
        for label, s in per_class.items()
        if all(k in s for k in BOX_KEYS[:5])
    ]
    fig = new_figure(6.0, 4.0)
    ax = fig.subplots()
    if stats:
        black = {"color": "black"}
        ax.bxp(stats, showfliers=False, boxprops=black, whiskerprops=black, capprops=black, medianprops=black)
    ax.set_title(f"Tokens Per Text ({checkpoint})")
    ax.grid(False)
    fig.tight_layout()
    return png(fig)


def confusion_matrix(matrix: list[list[float]], labels: list[str]) -> bytes:
    """Row-normalized confusion matrix as the book draws it: Blues, two decimals, no colorbar."""
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    fig = new_figure(6.0, 6.0)
    ax = fig.subplots()
    display = ConfusionMatrixDisplay(confusion_matrix=np.asarray(matrix, dtype=float), display_labels=labels)
    display.plot(cmap="Blues", values_format=".2f", ax=ax, colorbar=False)
    ax.set_title("Normalized confusion matrix")
    fig.tight_layout()
    return png(fig)


def reliability_diagram(calibration: dict) -> bytes:
    """Accuracy against mean confidence per confidence bin, with the diagonal of perfect calibration."""
    bins = calibration.get("bins") or []
    fig = new_figure(4.5, 5.0)
    ax = fig.subplots()
    ax.bar(
        [(b["low"] + b["high"]) / 2 for b in bins],
        [b["accuracy"] for b in bins],
        width=[b["high"] - b["low"] for b in bins],
        edgecolor="black",
        label="accuracy",
    )
    ax.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        "o",
        color="black",
        label="bin: mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title="Reliability diagram")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize="small", frameon=False)
    fig.tight_layout()
    return png(fig)
