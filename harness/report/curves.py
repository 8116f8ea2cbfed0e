"""The report's learning-curve section: accuracy against examples per class (log x), one line per
approach with a ± std band over seeds, references (zero-shot, most-frequent) as dashed lines, and the
table behind it; plus the mean ± std of seeded pairs for the leaderboard.

``learning_curve_view(doc)`` is what the Markdown and HTML reports show (plain text: each renderer
escapes it); None when the suite document has no learning curve.
"""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from ..results.curves import ALL, CurvePoint
from . import figures
from .cells import Cell, Table, text_cell

TITLE = "Learning curve"
ABOUT = (
    "Each approach fitted on class-stratified samples of the train split (the same samples for every "
    "approach at a size and seed), scored on the evaluation split; mean ± sample std over seeds. "
    "References learn nothing from the examples and are scored once. ⚠ marks a spread over seeds "
    "(max − min accuracy) wider than the mean 95% bootstrap CI: training randomness moves the score "
    "more than the evaluation sample does."
)
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
NUMERIC = {2, 3, 5, 6, 7, 8, 9}  # the columns of HEADERS that hold numbers
HEADERS = [
    "checkpoint",
    "approach",
    "examples/class",
    "train examples",
    "seeds",
    "accuracy",
    "F1 macro",
    "accuracy per seed",
    "seed range",
    "CI width",
    "gates",
]


def learning_curves(doc) -> list[CurvePoint]:
    """The document's learning-curve points (typed), from a ``SuiteDocument`` or its JSON data."""
    points = (doc.get("learning_curves") or []) if isinstance(doc, dict) else doc.learning_curves
    return [p if isinstance(p, CurvePoint) else CurvePoint.model_validate(p) for p in points]


def size_text(point: CurvePoint) -> str:
    return "reference" if point.shots is None else str(point.shots)


def spread(values: dict, std: dict, metric: str) -> str:
    """``0.612 ± 0.021``; the ``±`` part only when there is more than one seed."""
    if metric not in values:
        return "—"
    return f"{values[metric]:.3f} ± {std[metric]:.3f}" if metric in std else f"{values[metric]:.3f}"


def metric_with_spread(record, metric: str = "accuracy") -> str | None:
    """A seeded pair's ``mean ± std (n seeds)`` for the leaderboard, with ``⚠`` when its accuracy spread
    over seeds is wider than its bootstrap CI (see :data:`ABOUT`); None for a pair without seeds."""
    seeds = record.get("seeds") if isinstance(record, dict) else getattr(record, "seeds", None)
    if not seeds:
        return None
    summary = seeds["summary"] if isinstance(seeds, dict) else seeds.summary.to_json()
    n = len(seeds["seeds"] if isinstance(seeds, dict) else seeds.seeds)
    flag = " ⚠" if summary.get("spread_exceeds_ci") else ""
    return f"{spread(summary['mean'], summary['std'], metric)} ({n} seeds){flag}"


def curve_rows(points: list[CurvePoint]) -> list[list[str]]:
    """The table behind the plot, as plain (unescaped) text."""
    rows = []
    for p in points:
        s = p.summary
        std = s.std if len(p.seeds) > 1 else {}
        gates = "; ".join(
            f"mean {g.metric} {g.value:.3f} {'≥' if g.passed else '<'} {g.threshold:.3f}" for g in p.gates
        )
        rows.append(
            [
                p.checkpoint,
                p.approach,
                size_text(p),
                str(p.seeds[0].n_train),
                ", ".join("—" if seed.seed is None else str(seed.seed) for seed in p.seeds),
                spread(s.mean, std, "accuracy"),
                spread(s.mean, std, "f1_macro"),
                ", ".join(f"{seed.metrics['accuracy']:.3f}" for seed in p.seeds),
                f"{s.seed_range:.3f}" + (" ⚠" if s.spread_exceeds_ci else ""),
                "—" if s.ci_width is None else f"{s.ci_width:.3f}",
                gates or "—",
            ]
        )
    return rows


def curve_table_text(points: list[CurvePoint]) -> str:
    """The table for a terminal."""
    return tabulate(curve_rows(points), HEADERS, tablefmt="simple", disable_numparse=True)


def _x(point: CurvePoint) -> float:
    """Examples per class: the size, or the train split's mean per class for ``all``."""
    return point.seeds[0].n_train / max(point.n_classes, 1) if point.shots == ALL else float(point.shots)


