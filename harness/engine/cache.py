"""On-disk cache of slow results (features, fine-tuned models, predictions), keyed honestly.

An entry is a directory ``<root>/<kind>/<key[:2]>/<key>/`` holding its files and a ``manifest.json``
with each file's sha256 and a sha256 of the manifest itself, written last. Entries are built in a
hidden temporary directory beside it (``.<key>-*``) and renamed into place (atomic), a file lock per
entry keeps concurrent workers from computing the same entry twice, and every read verifies the
checksums: a corrupt, truncated or edited entry is recomputed with a warning.

A temporary directory whose entry lock nobody holds was left by a killed run: the next store removes
it (a build in progress holds its lock, so concurrent runs never remove each other's). A cache that
cannot be written (a read-only or full file system) does not fail the run: intact entries are still
read, results that are not there are computed and returned without being stored, with one
:class:`CacheWarning`, and nothing half-written is left behind.

In a distributed launch (``torchrun``, ``accelerate launch``) every process runs the same evaluation,
and a fine-tune needs all of them at once: rank 0 alone locks and writes; the other ranks read an
intact entry, else compute alongside rank 0 and keep nothing (waiting for rank 0's lock would hang).

The key is a sha256 of everything that changes the result: callers pass it as keyword parts
(checkpoint fingerprint, data fingerprint, parameters, dtype, device, versions, code).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..results.io import usual_mode

MODES = ("use", "refresh", "off")
MANIFEST = "manifest.json"
BUILD_NAME = re.compile(r"\.([0-9a-f]{12,64})-")  # a temporary build directory: .<key>-<random>
T = TypeVar("T")


class CacheWarning(UserWarning):
    """A cache entry could not be used (corrupt, truncated) or stored; the result is computed."""


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


def _manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest without its own ``sha256`` field: an edited manifest does not match."""
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _lock(path: Path, timeout: float = -1):
    from filelock import FileLock

    return FileLock(str(path), timeout=timeout)


