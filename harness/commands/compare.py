"""``harness compare A.json B.json``: each pair of one suite results file against the same pair of another."""

from __future__ import annotations

import argparse
import sys

from ..engine import stats
from ..results import ResultsError, SuiteDocument, read_json
from ..engine.compare import ALPHA, DEFAULT_METRICS, compare_pair, not_comparable
from ..results.model import Comparison, PairRecord
from . import one_error_path

def _cell(value) -> str:
    return "–" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


RUN_HEADER = ["", "file", "suite", "run", "commit", "date", "machine", "torch"]
COMPARISON_HEADER = [
    "checkpoint",
    "approach",
    "metric",
    "A",
    "B",
    "A − B",
    "95% CI (paired bootstrap)",
    "McNemar p",
    "A✓B✗ / A✗B✓",
    "examples",
    "winner",
]


def _run_row(label: str, path, document: SuiteDocument) -> list:
    env = document.environment
    machine = " / ".join(str(x) for x in (env.get("cpu"), env.get("gpu")) if x) or None
    commit = env["git_commit"][:10] if env.get("git_commit") else None
    torch_version = (env.get("versions") or {}).get("torch")
    return [
        label,
        path,
        document.suite,
        document.run_id,
        commit,
        env.get("date"),
        machine,
        torch_version,
    ]


def _comparison_row(key: tuple[str, str], c: Comparison) -> list:
    low, high = c.ci
    return [
        *key,
        c.metric,
        f"{c.a_value:.4f}",
        f"{c.b_value:.4f}",
        f"{c.difference:+.4f}",
        f"[{low:+.4f}, {high:+.4f}]",
        f"{c.mcnemar_p:.3g}",
        f"{c.n_discordant[0]} / {c.n_discordant[1]}",
        c.n_examples,
        {"a": "A", "b": "B", None: "–"}[c.winner],
    ]


def compare_files(path_a, path_b, metrics=DEFAULT_METRICS) -> tuple[str, int]:
    """Markdown comparing the pairs of two suite files, and how many pairs were compared."""
    a_doc, b_doc = read_json(path_a, SuiteDocument), read_json(path_b, SuiteDocument)
    a_pairs: dict[tuple[str, str], PairRecord] = {r.key: r for r in a_doc.pairs}
    b_pairs: dict[tuple[str, str], PairRecord] = {r.key: r for r in b_doc.pairs}
    rows, compared, skipped = [], [], []
    for key in sorted(a_pairs.keys() | b_pairs.keys()):
        if key not in b_pairs or key not in a_pairs:
            skipped.append((key, f"only in {path_a if key in a_pairs else path_b}"))
            continue
        reason = not_comparable(a_pairs[key], b_pairs[key], names=("A", "B"))
        if reason:
            skipped.append((key, reason))
            continue
        compared.append(key)
        rows += [_comparison_row(key, c) for c in compare_pair(a_pairs[key], b_pairs[key], metrics)]
    lines = [f"# Comparison: A = {path_a}, B = {path_b}", ""]
    lines += _table(RUN_HEADER, [_run_row("A", path_a, a_doc), _run_row("B", path_b, b_doc)])
    lines += ["", f"## Pairs compared ({len(compared)})", ""]
    if rows:
        lines += _table(COMPARISON_HEADER, rows)
        lines += [
            "",
            f"Winner: the side the difference favours when McNemar's exact p < {ALPHA} and the paired "
            "bootstrap interval excludes 0; – when the difference is not significant.",
        ]
    else:
        lines.append("No pair could be compared.")
    if skipped:
        lines += ["", f"## Not compared ({len(skipped)})", ""]
        lines += [
            f"- {_cell(checkpoint)} · {_cell(approach)}: {why}" for (checkpoint, approach), why in skipped
        ]
    return "\n".join(lines) + "\n", len(compared)


@one_error_path("compare")
def main(argv=None) -> int:
    """0 when pairs were compared, 1 when none could be, 2 for a bad file or usage."""
    parser = argparse.ArgumentParser(
        prog="harness compare",
        description="Compare the pairs of two suite result files (reports/<suite>.json) example by example.",
    )
    parser.add_argument("a", help="suite results file A")
    parser.add_argument("b", help="suite results file B")
    parser.add_argument(
        "--metric",
        action="append",
        choices=stats.CI_METRICS,
        help="metric(s) to compare (repeatable; default: accuracy)",
    )
    args = parser.parse_args(argv)
    markdown, n_compared = compare_files(args.a, args.b, tuple(args.metric or DEFAULT_METRICS))
    sys.stdout.write(markdown)
    return 0 if n_compared else 1

