"""``python -m harness report reports/<suite>.json [--out DIR]``: re-render a suite report from its JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report import render_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="harness report",
        description="Render <suite>.md and <suite>.html from a suite results file; no model runs.",
    )
    parser.add_argument("results", type=Path, help="suite results file, e.g. reports/emotion.json")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default: the file's directory)"
    )
    args = parser.parse_args(argv)
    try:
        doc = load_suite(args.results)
    except ReportError as e:
        print(f"harness report: {e}", file=sys.stderr)
        return 1
    for path in render_suite(doc, args.out if args.out is not None else args.results.parent):
        print(path)
    return 0
