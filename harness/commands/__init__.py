"""The ``harness`` command: one subcommand per module of :mod:`harness.commands`, loaded on use."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "report": "re-render <suite>.md and <suite>.html from a suite results file; no model runs",
    "merge": "merge the results of the N shards of a 'pytest --shard K/N' run into one results file and report",
    "compare": "compare the pairs of two suite results files example by example (McNemar, bootstrap)",
    "bench": "time feature extraction against the usual ways of running the model",
    "predict": "classify texts with a fitted pair (an exported directory, or a suite's pair from the cache)",
    "export": "write a fitted finetune or features-logreg pair as a directory transformers/joblib load",
    "gpu-check": "the emotion suite, bench --sweep and CUDA unit tests on one GPU, from fp16-stored weights",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: harness <command> [options]   (harness <command> --help for each)", "", "commands:"]
    return "\n".join(lines + [f"  {name:<{width}}  {what}" for name, what in COMMANDS.items()])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"harness: unknown command {argv[0]!r}\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(f"harness.commands.{argv[0].replace('-', '_')}").main(argv[1:])
