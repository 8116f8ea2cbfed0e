"""Temporary working directories ($TMPDIR/harness-<kind>-<pid>-*) that never outlive their run.

The directory is removed on every exit path Python sees (return, exception, Ctrl-C, and SIGTERM,
which the pytest plugin and the commands turn into an exception). A process killed outright (SIGKILL,
out of memory) cannot clean up: the next use removes every such directory whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

_OWNER = re.compile(r"harness-[a-z]+-(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_abandoned(kind: str) -> None:
    """Remove ``harness-<kind>-<pid>-*`` directories of processes that no longer exist."""
    for path in Path(tempfile.gettempdir()).glob(f"harness-{kind}-*"):
        found = _OWNER.match(path.name)
        if found and path.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def scratch_dir(kind: str):
    """A new temporary directory (its path as a str), removed when the block exits in any way."""
    remove_abandoned(kind)
    path = tempfile.mkdtemp(prefix=f"harness-{kind}-{os.getpid()}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