def curve_figure(points: list[CurvePoint]) -> bytes:
    """Mean accuracy against examples per class (log x), ± std bands, references as dashed lines."""
    several = len({p.checkpoint for p in points}) > 1
    fig = figures.new_figure(7.5, 4.5)
    ax = fig.subplots()
    lines: dict[str, list[CurvePoint]] = {}
    for p in points:
        name = f"{p.approach} · {p.checkpoint.rstrip('/').split('/')[-1]}" if several else p.approach
        lines.setdefault(name, []).append(p)
    ticks: dict[float, str] = {}
    references = ("--", ":", "-.")
    for i, (name, line) in enumerate(lines.items()):
        color = COLORS[i % len(COLORS)]
        if line[0].shots is None:
            style = references[sum(1 for other in list(lines.values())[:i] if other[0].shots is None) % 3]
            ax.axhline(
                line[0].mean["accuracy"],
                linestyle=style,
                linewidth=1.4,
                color=color,
                label=f"{name} (reference)",
            )
            continue
        line = sorted(line, key=_x)
        xs = [_x(p) for p in line]
        mean = [p.mean["accuracy"] for p in line]
        std = [p.std["accuracy"] if len(p.seeds) > 1 else 0.0 for p in line]
        ax.plot(xs, mean, marker="o", color=color, label=name)
        low = [m - s for m, s in zip(mean, std, strict=True)]
        high = [m + s for m, s in zip(mean, std, strict=True)]
        ax.fill_between(xs, low, high, color=color, alpha=0.15, linewidth=0)
        ticks.update({x: ALL if p.shots == ALL else str(p.shots) for x, p in zip(xs, line, strict=True)})
    ax.set_xscale("log")
    if ticks:
        ax.set_xticks(sorted(ticks), [ticks[x] for x in sorted(ticks)])
        ax.minorticks_off()
    ax.set(xlabel="examples per class (log scale)", ylabel="accuracy", title="Accuracy vs labelled examples")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    return figures.png(fig)


@dataclass(frozen=True)
class LearningCurveView:
    table: Table
    points: list[CurvePoint]  # for the figure (HTML)
    answer: list[str]  # the summary's first lines: labels per class each approach needs (curve_answer)


def learning_curve_view(doc) -> LearningCurveView | None:
    """The learning-curve table (its note says what the columns mean) and points; None without curves."""
    points = learning_curves(doc)
    if not points:
        return None
    rows = [
        [Cell(c, numeric=True) if i in NUMERIC else text_cell(c) for i, c in enumerate(row)]
        for row in curve_rows(points)
    ]
    return LearningCurveView(Table(HEADERS, rows, "learning-curve", ABOUT), points, curve_answer(points))


def _size(point: CurvePoint) -> str:
    return "the whole train split" if point.shots == ALL else f"{point.shots} labels per class"


def curve_answer(points: list[CurvePoint]) -> list[str]:
    """The learning curve's answer, one line per approach that learns from labels: how many labels per
    class it needs to match the best zero-shot reference and to reach its best mean accuracy; then the
    best point of the suite. Empty without a learned point."""
    learned = [p for p in points if p.shots is not None]
    if not learned:
        return []
    zero_shot = [p for p in points if p.shots is None and p.zero_shot]
    reference = max(zero_shot, key=lambda p: p.mean["accuracy"], default=None)
    several = len({p.checkpoint for p in points}) > 1
    lines: dict[str, list[CurvePoint]] = {}
    for p in learned:
        name = f"{p.approach} · {p.checkpoint.rstrip('/').split('/')[-1]}" if several else p.approach
        lines.setdefault(name, []).append(p)
    answer = []
    for name, line in lines.items():
        line = sorted(line, key=_x)
        best = max(line, key=lambda p: p.mean["accuracy"])
        first_best = next(p for p in line if p.mean["accuracy"] >= best.mean["accuracy"])
        text = f"{name}: "
        if reference is not None:
            target = reference.mean["accuracy"]
            match = next((p for p in line if p.mean["accuracy"] >= target), None)
            tried = ", ".join(size_text(p) for p in line)
            text += (
                f"matches zero-shot ({target:.3f}) with {_size(match)} ({match.mean['accuracy']:.3f}); "
                if match is not None
                else f"does not match zero-shot ({target:.3f}) at any size tried ({tried} per class); "
            )
        text += f"reaches its best accuracy, {best.mean['accuracy']:.3f}, with {_size(first_best)}."
        answer.append(text)
    top = max(learned, key=lambda p: p.mean["accuracy"])
    references = ""
    if reference is not None:
        references = f" (best zero-shot: {reference.approach}, {reference.mean['accuracy']:.3f})"
    answer.append(
        f"Best: {top.approach} with {_size(top)}, accuracy {top.mean['accuracy']:.3f} "
        f"(mean of {len(top.seeds)} seed{'s' if len(top.seeds) > 1 else ''}){references}."
    )
    return answer
