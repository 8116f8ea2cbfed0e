"""scripts/check_lock.py: requirements.lock pins every dependency and extra of pyproject.toml in range."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
check_lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_lock)

PYPROJECT = """
[project]
name = "x"
dependencies = ["transformers>=5,<6", "numpy", "tomli>=1; python_version < '3'"]
[project.optional-dependencies]
bench = ["sentence-transformers>=3,<7"]
"""


def test_the_repository_lock_matches_pyproject():
    command = [sys.executable, str(ROOT / "scripts" / "check_lock.py")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "lock, message",
    [
        (
            "transformers==5.24.0\nnumpy==2.4.6\nsentence-transformers==6.2.0\n",
            None,
        ),
        (
            "transformers==6.0.0\nnumpy==2.4.6\nsentence-transformers==6.2.0\n",
            "requirements.lock pins transformers==6.0.0, outside pyproject.toml's range <6,>=5 "
            "(dependencies); regenerate it with scripts/lock",
        ),
        (
            "Transformers==5.24.0\nnumpy==2.4.6\n",
            "requirements.lock does not pin sentence-transformers (pyproject.toml, extra 'bench': "
            "sentence-transformers<7,>=3); regenerate it with scripts/lock",
        ),
        (
            "# tested\ntransformers>=5.24.0\n",
            "requirements.lock:2: 'transformers>=5.24.0': expected name==version",
        ),
        (
            "numpy==2.4.6\nnumpy==2.4.7\n",
            "requirements.lock:2: numpy is pinned twice",
        ),
    ],
)
def test_check(tmp_path, lock, message):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "requirements.lock").write_text(lock)
    if message is None:
        check_lock.check(tmp_path / "pyproject.toml", tmp_path / "requirements.lock")
        return
    with pytest.raises(check_lock.LockMismatch) as error:
        check_lock.check(tmp_path / "pyproject.toml", tmp_path / "requirements.lock")
    assert str(error.value) == message


def test_a_missing_lock_says_how_to_write_it(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    expected = "^requirements.lock is missing; write it with scripts/lock$"
    with pytest.raises(check_lock.LockMismatch, match=expected):
        check_lock.check(tmp_path / "pyproject.toml", tmp_path / "requirements.lock")


def test_the_locked_torch_has_no_build_label():
    """One lock for the CPU and the CUDA wheel: ``torch==2.13.0`` matches 2.13.0+cpu and 2.13.0+cu130."""
    pins = check_lock.read_lock(ROOT / "requirements.lock")
    assert pins["torch"].local is None
    assert all(version.local is None for version in pins.values())
