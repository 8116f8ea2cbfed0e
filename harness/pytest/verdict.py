"""The run's verdict per suite: every test outcome, failure and unfinished test, seen where reports arrive.

In a plain run that is the one process; under xdist it is the controller, which sees every worker's
reports but collects nothing itself: each worker attaches what its tests are about (their pair, their
section of the report) to its first report, so a test whose worker crashed is still placed.
An interrupted (SIGINT, SIGTERM) or crashed run is *incomplete*: each test that did not finish is
listed with the reason, and its pair is recorded as failed with that reason rather than left out.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ABOUT_KEY = "harness-tests"  # user_properties key of the tests map a worker sends with its first report
CRASHED = "crashed while running"  # what xdist writes into the report of a test whose worker died
TIMEOUT = "Timeout"  # how a per-test timeout (pytest-timeout) starts its failure message


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that pytest finishes the session and the results are written."""


def on_sigterm(signum, frame):
    raise Terminated("terminated (SIGTERM)")


def install_sigterm_handler():
    """Turn SIGTERM into an interrupt (main thread only); returns the previous handler, or None."""
    try:
        return signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: leave the signal alone
        return None


def restore_sigterm_handler(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def suite_of(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem.removeprefix("test_")


def about(item) -> dict:
    """What a test is about: its report section and, for a test of one pair, the pair's record skeleton."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    checkpoint = params.get("checkpoint")
    spec = params.get("approach", params.get("curve_approach"))
    if item.name.startswith("test_harness_speed"):
        section = "performance"
    elif "deploy_runtime" in params:
        section = "runtimes"
    elif "curve_approach" in params:
        section = "learning-curve"
    elif checkpoint is not None and hasattr(spec, "id"):
        section = "pair"
    else:
        section = "other"
    found = {"section": section}
    if checkpoint is not None and hasattr(spec, "id"):
        found["pair"] = {
            "checkpoint": str(checkpoint),
            "approach": {"name": spec.name, "variant": spec.variant, "id": spec.id,
                         "params": _plain(spec.params_for(str(checkpoint)))},
        }
    return found


def _plain(params: dict) -> dict:
    plain = (str, int, float, bool, type(None))
    return {str(k): v if isinstance(v, plain) else repr(v) for k, v in params.items()}


def message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "failed")
    lines = text.removeprefix("Failed: ").strip().splitlines()
    return lines[0] if lines else "failed"


@dataclass(eq=False)  # registered as a plugin: hashable by identity
class RunLog:
    """Every test's outcome as reports arrive, and the tests of the run (a pytest plugin object)."""

    worker: bool = False  # an xdist worker only sends what its tests are about
    tests: dict[str, dict] = field(default_factory=dict)  # node id -> about(item)
    collected: list[str] = field(default_factory=list)
    started: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    outcomes: dict[str, str] = field(default_factory=dict)  # node id -> passed | failed | skipped
    failures: dict[str, str] = field(default_factory=dict)  # node id -> first failure message
    unfinished: dict[str, str] = field(default_factory=dict)  # node id -> crashed / timed out
    interrupted: str | None = None  # "interrupted" or "terminated"

    def collect(self, nodeids) -> None:
        seen = set(self.collected)
        self.collected += [n for n in nodeids if n not in seen]

    def pytest_collection_finish(self, session):
        self.tests.update({item.nodeid: about(item) for item in session.items})
        self.collect(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.collect(ids)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        if self.worker and self.tests:  # the first report of a worker carries what every test is about
            report.user_properties.append((ABOUT_KEY, self.tests))
            self.tests = {}

    @pytest.hookimpl(tryfirst=True)  # before junitxml & co. see the tests map, which is taken off the report
    def pytest_runtest_logreport(self, report):
        if not self.worker:
            self.add(report)

    def pytest_keyboard_interrupt(self, excinfo):
        self.interrupted = "terminated" if isinstance(excinfo.value, Terminated) else "interrupted"

    def add(self, report) -> None:
        properties = getattr(report, "user_properties", [])
        for key, value in [p for p in properties if p[0] == ABOUT_KEY]:
            self.tests.update(value)
            properties.remove((key, value))
        self.started.add(report.nodeid)
        outcome, current = report.outcome, self.outcomes.get(report.nodeid)
        if current != "failed" and (outcome == "failed" or report.when == "call" or current is None):
            self.outcomes[report.nodeid] = outcome
        if report.failed:
            text = message(report)
            self.failures.setdefault(report.nodeid, text)
            if CRASHED in text:
                self.unfinished[report.nodeid] = "worker crashed"
            elif text.startswith(TIMEOUT):
                self.unfinished[report.nodeid] = "timed out"
        if report.when == "teardown" or CRASHED in str(report.longrepr or ""):
            self.finished.add(report.nodeid)

    def not_finished(self) -> dict[str, str]:
        """Node id -> reason, for each test that did not finish (in collection order)."""
        found = dict(self.unfinished)
        if self.interrupted:
            for nodeid in [*self.collected, *self.started]:
                if nodeid not in self.finished and nodeid not in found:
                    found[nodeid] = self.interrupted if nodeid in self.started else "not run"
        return found

    def verdict(self, suite: str) -> dict:
        """The suite's verdict as JSON-ready data (``harness.results.model.Verdict``)."""
        unfinished = {n: r for n, r in self.not_finished().items() if suite_of(n) == suite}
        ids = [n for n in dict.fromkeys([*self.collected, *self.outcomes]) if suite_of(n) == suite]
        counts = {status: 0 for status in ("passed", "failed", "skipped", "unfinished")}
        for nodeid in ids:
            outcome = "unfinished" if nodeid in unfinished else self.outcomes.get(nodeid)
            if outcome in counts:
                counts[outcome] += 1
        failures = [
            {"test": n, "message": m, **self._place(n)}
            for n, m in self.failures.items()
            if suite_of(n) == suite and n not in unfinished
        ]
        listed = [{"test": n, "reason": r, "pair": self._place(n)["pair"]} for n, r in unfinished.items()]
        reasons = set(unfinished.values()) - {"not run"}
        reasons = sorted(reasons | ({self.interrupted} if self.interrupted else set()))
        status = "incomplete" if reasons else "failed" if failures else "passed"
        return {"status": status, "reason": ", ".join(reasons) or None, "tests": counts,
                "failures": failures, "unfinished": listed}

    def _place(self, nodeid: str) -> dict:
        found = self.tests.get(nodeid, {})
        pair = found.get("pair")
        key = {"checkpoint": pair["checkpoint"], "approach": pair["approach"]["id"]} if pair else None
        return {"section": found.get("section", "other"), "pair": key}

    def unfinished_pairs(self, suite: str) -> dict[tuple[str, str], tuple[dict, str]]:
        """(checkpoint, approach id) -> (pair skeleton, reason) for each pair with an unfinished test; a
        reason other than "not run" wins."""
        pairs = {}
        for nodeid, reason in self.not_finished().items():
            pair = self.tests.get(nodeid, {}).get("pair")
            key = (pair["checkpoint"], pair["approach"]["id"]) if pair else None
            if not pair or suite_of(nodeid) != suite:
                continue
            if key not in pairs or pairs[key][1].startswith("not run"):
                pairs[key] = (pair, f"{reason}: {nodeid}")
        return pairs


def with_unfinished_suites(fragments: list[dict], log: RunLog) -> list[dict]:
    """``fragments`` plus an empty part for each suite whose pair tests all went unfinished, so that it
    still gets a results file saying so."""
    suites = {suite_of(n) for n, found in log.tests.items() if found.get("pair")}
    suites &= {suite_of(n) for n in log.not_finished()}
    missing = suites - {suite for fragment in fragments for suite in fragment["suites"]}
    if not fragments or not missing:
        return fragments
    empty = {"pairs": [], "datasets": {}, "performance": [], "runtimes": []}
    extra = {**fragments[0], "cache": {**fragments[0]["cache"], "hits": 0, "stores": 0},
             "suites": {suite: dict(empty) for suite in missing}, "baseline_files": {}}
    return [*fragments, extra]


def apply(doc, log: RunLog):
    """``doc`` with its verdict, and a record for each pair that did not finish: failed with the reason
    (interrupted, terminated, worker crashed, timed out); skipped as "not run" when it was never reached."""
    from ..results.model import PairRecord, Verdict

    pairs = {p.key: p for p in doc.pairs}
    for key, (skeleton, reason) in log.unfinished_pairs(doc.suite).items():
        status = "skipped" if reason.startswith("not run") else "failed"
        found = pairs.get(key)
        if found is None:
            pairs[key] = PairRecord.model_validate(
                {**skeleton, "suite": doc.suite, "status": status, "reason": reason, "split": None,
                 "n_examples": None, "metrics": None, "timings": None, "environment": doc.environment}
            )
        elif status == "failed" and found.status != "failed":
            pairs[key] = found.model_copy(update={"status": "failed", "reason": reason})
    verdict = Verdict.model_validate(log.verdict(doc.suite))
    return doc.model_copy(update={"pairs": [pairs[k] for k in sorted(pairs)], "verdict": verdict})
