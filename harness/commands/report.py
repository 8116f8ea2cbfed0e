"""``harness report reports/<suite>.json [--out DIR]``: re-render a suite report from its JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import HarnessError
from ..report import render_suite
from ..results import SuiteDocument, read_json
from . import one_error_path


@one_error_path("report")
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
    out = args.out if args.out is not None else args.results.parent
    document = read_json(args.results, SuiteDocument)  # a bad file: one line, exit 2
    try:
        paths = render_suite(document, out)
    except OSError as e:
        raise HarnessError(f"{e.filename or out}: cannot write the report ({e.strerror or e})") from None
    for path in paths:
        print(path)
    return 0
