"""Files keep the user's umask; temporary training directories never outlive their run."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.engine.scratch import scratch_dir
from harness.results.io import write_json, write_text


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_results_and_reports_get_the_permissions_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        json_path = write_json(tmp_path / "suite.json", {"a": 1})
        text_path = write_text(tmp_path / "deep" / "suite.md", "# report\n")
    finally:
        os.umask(previous)
    assert (json_path.stat().st_mode & 0o777, text_path.stat().st_mode & 0o777) == (mode, mode)


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_scratch_dir_is_removed_on_error_and_interrupt(own_tmp):
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), scratch_dir("finetune") as path:
            assert Path(path).is_dir() and Path(path).parent == own_tmp
            raise error()
        assert not Path(path).exists()


SCRIPT = """
import os, signal, sys, time
from harness.commands import _exit_on_sigterm
from harness.engine.scratch import scratch_dir

signal.signal(signal.SIGTERM, _exit_on_sigterm)
with scratch_dir("finetune") as path:
    print(path, flush=True)
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(30)
"""


def _killed(own_tmp, how: str) -> tuple[int, Path]:
    env = {**os.environ, "TMPDIR": str(own_tmp), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, how], capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, Path(done.stdout.strip())


def test_a_terminated_run_removes_its_training_dir(own_tmp):
    code, path = _killed(own_tmp, "SIGTERM")
    assert code == 128 + signal.SIGTERM and path.parent == own_tmp and not path.exists()


def test_a_killed_runs_training_dir_is_removed_by_the_next_run(own_tmp):
    code, path = _killed(own_tmp, "SIGKILL")
    assert code == -signal.SIGKILL and path.is_dir()  # nothing can clean up after SIGKILL...
    (own_tmp / "harness-finetune-not-a-pid").mkdir()  # (not ours: kept)
    with scratch_dir("finetune") as fresh:
        assert not path.exists()  # ...so the next run does
    assert sorted(p.name for p in own_tmp.iterdir()) == ["harness-finetune-not-a-pid"]
    assert not Path(fresh).exists()
