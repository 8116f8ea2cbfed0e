"""The ``harness`` command: one subcommand per module of :mod:`harness.commands`, loaded on use.

Every command shares one error path (:func:`one_error_path`): a :class:`~harness.errors.HarnessError`
(bad input: a file, checkpoint, device or option value) is one line on stderr and exit status 2; a
check that ran and failed is exit status 1; success is 0.
"""

from __future__ import annotations

import functools
import importlib
import sys

from ..errors import HarnessError

BAD_INPUT = 2

COMMANDS = {
    "report": "re-render <suite>.md and <suite>.html from a suite results file; no model runs",
    "compare": "compare the pairs of two suite results files example by example (McNemar, bootstrap)",
    "bench": "time feature extraction against the usual ways of running the model",
    "predict": "classify texts with a fitted pair (an exported directory, or a suite's pair from the cache)",
    "export": "write a fitted finetune or features-logreg pair as a directory transformers/joblib load",
    "gpu-check": "the emotion suite, bench --sweep and CUDA unit tests on one GPU, from fp16-stored weights",
}


def one_error_path(name: str):
    """Decorate a command's ``main``: a HarnessError becomes ``harness <name>: <message>`` on stderr,
    printed once, and exit status 2."""

    def decorate(main):
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except HarnessError as e:
                print(f"harness {name}: {e}", file=sys.stderr)
                return BAD_INPUT

        return run

    return decorate


def parser(prog: str, description: str):
    """An argument parser whose usage errors are one line (``harness bench: argument --limit: …``),
    exit 2."""
    import argparse

    class OneLineParser(argparse.ArgumentParser):
        def error(self, message):
            self.exit(BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")

    return OneLineParser(prog=prog, description=description)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (``--limit 0`` would measure nothing)."""
    return _int_from(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0 (0: off)."""
    return _int_from(text, 0, "an integer of at least 0")


def _int_from(text: str, least: int, expected: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: harness <command> [options]   (harness <command> --help for each)", "", "commands:"]
    return "\n".join(lines + [f"  {name:<{width}}  {what}" for name, what in COMMANDS.items()])


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds: temporary directories and half-written files are removed


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command line (not a call from Python): SIGTERM unwinds like Ctrl-C
        import signal

        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"harness: unknown command {argv[0]!r}\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(f"harness.commands.{argv[0].replace('-', '_')}").main(argv[1:])
