"""Everything the harness writes to disk, as one typed model: read, validated and written only here."""

from . import baseline
from .bench import BenchDocument, BenchRuntimesDocument
from .io import ResultsError, read_json, validate, write_json, write_text
from .model import (
    METRICS,
    SCHEMA_VERSION,
    STATUS_ORDER,
    BaselineDocument,
    Comparison,
    DatasetOverview,
    Metrics,
    PairRecord,
    SuiteDocument,
    TimingRecord,
)

__all__ = [
    "baseline",
    "METRICS",
    "SCHEMA_VERSION",
    "STATUS_ORDER",
    "BaselineDocument",
    "BenchDocument",
    "BenchRuntimesDocument",
    "Comparison",
    "DatasetOverview",
    "Metrics",
    "PairRecord",
    "ResultsError",
    "SuiteDocument",
    "TimingRecord",
    "read_json",
    "validate",
    "write_json",
    "write_text",
]
