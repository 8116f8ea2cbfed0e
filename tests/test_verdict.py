"""The run's verdict: every failed test counted and linked, interrupted and crashed work recorded as
incomplete, and a run whose results cannot be written never exits 0."""

import json
import os

import pytest

from .generated_suite import suite_source

SPECS = """
SPECS = [approach_spec("most-frequent"), approach_spec("most-frequent", variant="again")]

@pytest.fixture(params=SPECS, ids=str)
def approach(request):
    return request.param
"""


def _run(pytester, checkpoint, dataset_dir, body: str, *extra):
    pytester.makepyfile(test_tiny=suite_source([checkpoint], SPECS + body))
    args = ["--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=reports", "-p", "no:cacheprovider"]
    return pytester.runpytest_subprocess(*args, *extra)


def _doc(pytester) -> dict:
    return json.loads((pytester.path / "reports" / "tiny.json").read_text(encoding="utf-8"))


def _summary_first_line(pytester) -> str:
    text = (pytester.path / "reports" / "tiny.md").read_text(encoding="utf-8")
    return text.split("## Summary\n\n", 1)[1].splitlines()[0]


def test_the_verdict_counts_every_failed_test_and_links_it(pytester, tiny_checkpoint, dataset_dir):
    result = _run(pytester, tiny_checkpoint, dataset_dir, """
def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)

def test_gate_that_fails(evaluation, gate):
    gate(evaluation, accuracy=1.0)

def test_not_about_a_pair():
    assert False, "a check of the suite's own"
""")
    assert result.ret == 1
    verdict = _doc(pytester)["verdict"]
    assert verdict["status"] == "failed"
    assert verdict["tests"] == {"passed": 2, "failed": 3, "skipped": 0, "unfinished": 0}
    sections = sorted((f["section"], (f["pair"] or {}).get("approach")) for f in verdict["failures"])
    assert sections == [("other", None), ("pair", "most-frequent"), ("pair", "most-frequent-again")]
    assert _summary_first_line(pytester) == "**Failed: 3 of 5 tests failed, 2 passed, 3 failed.**"
    markdown = (pytester.path / "reports" / "tiny.md").read_text(encoding="utf-8")
    assert '<a id="pair-1"></a>' in markdown and "](#pair-1)" in markdown
    html = (pytester.path / "reports" / "tiny.html").read_text(encoding="utf-8")
    assert 'href="#pair-1"' in html and 'id="pair-1"' in html
    result.stdout.fnmatch_lines(["tiny: Failed: 3 of 5 tests failed*"])


def test_a_passing_run_says_so_first(pytester, tiny_checkpoint, dataset_dir):
    result = _run(pytester, tiny_checkpoint, dataset_dir, """
def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
""")
    assert result.ret == 0
    assert _doc(pytester)["verdict"]["status"] == "passed"
    assert _summary_first_line(pytester) == "**Passed: 2 tests, 2 passed.**"


def test_ctrl_c_mid_suite_writes_results_marked_incomplete(pytester, tiny_checkpoint, dataset_dir):
    """The interrupted pair and the pairs never reached are listed; what finished is kept."""
    result = _run(pytester, tiny_checkpoint, dataset_dir, """
def test_quality(evaluation, gate):
    if evaluation.approach.variant == "again":
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a test
    gate(evaluation, accuracy=0.0)

def test_later(evaluation):
    pass
""")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    doc = _doc(pytester)
    verdict = doc["verdict"]
    assert verdict["status"] == "incomplete" and verdict["reason"] == "interrupted"
    unfinished = {u["test"].split("::")[1].replace(f"{tiny_checkpoint}-", ""): u["reason"] for u in verdict["unfinished"]}
    assert unfinished == {
        "test_quality[most-frequent-again]": "interrupted",
        "test_later[most-frequent]": "not run",
        "test_later[most-frequent-again]": "not run",
    }
    pairs = {p["approach"]["id"]: p for p in doc["pairs"]}
    assert pairs["most-frequent"]["metrics"] is not None  # what finished is kept
    assert pairs["most-frequent-again"]["status"] == "failed"
    assert pairs["most-frequent-again"]["reason"].startswith("interrupted: ")
    assert _summary_first_line(pytester).startswith("**Incomplete (interrupted): 4 tests")


@pytest.mark.skipif(not hasattr(os, "kill"), reason="needs signals")
def test_sigterm_writes_results_marked_incomplete(pytester, tiny_checkpoint, dataset_dir):
    result = _run(pytester, tiny_checkpoint, dataset_dir, """
import os, signal

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
    if evaluation.approach.variant == "again":
        os.kill(os.getpid(), signal.SIGTERM)
""")
    assert result.ret != 0
    verdict = _doc(pytester)["verdict"]
    assert verdict["status"] == "incomplete" and verdict["reason"] == "terminated"
    assert [u["reason"] for u in verdict["unfinished"]] == ["terminated"]
    assert "Incomplete (terminated)" in _summary_first_line(pytester)


