"""``harness gpu-check`` on the CPU: steps under a time cap, the fp16 copy, one summary file."""

import json
import shutil
import sys

import pytest
import torch

from harness.commands import gpu_check
from harness.commands.gpu_check import Step, run_step

SUITE = """
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = ["org/tiny"]
APPROACHES = [approach_spec("most-frequent"), approach_spec("features-logreg", pooling="mean")]
GATES = {"features-logreg-mean": {"accuracy": 0.0}}
SPEED_SETTINGS = [("cpu", "fp32")]
SPEED_TASKS = ["extraction"]
SPEED_TEXTS = 4


def test_quality(evaluation, gate):
    gate(evaluation)
"""
UNIT_TESTS = """
def test_runs_on_cuda_when_there_is_one():
    pass

def test_about_something_else():
    raise AssertionError("not selected by gpu-check")
"""


def test_a_step_over_its_cap_is_stopped_with_sigterm_first(tmp_path):
    ended = tmp_path / "ended"
    code = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: (open({str(ended)!r}, 'w').write('term'), sys.exit(3)))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    step = run_step(Step("slow", [sys.executable, "-c", code], limit_s=2), tmp_path)
    assert (step.status, step.returncode) == ("timeout", 3)
    assert 2 <= step.seconds < 15
    assert ended.read_text() == "term"  # it could still write what it had
    assert (tmp_path / "slow.log").read_text() == "started\n"


def test_step_status_follows_pytest_exit_codes(tmp_path):
    for code, status in ((0, "passed"), (1, "failed"), (5, "none-selected")):
        command = [sys.executable, "-c", f"raise SystemExit({code})"]
        assert run_step(Step(f"exit{code}", command, 30), tmp_path).status == status


@pytest.mark.slow  # three subprocesses (suite, bench with a sweep, unit tests): about a minute
def test_gpu_check_on_cpu_runs_every_step_from_an_fp16_copy(
    tiny_checkpoint, dataset_dir, tmp_path, monkeypatch, capsys
):
    source = tmp_path / "models"
    shutil.copytree(tiny_checkpoint, source / "org" / "tiny")
    monkeypatch.setenv("HARNESS_MODEL_DIR", str(source))
    (tmp_path / "test_tiny.py").write_text(SUITE)
    (tmp_path / "unit").mkdir()
    (tmp_path / "unit" / "test_unit.py").write_text(UNIT_TESTS)
    out = tmp_path / "out"
    argv = [
        "--device", "cpu", "--checkpoint", "org/tiny", "--out", str(out),
        "--suite", str(tmp_path / "test_tiny.py"), "--tests", str(tmp_path / "unit"),
        "--data-dir", str(dataset_dir.parent), "--dataset", "tiny-emotion",
        "--bench-limit", "24", "--sweep", "8", "--suite-timeout", "240", "--bench-timeout", "240",
    ]
    assert gpu_check.main(argv) == 0, (out / "suite.log").read_text()[-3000:]

    summary = json.loads((out / "gpu-check.json").read_text())
    assert summary["verdict"] == "passed"
    assert summary["checkpoint"]["stored_dtype"] == "fp16"
    assert summary["checkpoint"]["location"] == str((out / "models" / "org" / "tiny").resolve())
    suite, bench, unit = summary["steps"]
    assert [s["status"] for s in summary["steps"]] == ["passed"] * 3
    assert suite["figures"]["tests"]["passed"] == 3  # two pairs, one speed test
    assert suite["figures"]["texts_per_s"]["tiny extraction cpu fp32"] > 0
    assert {p["stored_dtype"] for p in suite["figures"]["pairs"].values()} == {"fp16"}
    assert suite["figures"]["pairs"]["tiny features-logreg-mean"]["accuracy"] > 0
    assert bench["figures"]["texts_per_s"]["harness-fp32"] > 0
    assert "cpu fp32" in bench["figures"]["sweep_best_texts_per_s"]
    assert unit["figures"]["tests"]["passed"] == 1  # the test about something else was not selected
    markdown = (out / "gpu-check.md").read_text()
    assert markdown.startswith("# GPU check: passed\n")
    assert "| suite | passed |" in markdown and "org/tiny stored in fp16" in markdown
    assert capsys.readouterr().out == markdown


def test_write_fp16_copy_only(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_MODEL_DIR", str(tiny_checkpoint.parent))
    target = tmp_path / "carry"
    assert gpu_check.main(["--checkpoint", tiny_checkpoint.name, "--write-fp16-copy", str(target)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {target / tiny_checkpoint.name} (fp16-stored, ")
    assert sorted(p.name for p in (target / tiny_checkpoint.name).iterdir()) == sorted(
        p.name for p in tiny_checkpoint.iterdir()
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_a_gpu_cuda_is_one_line(tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path / "out")]) == 2
    expected = "harness gpu-check: --device cuda: CUDA is not available on this machine\n"
    assert capsys.readouterr().err == expected
