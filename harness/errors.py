"""The one error the harness shows as a single line: every user-facing error derives from it."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable resource; ``str(error)`` is one line naming the file/field/checkpoint."""


class NonFiniteOutput(HarnessError, ValueError):
    """A model produced NaN or infinite features or probabilities; the message names the first text."""
