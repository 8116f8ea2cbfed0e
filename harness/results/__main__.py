"""``python -m harness.results [suite|pair|baseline]``: print the JSON Schema of a results file."""

import json
import sys

from .model import BaselineDocument, PairRecord, SuiteDocument

DOCUMENTS = {"suite": SuiteDocument, "pair": PairRecord, "baseline": BaselineDocument}


def main(argv: list[str]) -> int:
    which = " ".join(argv) or "suite"
    if which not in DOCUMENTS:
        print(f"python -m harness.results: expected one of {list(DOCUMENTS)}, got {which!r}", file=sys.stderr)
        return 2
    print(json.dumps(DOCUMENTS[which].model_json_schema(), indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
