"""The one error the harness shows as a single line: every user-facing error derives from it."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable resource; ``str(error)`` is one line naming the file/field/checkpoint."""


class NonFiniteOutput(HarnessError, ValueError):
    """A model produced NaN or infinite features or probabilities; the message names the first text."""


class UsageError(HarnessError, ValueError):
    """A command-line value that cannot be used (``--limit 0``, a suite without runtimes)."""


class NotApplicable(HarnessError):
    """A pair that cannot run by its nature (e.g. an NLI approach on a checkpoint without an entailment
    head): the test is skipped with this one-line reason, not failed."""
