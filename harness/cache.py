"""On-disk cache of slow results (features, fine-tuned models, predictions), keyed honestly.

An entry is a directory ``<root>/<kind>/<key[:2]>/<key>/`` holding its files and a ``manifest.json``
with each file's sha256, written last. Entries are built in a temporary directory and renamed into
place (atomic), a file lock per entry keeps concurrent workers from computing the same entry twice,
and every read verifies the checksums: a corrupt or truncated entry is recomputed with a warning.

In a distributed launch (``torchrun``, ``accelerate launch``) every process runs the same evaluation,
and a fine-tune needs all of them at once: rank 0 alone locks and writes; the other ranks read an
intact entry, else compute alongside rank 0 and keep nothing (waiting for rank 0's lock would hang).

The key is a sha256 of everything that changes the result: callers pass it as keyword parts
(checkpoint fingerprint, data fingerprint, parameters, dtype, device, versions, code).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

MODES = ("use", "refresh", "off")
MANIFEST = "manifest.json"


class CacheWarning(UserWarning):
    """A cache entry could not be used (corrupt, truncated) and is being recomputed."""


def _follows_rank_0() -> bool:
    """Whether this process is a rank other than 0 of a distributed launch (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) != 0


def default_root() -> Path:
    """``$HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        return Path(os.environ["HARNESS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "harness"


def cache_key(**parts) -> str:
    """sha256 of the parts as canonical JSON (sorted keys; non-JSON values by ``str``)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


class Cache:
    """The cache; ``mode`` is ``use`` (read and write), ``refresh`` (recompute and overwrite) or ``off``."""

    def __init__(self, root: str | Path | None = None, mode: str = "use"):
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r}: expected one of {MODES}")
        self.root = Path(root) if root is not None else default_root()
        self.mode = mode
        self._refreshed: set[tuple[str, str]] = set()  # refresh recomputes each entry once per run
        self.hits: list[tuple[str, str]] = []  # entries read
        self.stores: list[tuple[str, str]] = []  # entries computed and written

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def stats(self) -> dict:
        """Where the cache is and what this process read from it and wrote to it."""
        return {"root": str(self.root), "mode": self.mode, "hits": len(self.hits), "stores": len(self.stores)}

    def entry_path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def _verified(self, kind: str, key: str) -> dict | None:
        """The manifest of a complete, intact entry; a damaged one is removed with a warning."""
        path = self.entry_path(kind, key)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            files = manifest["files"]
            intact = sorted(files) == [str(p.relative_to(path)) for p in _files(path)] and all(
                _sha256(path / name) == digest for name, digest in files.items()
            )
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            warnings.warn(f"cache entry {path} is corrupt or incomplete; recomputing it", CacheWarning, 2)
            shutil.rmtree(path, ignore_errors=True)
            return None
        return manifest

    def _store(self, kind: str, key: str, build: Callable[[Path], dict | None]) -> dict:
        """Build the entry in a temporary directory, write the manifest last, rename into place."""
        final = self.entry_path(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
        try:
            meta = build(tmp) or {}
            files = {str(p.relative_to(tmp)): _sha256(p) for p in _files(tmp)}
            manifest = {"kind": kind, "key": key, "files": files, "meta": meta}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return manifest

    def entry(self, kind: str, key: str, build: Callable[[Path], dict | None]) -> tuple[Path, dict]:
        """The entry's directory and ``meta``, built by ``build(directory) -> meta`` when missing."""
        if not self.enabled:
            raise RuntimeError("the cache is off; compute without it")
        if _follows_rank_0():
            return self._follow(kind, key, build)
        from filelock import FileLock

        lock_path = self.entry_path(kind, key).with_suffix(".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path)):
            fresh = self.mode == "refresh" and (kind, key) not in self._refreshed
            manifest = None if fresh else self._verified(kind, key)
            if manifest is None:
                manifest = self._store(kind, key, build)
                self._refreshed.add((kind, key))
                self.stores.append((kind, key))
            else:
                self.hits.append((kind, key))
        return self.entry_path(kind, key), manifest["meta"]

    def _follow(self, kind: str, key: str, build: Callable[[Path], dict | None]) -> tuple[Path, dict]:
        """:meth:`entry` on a rank other than 0: read an intact entry, else build it (rank 0 builds it
        too) in a temporary directory that is removed; callers use what ``build`` left in memory."""
        fresh = self.mode == "refresh" and (kind, key) not in self._refreshed
        manifest = None if fresh else self._verified(kind, key)
        if manifest is not None:
            self.hits.append((kind, key))
            return self.entry_path(kind, key), manifest["meta"]
        self._refreshed.add((kind, key))
        with tempfile.TemporaryDirectory(prefix="harness-cache-") as directory:
            return Path(directory), build(Path(directory)) or {}

    def arrays(
        self, kind: str, key: str, compute: Callable[[], tuple[dict[str, np.ndarray], dict]]
    ) -> tuple[dict[str, np.ndarray], dict]:
        """Named arrays (stored as safetensors) and their meta; ``compute() -> (arrays, meta)``."""
        from safetensors.numpy import load_file, save_file

        if not self.enabled:
            return compute()
        computed: dict[str, np.ndarray] = {}

        def build(directory: Path) -> dict:
            arrays, meta = compute()
            computed.update(arrays)
            save_file(
                {k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / "arrays.safetensors")
            )
            return meta

        directory, meta = self.entry(kind, key, build)
        if computed:
            return computed, meta
        return load_file(str(directory / "arrays.safetensors")), meta


RESULT_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "scikit-learn", "numpy")
RESULT_CODE = ("inference.py", "checkpoints.py", "approaches")  # harness code that computes cached results


def environment_parts() -> dict:
    """The library versions and harness code that cached results depend on."""
    from importlib import metadata

    versions = {}
    for name in RESULT_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"versions": versions, "code": _code_digest()}


@functools.cache  # the source does not change within a run
def _code_digest() -> str:
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for name in RESULT_CODE:
        for path in sorted((package / name).rglob("*.py")) if (package / name).is_dir() else [package / name]:
            digest.update(path.relative_to(package).as_posix().encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()


def examples_digest(texts, labels=None) -> str:
    """sha256 of texts (and labels): which examples a result was computed from."""
    digest = hashlib.sha256()
    for i, text in enumerate(texts):
        digest.update(text.encode("utf-8") + b"\x00")
        if labels is not None:
            digest.update(str(int(labels[i])).encode() + b"\n")
    return digest.hexdigest()
