"""The HTML report: one self-contained file (inline CSS, figures as PNG data URIs, no script, no network)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from . import figures
from .budget import ABOUT as BUDGET_ABOUT
from .checkpoints import CheckpointView
from .content import ROW_LIMIT, DatasetView, PairView, Report
from .curves import curve_figure
from .runtimes import ABOUT, RuntimeView, scatter


def template_environment() -> Environment:
    """Jinja2 with autoescaping on: every dataset text is escaped where it is written."""
    return Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def dataset_figures(dataset: DatasetView) -> dict:
    """Data URIs: ``classes`` (class distribution) and ``tokens`` (checkpoint → box plot)."""
    return {
        "classes": figures.data_uri(figures.class_distribution(dataset.distribution))
        if dataset.distribution
        else None,
        "tokens": {
            lengths.checkpoint: figures.data_uri(figures.token_lengths(lengths.checkpoint, lengths.stats))
            for lengths in dataset.token_lengths
        },
    }


def pair_figures(pair: PairView) -> dict:
    """Data URIs: ``confusion`` (confusion matrix) and ``reliability`` (when calibration was recorded)."""
    calibration = pair.record.calibration
    return {
        "confusion": figures.data_uri(figures.confusion_matrix(pair.matrix, pair.labels))
        if pair.matrix
        else None,
        "reliability": figures.data_uri(figures.reliability_diagram(calibration.bins[:ROW_LIMIT]))
        if calibration is not None and calibration.bins
        else None,
    }


def runtime_figure(view: RuntimeView) -> str | None:
    """Data URI of the pair's accuracy-vs-latency plot, when a runtime was measured."""
    return figures.data_uri(scatter(view.measured, view.title)) if view.measured else None


def checkpoint_figure(view: CheckpointView | None) -> str | None:
    """Data URI of the accuracy-vs-throughput-vs-size plot across checkpoints and approaches."""
    if view is None or not view.bubbles:
        return None
    plot = figures.bubble_plot(view.bubbles, view.xlabel, "Accuracy vs speed vs size")
    return figures.data_uri(plot)


def render_html(report: Report, rendered: str) -> str:
    """The whole report as one HTML page; ``rendered`` is the render time line."""
    template = template_environment().get_template("suite.html.j2")
    return template.render(
        report=report,
        rendered=rendered,
        dataset_figures=[dataset_figures(d) for d in report.datasets],
        pair_figures={p.anchor: pair_figures(p) for p in report.pairs},
        runtimes_about=ABOUT,
        runtime_figures={v.anchor: runtime_figure(v) for v in report.runtimes},
        checkpoint_figure=checkpoint_figure(report.checkpoints),
        curve_figure=figures.data_uri(curve_figure(curve.points)) if (curve := report.learning_curve) else None,
        budget_about=BUDGET_ABOUT,
        budget_figure=(
            figures.data_uri(figures.phase_bars(report.budget.per_phase)) if report.budget else None
        ),
    )
