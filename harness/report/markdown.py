"""The Markdown report: every table of the HTML report (figures only in the HTML), safe for untrusted text."""

from __future__ import annotations

import re
from urllib.parse import quote

from tabulate import tabulate

from ..results import SuiteDocument
from .budget import ABOUT as BUDGET_ABOUT
from .budget import TITLE as BUDGET_TITLE
from .cells import Cell, Table, one_line
from .content import Report, leaderboard, no_pairs_text, problems, verdict_line
from .runtimes import ABOUT

_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]|~]")
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2069"


def escape(text) -> str:
    """Inline text made inert: one line, Markdown punctuation and HTML characters escaped.

    Markdown renderers pass raw HTML through, so ``<``, ``>`` and ``&`` become entities; ``|`` and
    ``\\`` are escaped so a table row keeps its columns. Text with explicit bidi controls is wrapped in
    an isolate so it cannot reorder the rest of its line.
    """
    line = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(), one_line(text))
    line = re.sub("[&<>]", lambda m: _HTML_SPECIAL[m.group()], line)
    if _BIDI_CONTROLS.search(line):
        line = FIRST_STRONG_ISOLATE + line + POP_DIRECTIONAL_ISOLATE
    return line


def cell(c: Cell) -> str:
    text = escape(c.text)
    text = f"[{text}](#{quote(c.link)})" if c.link else text
    return f"**{text}**" if c.best else text


def anchor(name: str) -> str:
    """An explicit anchor a link of the summary can reach (Markdown headings' own ids vary by renderer)."""
    return f'<a id="{quote(name)}"></a>'


def table(t: Table | None, empty: str = "None.") -> str:
    """A pipe table, with its note (what was left out, what a dash means) in italics below it."""
    if t is None or not t.rows:
        return f"_{empty}_"
    align = ["right" if c.numeric else "left" for c in t.rows[0]]
    rows = [[cell(c) for c in row] for row in t.rows]
    text = tabulate(
        rows, [escape(h) for h in t.headers], tablefmt="pipe", disable_numparse=True, colalign=align
    )
    return text + (f"\n\n_{escape(t.note)}_" if t.note else "")


def leaderboard_markdown(doc: SuiteDocument) -> str:
    """The leaderboard table, then the skipped and failed pairs with their reasons."""
    parts = [f"**{escape(verdict_line(doc))}**", table(leaderboard(doc), no_pairs_text(bool(doc.learning_curves)))]
    skipped = problems(doc)
    if skipped is not None:
        parts += ["Skipped and failed pairs:", table(skipped)]
    return "\n\n".join(parts) + "\n"


def _facts(facts: list[tuple[str, str]]) -> str:
    return "\n".join(f"- **{escape(name)}:** {escape(value)}" for name, value in facts)


def _answer(report: Report) -> list[str]:
    """A learning-curve suite's summary opens with its answer and the curve's table."""
    curve = report.learning_curve
    if curve is None or not curve.answer:
        return []
    answer = "\n".join(f"- {escape(line)}" for line in curve.answer)
    return ["How many labels per class:", answer, "Learning curve (the figure is in the HTML report):",
            table(curve.table)]


def _summary(report: Report) -> list[str]:
    s = report.summary
    best = ["Best pair per metric:", table(s.best, report.no_pairs)]
    if s.best is None and report.learning_curve is not None:
        best = []  # the learning curve above is the answer
    parts = [f"**{escape(s.verdict)}**"] if s.verdict else []
    if s.verdict_tests is not None:
        parts += ["Failed and unfinished tests:", table(s.verdict_tests)]
    parts += [
        *_answer(report),
        escape(s.counts),
        *best,
        "Fastest checkpoint per device and task (from the performance records):",
        table(s.fastest, "No performance records in this run."),
    ]
    if s.problems is not None:
        parts += ["Skipped and failed pairs:", table(s.problems)]
    if s.baseline is not None:
        parts.append(escape(s.baseline))
    if report.checkpoints is not None:
        parts.append(escape(report.checkpoints.answer))
    return parts


def _checkpoints(report: Report) -> list[str]:
    """The checkpoint comparison, or nothing when no approach ran on two checkpoints."""
    view = report.checkpoints
    if view is None:
        return []
    return [
        "## Checkpoints",
        escape(view.answer),
        table(view.table),
        "Paired comparisons between checkpoints with the same approach (McNemar, paired bootstrap):",
        table(view.comparisons, "No two checkpoints scored the same examples."),
    ]


