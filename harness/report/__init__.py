"""Suite reports: ``reports/<suite>.md`` and ``reports/<suite>.html`` from a :class:`SuiteDocument`.

The report reads nothing but the typed results model (``harness.results``), so
``python -m harness report reports/<suite>.json`` re-renders it without running a model.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from ..results import SuiteDocument, validate, write_text
from ..results.suite import slug
from .content import build_report
from .html import render_html
from .markdown import escape, leaderboard_markdown, render_markdown

__all__ = ["append_step_summary", "leaderboard_markdown", "render_suite", "report_paths"]


def report_paths(doc: SuiteDocument, out_dir: Path) -> list[Path]:
    """Where :func:`render_suite` writes the suite's report: ``[<suite>.md, <suite>.html]``, named
    like the suite's results file (``<suite>.json``)."""
    name = slug(doc.suite)
    return [Path(out_dir) / f"{name}.md", Path(out_dir) / f"{name}.html"]


def as_saved(doc: SuiteDocument) -> SuiteDocument:
    """The document as it reads back from its JSON file (free-form fields such as parameters become
    JSON values), so the report of a run and the one re-rendered from its saved file are the same.
    Predictions are left out: the report does not show them."""
    data = doc.model_dump(mode="json", exclude={"pairs": {"__all__": {"predictions"}}})
    return validate(data, SuiteDocument, f"suite {doc.suite!r}")


def render_suite(doc: SuiteDocument, out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<suite>.md`` and ``<out_dir>/<suite>.html`` atomically; returns their paths.

    The same document gives the same bytes, apart from the ``Rendered:`` line.
    """
    report = build_report(as_saved(doc))
    md_path, html_path = report_paths(doc, out_dir)
    rendered = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return [
        write_text(md_path, render_markdown(report, rendered, html_path.name)),
        write_text(html_path, render_html(report, rendered)),
    ]


def append_step_summary(doc: SuiteDocument) -> Path | None:
    """Append the Markdown leaderboard to ``$GITHUB_STEP_SUMMARY`` when it is set; returns that file."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as summary:
        summary.write(f"## harness: {escape(doc.suite)}\n\n{leaderboard_markdown(doc)}\n")
    return path
