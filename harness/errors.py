"""The one error the harness shows as a single line: every user-facing error derives from it."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable resource; ``str(error)`` is one line naming the file/field/checkpoint."""
