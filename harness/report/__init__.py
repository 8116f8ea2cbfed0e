"""Suite reports: ``reports/<suite>.md`` and ``reports/<suite>.html`` from a suite results document.

The document format is ``docs/results.md`` ("Suite results file"); the report depends on nothing else,
so ``python -m harness report reports/<suite>.json`` re-renders it without running a model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

from .html import render_html
from .markdown import escape, leaderboard_markdown, render_markdown

SUITE_KIND = "harness.suite"
SCHEMA_VERSION = 1
_UNSAFE_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9._-]+")

__all__ = [
    "ReportError",
    "append_step_summary",
    "leaderboard_markdown",
    "load_suite",
    "render_suite",
    "report_paths",
]


class ReportError(ValueError):
    """A suite results file that cannot be read or is not one."""


def load_suite(path: Path) -> dict:
    """Read and check a suite results file; raises :class:`ReportError` with a one-line reason."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(doc, dict) or doc.get("kind") != SUITE_KIND:
        found = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise ReportError(f"{path}: not a suite results file (expected kind {SUITE_KIND!r}, found {found!r})")
    if doc.get("schema_version") != SCHEMA_VERSION:
        found = doc.get("schema_version")
        raise ReportError(f"{path}: schema_version {found!r} is not supported, expected {SCHEMA_VERSION}")
    if not isinstance(doc.get("suite"), str) or not isinstance(doc.get("pairs"), list):
        raise ReportError(f"{path}: expected 'suite' (a string) and 'pairs' (a list)")
    bad = [i for i, pair in enumerate(doc["pairs"]) if not isinstance(pair, dict)]
    if bad:
        raise ReportError(f"{path}: pairs[{bad[0]}] is not an object")
    return doc


def _write(path: Path, text: str) -> Path:
    """Write atomically (temporary file, then rename), UTF-8 with ``\\n`` line ends."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(text.encode("utf-8"))
    tmp.replace(path)
    return path


def report_paths(doc: dict, out_dir: Path) -> list[Path]:
    """Where :func:`render_suite` writes the suite's report: ``[<suite>.md, <suite>.html]``."""
    name = _UNSAFE_IN_FILE_NAMES.sub("--", doc.get("suite") or "suite").strip("-.") or "suite"
    return [Path(out_dir) / f"{name}.md", Path(out_dir) / f"{name}.html"]


def render_suite(doc: dict, out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<suite>.md`` and ``<out_dir>/<suite>.html``; returns their paths.

    The document goes through JSON first, so rendering it in the run and re-rendering the saved
    file give the same bytes (apart from the ``Rendered:`` line).
    """
    doc = json.loads(json.dumps(doc, ensure_ascii=False, default=str))
    md_path, html_path = report_paths(doc, out_dir)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    rendered = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return [
        _write(md_path, render_markdown(doc, rendered, html_path.name)),
        _write(html_path, render_html(doc, rendered)),
    ]


def append_step_summary(doc: dict) -> Path | None:
    """Append the Markdown leaderboard to ``$GITHUB_STEP_SUMMARY`` when it is set; returns that file."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as summary:
        summary.write(f"## harness: {escape(doc.get('suite'))}\n\n{leaderboard_markdown(doc)}\n")
    return path
