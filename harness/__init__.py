"""harness: pytest-style evaluation and benchmarking of Hugging Face text classifiers."""

__version__ = "0.1.0"
__all__ = ["approach_spec", "__version__"]


def __getattr__(name):
    # Imported lazily: the pytest plugin loads this package in every pytest run, torch only when used.
    if name == "approach_spec":
        from .approaches import approach_spec

        return approach_spec
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