class Cache:
    """The cache; ``mode`` is ``use`` (read and write), ``refresh`` (recompute and overwrite) or ``off``."""

    def __init__(self, root: str | Path | None = None, mode: str = "use"):
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r}: expected one of {MODES}")
        self.root = Path(root) if root is not None else default_root()
        self.mode = mode
        self._refreshed: set[tuple[str, str]] = set()  # refresh recomputes each entry once per run
        self._unwritable: set[str] = set()  # why storing failed: each reason is warned about once
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

    def _verified(self, kind: str, key: str, meta_keys: tuple[str, ...] = ()) -> dict | None:
        """The manifest of a complete, intact entry whose meta has ``meta_keys``; a damaged one (an edited
        and re-hashed manifest lacking a field included) is removed with a warning."""
        path = self.entry_path(kind, key)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            files = manifest["files"]
            intact = (
                manifest["sha256"] == _manifest_digest(manifest)
                and (manifest["kind"], manifest["key"]) == (kind, key)
                and isinstance(manifest["meta"], dict)
                and all(name in manifest["meta"] for name in meta_keys)
                and sorted(files) == [str(p.relative_to(path)) for p in _files(path)]
                and all(_sha256(path / name) == digest for name, digest in files.items())
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            intact = False
        if not intact:
            warnings.warn(f"cache entry {path} is corrupt or incomplete; recomputing it", CacheWarning, 2)
            shutil.rmtree(path, ignore_errors=True)
            return None
        return manifest

    def _store(self, kind: str, key: str, value: T, meta: dict, save: Callable[[T, Path], None]) -> bool:
        """Save into a temporary directory, write the manifest last, rename into place.

        ``False`` (with a warning) when the cache cannot be written; the temporary directory is removed.
        """
        from safetensors import SafetensorError

        final = self.entry_path(kind, key)
        tmp = None
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._remove_abandoned_builds(building=key)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
            tmp.chmod(usual_mode(directory=True))  # a shared cache: the entry gets what the umask gives
            save(value, tmp)
            files = {str(p.relative_to(tmp)): _sha256(p) for p in _files(tmp)}
            manifest = {"kind": kind, "key": key, "files": files, "meta": meta}
            manifest["sha256"] = _manifest_digest(manifest)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            return True
        except (OSError, SafetensorError) as e:
            self._warn_unwritable(e)
            return False
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def _warn_unwritable(self, error: Exception) -> None:
        reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[0]
        if reason not in self._unwritable:
            self._unwritable.add(reason)
            warnings.warn(
                f"cache {self.root} cannot be written ({reason}); results are computed and not stored",
                CacheWarning,
                4,
            )

    def _remove_abandoned_builds(self, building: str) -> None:
        """Remove temporary build directories whose entry lock nobody holds: killed runs left them.

        ``building`` is the key this process holds the lock of (so no one else builds it).
        """
        from filelock import Timeout

        for tmp in self.root.glob("*/*/.*"):
            found = BUILD_NAME.match(tmp.name)
            if found is None or not tmp.is_dir():
                continue
            prefix = found.group(1)
            locks = [p for p in tmp.parent.glob(f"{prefix}*.lock") if not p.name.startswith(building)]
            with contextlib.ExitStack() as held:
                try:
                    for path in locks:
                        held.enter_context(_lock(path, timeout=0))
                except (Timeout, OSError):
                    continue  # a build in progress (or a lock this process cannot take)
                shutil.rmtree(tmp, ignore_errors=True)

    def get(
        self,
        kind: str,
        key: str,
        compute: Callable[[], tuple[T, dict]],
        save: Callable[[T, Path], None],
        load: Callable[[Path], T],
        meta_keys: tuple[str, ...] = (),
    ) -> tuple[T, dict]:
        """The entry's value and meta: ``load(directory)`` of an intact entry, else ``compute() ->
        (value, meta)``, stored with ``save(value, directory)``. An entry whose meta lacks one of
        ``meta_keys`` (what the caller reads) is corrupt. When the cache cannot be written (read-only,
        full) the computed value is returned unstored, with one warning."""
        if not self.enabled:
            return compute()
        if _follows_rank_0():
            return self._follow(kind, key, compute, load, meta_keys)
        with contextlib.ExitStack() as held:
            lock_path = self.entry_path(kind, key).with_suffix(".lock")
            unwritable = None
            try:
                lock_path.parent.mkdir(parents=True, exist_ok=True)
                held.enter_context(_lock(lock_path))
            except OSError as e:  # a read-only cache: read what is there, store nothing
                unwritable = e
            fresh = self.mode == "refresh" and (kind, key) not in self._refreshed
            manifest = None if fresh else self._verified(kind, key, meta_keys)
            if manifest is not None:
                self.hits.append((kind, key))
                return load(self.entry_path(kind, key)), manifest["meta"]
            value, meta = compute()
            self._refreshed.add((kind, key))
            if unwritable is not None:
                self._warn_unwritable(unwritable)
            elif self._store(kind, key, value, meta, save):
                self.stores.append((kind, key))
            return value, meta

    def _follow(self, kind: str, key: str, compute: Callable[[], tuple[T, dict]], load: Callable[[Path], T],
                meta_keys: tuple[str, ...]):
        """:meth:`get` on a rank other than 0: read an intact entry, else compute alongside rank 0 (which
        stores it) and keep nothing; waiting for rank 0's lock would hang the collective."""
        fresh = self.mode == "refresh" and (kind, key) not in self._refreshed
        manifest = None if fresh else self._verified(kind, key, meta_keys)
        if manifest is not None:
            self.hits.append((kind, key))
            return load(self.entry_path(kind, key)), manifest["meta"]
        self._refreshed.add((kind, key))
        return compute()

    def arrays(
        self, kind: str, key: str, compute: Callable[[], tuple[dict[str, np.ndarray], dict]],
        meta_keys: tuple[str, ...] = (),
    ) -> tuple[dict[str, np.ndarray], dict]:
        """Named arrays (stored as safetensors) and their meta; ``compute() -> (arrays, meta)``."""
        from safetensors.numpy import load_file, save_file

        def save(arrays: dict[str, np.ndarray], directory: Path) -> None:
            contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
            save_file(contiguous, str(directory / "arrays.safetensors"))

        def load(directory: Path) -> dict[str, np.ndarray]:
            return load_file(str(directory / "arrays.safetensors"))

        return self.get(kind, key, compute, save, load, meta_keys)


RESULT_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "scikit-learn", "numpy")
RESULT_CODE = ("inference.py", "checkpoints.py", "runtime.py", "evaluation.py", "approaches")  # harness code that computes cached results


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
