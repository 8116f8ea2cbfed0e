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


# One checkpoint's four approaches; three of them read the same features.
FOUR_APPROACHES = """
SPECS = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="cls"),
    approach_spec("features-logreg", pooling="mean"),
    approach_spec("features-logreg", pooling="mean", C=0.1, variant="mean-c0.1"),
]

@pytest.fixture(params=SPECS, ids=str)
def approach(request):
    return request.param

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
"""


def cache_entries(cache_dir) -> list[str]:
    """The complete entries of a cache folder, as ``<key[:2]>/<key>``."""
    return sorted(
        p.parent.name + "/" + p.name for p in cache_dir.glob("*/*/*") if (p / "manifest.json").is_file()
    )
