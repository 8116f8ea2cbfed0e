"""harness: pytest-style evaluation and benchmarking of Hugging Face text classifiers.

The public API; everything else is internal. Names load on first use, so importing the package (as
the pytest plugin does in every run) imports neither torch nor scikit-learn.
"""

import importlib

__version__ = "0.1.0"
_PUBLIC = {
    "Approach": "harness.engine.approaches.base",
    "ApproachSpec": "harness.engine.approaches",
    "approach_spec": "harness.engine.approaches",
    "register_approach": "harness.engine.approaches",
    "HarnessError": "harness.errors",
    "Runtime": "harness.engine.runtime",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