def test_a_crashed_worker_is_recorded_with_its_pair(pytester, tiny_checkpoint, dataset_dir):
    pytest.importorskip("xdist")
    result = _run(pytester, tiny_checkpoint, dataset_dir, """
import os, signal

def test_quality(evaluation, gate):
    if evaluation.approach.variant == "again":
        os.kill(os.getpid(), signal.SIGKILL)
    gate(evaluation, accuracy=0.0)
""", "-n", "2")
    assert result.ret != 0
    doc = _doc(pytester)
    verdict = doc["verdict"]
    assert verdict["status"] == "incomplete" and verdict["reason"] == "worker crashed"
    assert [(u["reason"], u["pair"]["approach"]) for u in verdict["unfinished"]] == [
        ("worker crashed", "most-frequent-again")
    ]
    pairs = {p["approach"]["id"]: p for p in doc["pairs"]}
    assert pairs["most-frequent"]["status"] == "passed"
    assert pairs["most-frequent-again"]["status"] == "failed"
    assert pairs["most-frequent-again"]["reason"].startswith("worker crashed: ")
    assert _summary_first_line(pytester).startswith("**Incomplete (worker crashed)")


@pytest.mark.skipif(not hasattr(os, "kill"), reason="needs signals")
def test_ctrl_c_under_xdist_writes_results_marked_incomplete(pytester, tiny_checkpoint, dataset_dir):
    """Ctrl-C in a terminal reaches the controller and its workers: here a worker sends SIGINT to the
    controller and is interrupted itself; what the other worker finished is kept."""
    pytest.importorskip("xdist")
    result = _run(pytester, tiny_checkpoint, dataset_dir, """
import os, signal, time
from pathlib import Path

def test_quality(evaluation, gate):
    done = Path("first-pair-done")
    if evaluation.approach.variant == "again":
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:  # the other worker's pair finishes first
            time.sleep(0.05)
        os.kill(os.getppid(), signal.SIGINT)
        raise KeyboardInterrupt
    gate(evaluation, accuracy=0.0)
    done.touch()
""", "-n", "2")
    assert result.ret != 0
    doc = _doc(pytester)
    verdict = doc["verdict"]
    # Ctrl-C races with xdist's own events: the worker's interrupt may reach the controller first (a worker
    # gone down), the test may not have been reported started ("not run"), and a worker may stop before
    # handing over what it computed. Whatever the order, the results are written, incomplete, and every
    # test is accounted for.
    assert verdict["status"] == "incomplete", verdict
    assert verdict["reason"] in ("interrupted", "interrupted, worker crashed"), verdict
    assert sum(verdict["tests"].values()) == 2 and verdict["tests"].get("failed", 0) == 0, verdict
    unfinished = {u["pair"]["approach"]: u["reason"] for u in verdict["unfinished"]}
    assert unfinished["most-frequent-again"] in ("interrupted", "worker crashed", "not run")
    assert verdict["tests"].get("passed", 0) + len(unfinished) == 2  # the first pair: passed, or not seen finish
    pairs = {p["approach"]["id"]: p for p in doc["pairs"]}
    assert pairs["most-frequent-again"]["status"] in ("failed", "skipped")
    first = pairs.get("most-frequent", {"status": "passed"})["status"]
    assert first == ("failed" if "most-frequent" in unfinished else "passed")
    assert _summary_first_line(pytester).startswith("**Incomplete (interrupted")


@pytest.mark.parametrize("blocked", ["file", "read-only"])
def test_results_that_cannot_be_written_fail_the_run_with_one_line(pytester, tiny_checkpoint, dataset_dir, blocked):
    if blocked == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    target = pytester.path / "reports"
    if blocked == "file":
        target.write_text("not a directory")
    else:
        target.mkdir()
        target.chmod(0o555)
    try:
        result = _run(pytester, tiny_checkpoint, dataset_dir, """
def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
""")
    finally:
        target.chmod(0o755)
    assert result.ret == 1
    problems = [line for line in result.outlines if "not written" in line]
    reason = "Not a directory" if blocked == "file" else "Permission denied"
    assert len(problems) == 1 and str(target) in problems[0] and reason in problems[0]
    assert not [line for line in result.outlines if line.startswith(("report: ", "results: "))]


def test_a_timed_out_test_makes_the_run_incomplete():
    """pytest-timeout's signal method fails the test with "Timeout (>Ns) from pytest-timeout."."""
    from _pytest.reports import TestReport

    from harness.pytest.verdict import RunLog

    log = RunLog()
    nodeid = "suites/test_emotion.py::test_quality[m-finetune]"
    log.tests[nodeid] = {"section": "pair", "pair": {"checkpoint": "m", "approach": {
        "name": "finetune", "variant": None, "id": "finetune", "params": {}}}}
    log.collect([nodeid, "suites/test_emotion.py::test_other"])
    for when, outcome, longrepr in [("setup", "passed", None),
                                    ("call", "failed", "Failed: Timeout (>600.0s) from pytest-timeout."),
                                    ("teardown", "passed", None)]:
        log.add(TestReport(nodeid, ("x", 1, "x"), {}, outcome, longrepr, when))
    for when in ("setup", "call", "teardown"):
        log.add(TestReport("suites/test_emotion.py::test_other", ("x", 1, "x"), {}, "passed", None, when))
    verdict = log.verdict("emotion")
    assert (verdict["status"], verdict["reason"]) == ("incomplete", "timed out")
    assert verdict["unfinished"] == [{"test": nodeid, "reason": "timed out",
                                      "pair": {"checkpoint": "m", "approach": "finetune"}}]
    assert verdict["tests"] == {"passed": 1, "failed": 0, "skipped": 0, "unfinished": 1}
    assert list(log.unfinished_pairs("emotion")) == [("m", "finetune")]
