"""Source of the small suites that plugin tests run: the tiny dataset, given checkpoints, a body."""

FIXTURES = """
import pytest
from harness import approach_spec

SPEED_SETTINGS = []  # no speed tests: these suites test quality, gates and result files

@pytest.fixture(scope="session")
def dataset(harness):
    return harness.dataset("tiny-emotion")

@pytest.fixture(params=CHECKPOINTS)
def checkpoint(request, harness):
    return harness.checkpoint(request.param)
"""


def suite_source(checkpoints: list[str], body: str) -> str:
    """A suite module: ``CHECKPOINTS``, the ``dataset`` and ``checkpoint`` fixtures, then ``body``."""
    return f"CHECKPOINTS = {[str(c) for c in checkpoints]!r}\n{FIXTURES}\n{body}"
