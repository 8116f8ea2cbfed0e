"""``python -m harness <command>``: the same as the ``harness`` command."""

import sys

from .commands import main

if __name__ == "__main__":
    sys.exit(main())
