"""``python -m harness <command> ...``: each command is a module with ``main(argv) -> int``, loaded on use."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "report": "harness.report.cli",
    "compare": "harness.compare",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m harness {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
