"""What a run's results were computed from: the code, the data and the baseline, as digests.

Shards of one run (``--shard K/N``) on different machines must agree on all of them before
``harness merge`` combines their results. Digests cover contents, never paths: two checkouts of one
commit in different folders agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .cache import examples_digest

PACKAGE = Path(__file__).resolve().parent.parent  # harness/


def code_digest(suite_files: dict[str, Path]) -> str:
    """sha256 of the harness package's Python files and the suite files (``{name as shown: path}``)."""
    digest = hashlib.sha256()
    files = {f"harness/{p.relative_to(PACKAGE).as_posix()}": p for p in PACKAGE.rglob("*.py")}
    for name, path in sorted({**files, **suite_files}.items()):
        digest.update(name.encode() + b"\x00" + Path(path).read_bytes() + b"\x00")
    return digest.hexdigest()


def dataset_digest(dataset) -> str:
    """sha256 of every split's name, texts and labels (a ``DatasetDict``)."""
    digest = hashlib.sha256()
    for split in sorted(dataset):
        part = dataset[split]
        texts, labels = list(part["text"]), list(part["label"])
        digest.update(f"{split}\x00{examples_digest(texts, labels)}\n".encode())
    return digest.hexdigest()


def file_digest(path: Path) -> str | None:
    """sha256 of a file, None when there is none."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