def _datasets(report: Report) -> list[str]:
    if not report.datasets:
        return ["_No dataset overview in this run._"]
    parts = []
    for d in report.datasets:
        parts.append(f"### Dataset {escape(d.name)}")
        if d.warnings:
            parts += ["**Data warnings:**", "\n".join(f"- **{escape(line)}**" for line in d.warnings)]
        parts += ["Split sizes and texts per class:", table(d.splits)]
        if d.class_counts is not None:
            parts.append(table(d.class_counts))
        for lengths in d.token_lengths:
            about = f"{escape(lengths.checkpoint)} tokenizer, {escape(lengths.split)} split"
            parts += [f"Tokens per text by class ({about}):", table(lengths.per_class)]
        if d.exceeding is not None:
            parts += ["Texts longer than the model's maximum input (truncated):", table(d.exceeding)]
        parts.append(f"Texts that appear with conflicting gold labels: {d.n_conflicting}")
        if d.duplicates_brief is not None:
            parts.append(table(d.duplicates_brief))
    return parts


def _pair(pair) -> list[str]:
    parts = [f"{anchor(pair.anchor)}\n\n### {escape(pair.title)}", _facts(pair.facts)]
    if pair.gates is not None:
        parts += ["Gates:", table(pair.gates)]
    if pair.baseline_status is not None:
        parts += [f"Baseline: {escape(pair.baseline_status)}", table(pair.baseline, "No baseline checks.")]
    parts += [
        pair.confusion_caption,
        table(pair.confusion),
        "Per class:",
        table(pair.per_class),
        "Worst-loss examples:",
        table(pair.worst),
        "Best-loss examples:",
        table(pair.best),
    ]
    if pair.calibration_summary is not None:
        parts.append(f"Calibration: {escape(pair.calibration_summary)}")
    if pair.calibration is not None:
        parts.append(table(pair.calibration))
    if pair.suspects is not None:
        parts += [
            f"Label-issue suspects ({escape(pair.suspects.rule)}):",
            table(pair.suspects.per_class),
            table(pair.suspects.examples, "No suspect examples."),
        ]
    return parts


def _runtimes(report: Report) -> list[str]:
    """The deployment-runtime section, or nothing when the run measured no runtime."""
    if not report.runtimes:
        return []
    parts = [anchor("runtimes"), "## Deployment runtimes", escape(ABOUT)]
    for view in report.runtimes:
        parts += [f"### Runtimes of {escape(view.title)}", escape(view.context)]
        parts.append(table(view.table, "No runtime measured."))
        if view.not_measured:
            parts.append("\n".join(f"- {escape(line)}" for line in view.not_measured))
    return parts


def _budget(report: Report) -> list[str]:
    """Where the time went (the figure is in the HTML report), or nothing when no phase was recorded."""
    if report.budget is None:
        return []
    total = f"{report.budget.total_s:.1f} s in all"
    return [f"## {BUDGET_TITLE}", f"{escape(BUDGET_ABOUT)} {total}.", table(report.budget.table)]


def render_markdown(report: Report, rendered: str, html_name: str) -> str:
    """The whole report; ``rendered`` is the render time line, ``html_name`` the HTML report beside it."""
    parts = [
        f"# harness report: {escape(report.suite)}",
        f"Rendered: {escape(rendered)}",
        f"Figures (class distribution, token lengths, confusion matrices, reliability diagrams, "
        f"accuracy vs speed vs size): "
        f"[{escape(html_name)}]({quote(html_name)})",
        "## Summary",
        *_summary(report),
        "## Leaderboard",
        table(report.leaderboard, report.no_pairs),
        *_checkpoints(report),
        "## Run",
        _facts(report.facts),
        f"Versions: {escape(report.versions)}",
        "## Dataset overview",
        *_datasets(report),
        "## Pairs",
    ]
    for pair in report.pairs:
        parts += _pair(pair)
    if not report.pairs:
        parts.append(f"_{escape(report.no_pairs)}_")
    if report.learning_curve is not None:
        parts.append(anchor("learning-curve"))  # failed curve tests link here
        if not report.learning_curve.answer:
            parts += ["## Learning curve", table(report.learning_curve.table)]
    parts += [
        "## Comparisons",
        table(report.comparisons, "No comparisons in this run."),
        anchor("performance"),
        "## Performance",
        table(report.performance, "No performance records in this run."),
        *(["### GPU vs CPU", table(report.gpu_vs_cpu)] if report.gpu_vs_cpu else []),
        *_runtimes(report),
        *_budget(report),
    ]
    return "\n\n".join(parts) + "\n"
