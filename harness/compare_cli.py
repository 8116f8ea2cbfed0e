"""Paired comparisons of pairs scored on the same examples: McNemar's exact test and a paired bootstrap.

``compare_records`` compares the pairs of one run (the suite file's ``comparisons``);
``python -m harness compare A.json B.json`` compares each pair of one suite file with the same
(checkpoint, approach) of another (two runs, commits or machines) and prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations

import numpy as np

from . import stats

ALPHA = 0.05
DEFAULT_METRICS = ("accuracy",)


def _name(record: dict) -> dict:
    return {"checkpoint": record["checkpoint"], "approach": record["approach"]["id"]}


def _key(record: dict) -> tuple[str, str]:
    return record["checkpoint"], record["approach"]["id"]


def not_comparable(a: dict, b: dict, names=("a", "b")) -> str | None:
    """Why two pair records cannot be compared example by example, or None when they can."""
    for name, record in zip(names, (a, b), strict=True):
        if not record.get("predictions") or not record.get("metrics"):
            return f"{name} was not evaluated (status {record.get('status')})"
    if a.get("eval_fingerprint") != b.get("eval_fingerprint"):
        return "they scored different examples (eval_fingerprint differs)"
    if a.get("labels") != b.get("labels"):
        return "their label sets differ"
    if a["predictions"]["gold"] != b["predictions"]["gold"]:
        return "their gold labels differ"
    return None


def compare_pair(a: dict, b: dict, metrics=DEFAULT_METRICS, alpha: float = ALPHA) -> list[dict]:
    """One comparison per metric of two evaluated pair records on the same examples (see docs/results.md).

    ``winner`` is the side the difference favours when McNemar's p < ``alpha`` and the 95% paired
    bootstrap interval of the difference excludes 0; otherwise null.
    """
    reason = not_comparable(a, b)
    if reason:
        raise ValueError(f"cannot compare {_key(a)} with {_key(b)}: {reason}")
    gold = np.asarray(a["predictions"]["gold"])
    pred_a, pred_b = np.asarray(a["predictions"]["predicted"]), np.asarray(b["predictions"]["predicted"])
    p_value, discordant = stats.mcnemar_exact(pred_a == gold, pred_b == gold)
    intervals = stats.paired_bootstrap(gold, pred_a, pred_b, len(a["labels"]))
    comparisons = []
    for metric in metrics:
        a_value, b_value = float(a["metrics"][metric]), float(b["metrics"][metric])
        low, high = intervals[metric]
        significant = p_value < alpha and (low > 0 or high < 0)
        difference = a_value - b_value
        comparisons.append(
            {
                "a": _name(a),
                "b": _name(b),
                "metric": metric,
                "a_value": a_value,
                "b_value": b_value,
                "difference": difference,
                "ci": [low, high],
                "mcnemar_p": p_value,
                "n_discordant": list(discordant),
                "n_examples": len(gold),
                "winner": ("a" if difference > 0 else "b") if significant else None,
            }
        )
    return comparisons


def compare_records(records, metrics=DEFAULT_METRICS) -> list[dict]:
    """Every two evaluated records of one run that scored the same examples, in record order."""
    comparisons = []
    for a, b in combinations(records, 2):
        if not_comparable(a, b) is None:
            comparisons.extend(compare_pair(a, b, metrics))
    return comparisons


# --- the command line ---


def load_suite_file(path) -> dict:
    """A suite results file, validated (``harness.schema``), with one record per (checkpoint, approach)."""
    from .schema import ResultsFileError, load_json

    document = load_json(path, "suite")
    seen = set()
    for i, record in enumerate(document["pairs"]):
        if _key(record) in seen:
            raise ResultsFileError(
                f"{path}: pairs[{i}]: {_key(record)} appears twice; expected one record each"
            )
        seen.add(_key(record))
    return document


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


def _run_row(label: str, path, document: dict) -> list:
    env = document.get("environment") or {}
    machine = " / ".join(str(x) for x in (env.get("cpu"), env.get("gpu")) if x) or None
    commit = env["git_commit"][:10] if env.get("git_commit") else None
    torch_version = (env.get("versions") or {}).get("torch")
    return [
        label,
        path,
        document.get("suite"),
        document.get("run_id"),
        commit,
        env.get("date"),
        machine,
        torch_version,
    ]


def _comparison_row(key: tuple[str, str], c: dict) -> list:
    low, high = c["ci"]
    return [
        *key,
        c["metric"],
        f"{c['a_value']:.4f}",
        f"{c['b_value']:.4f}",
        f"{c['difference']:+.4f}",
        f"[{low:+.4f}, {high:+.4f}]",
        f"{c['mcnemar_p']:.3g}",
        f"{c['n_discordant'][0]} / {c['n_discordant'][1]}",
        c["n_examples"],
        {"a": "A", "b": "B", None: "–"}[c["winner"]],
    ]


def compare_files(path_a, path_b, metrics=DEFAULT_METRICS) -> tuple[str, int]:
    """Markdown comparing the pairs of two suite files, and how many pairs were compared."""
    a_doc, b_doc = load_suite_file(path_a), load_suite_file(path_b)
    a_pairs = {_key(r): r for r in a_doc["pairs"]}
    b_pairs = {_key(r): r for r in b_doc["pairs"]}
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


def main(argv=None) -> int:
    """``python -m harness compare A.json B.json``: 0 when pairs were compared, 1 when none could be,
    2 for a bad file or usage."""
    parser = argparse.ArgumentParser(
        prog="python -m harness compare",
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
    from .schema import ResultsFileError

    try:
        markdown, n_compared = compare_files(args.a, args.b, tuple(args.metric or DEFAULT_METRICS))
    except ResultsFileError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown)
    return 0 if n_compared else 1


if __name__ == "__main__":
    sys.exit(main())
