"""``harness merge RESULTS... --out DIR``: the shards of a ``pytest --shard K/N`` run as one run.

Writes ``<suite>.json`` (with its record files), ``<suite>.md`` and ``<suite>.html`` per suite into
``DIR`` and, under GitHub Actions, appends the leaderboard to the job summary; with
``--update-baseline BASELINES`` (e.g. ``suites/baselines``) the merged run's pairs and timings go into
``BASELINES/<suite>.json`` as ``pytest --update-baseline`` on one machine would. Exit status: 0 when
the merged run passes, 1 when a test, gate, baseline or timing check of any shard failed (as
``pytest suites/ --benchmark`` on one machine would), 2 for bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.compare import compare_records
from ..errors import HarnessError
from ..report import append_step_summary, render_suite
from ..results import SuiteDocument, read_json
from ..results.baseline import update_file
from ..results.io import ResultsError
from ..results.shards import failures, merge_shards
from ..results.suite import slug, write_suite


def _files(paths: list[Path]) -> list[Path]:
    """The given files, and the ``*.json`` directly inside given folders (a shard's --report-dir)."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ResultsError(f"{path}: no <suite>.json in this folder; expected a shard's --report-dir")
            files += found
        else:
            files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="harness merge",
        description="Merge the results of the N shards of a 'pytest --shard K/N' run into one suite results "
        "file and report per suite; the exit status gates the merged run.",
    )
    parser.add_argument("results", type=Path, nargs="+",
                        help="every shard's <suite>.json, or the shards' report folders")
    parser.add_argument("--out", type=Path, required=True, help="where the merged results and report go")
    parser.add_argument("--update-baseline", type=Path, metavar="BASELINES",
                        help="write the merged run's pairs and timings into BASELINES/<suite>.json "
                        "(the suites' baselines folder, e.g. suites/baselines)")
    args = parser.parse_args(argv)
    try:
        documents = [(path, read_json(path, SuiteDocument)) for path in _files(args.results)]
        merged = merge_shards(documents, compare_records)
        written = {}
        for doc in merged:
            written[doc.suite] = write_suite(args.out, doc)[:1] + render_suite(doc, args.out)
            append_step_summary(doc)
            if args.update_baseline is not None:
                written[doc.suite].append(update_file(args.update_baseline / f"{slug(doc.suite)}.json", doc))
    except HarnessError as e:
        print(f"harness merge: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = e.filename or args.out
        print(f"harness merge: {where}: cannot be written ({e.strerror or e})", file=sys.stderr)
        return 2
    failed = False
    for doc in merged:
        problems = failures(doc)
        failed = failed or bool(problems)
        tests = len(doc.tests)
        verdict = f"{len(problems)} failure(s)" if problems else "passed"
        print(f"{doc.suite}: {len(doc.shards)} shards, {tests} tests, {len(doc.pairs)} pairs: {verdict}")
        for problem in problems:
            print(f"  {problem}")
        print("  " + ", ".join(map(str, written[doc.suite])))
    return 1 if failed else 0
