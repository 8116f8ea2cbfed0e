"""``python -m harness.results [suite|pair|baseline|bench|bench-runtimes]``: print the JSON Schema of a
results file."""

import json
import sys

from .bench import BenchDocument, BenchRuntimesDocument
from .model import BaselineDocument, PairRecord, SuiteDocument

DOCUMENTS = {
    "suite": SuiteDocument,
    "pair": PairRecord,
    "baseline": BaselineDocument,
    "bench": BenchDocument,
    "bench-runtimes": BenchRuntimesDocument,
}


def main(argv: list[str]) -> int:
    which = " ".join(argv) or "suite"
    if which not in DOCUMENTS:
        print(f"python -m harness.results: expected one of {list(DOCUMENTS)}, got {which!r}", file=sys.stderr)
        return 2
    print(json.dumps(DOCUMENTS[which].model_json_schema(), indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
