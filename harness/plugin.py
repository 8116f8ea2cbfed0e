"""pytest plugin: options, fixtures and hooks that turn a suite into evaluations and result files.

A suite defines three fixtures: ``dataset`` (``harness.dataset("emotion")``), ``checkpoint``
(parametrized over ids, ``harness.checkpoint(request.param)``) and ``approach`` (parametrized
over :func:`harness.approach` specs). Tests then take ``evaluation`` and ``gate``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .results import STATUS_ORDER

if TYPE_CHECKING:
    from .session import HarnessSession

_SESSION = pytest.StashKey["HarnessSession"]()


def pytest_addoption(parser):
    group = parser.getgroup("harness", "text-classifier evaluation harness")
    group.addoption(
        "--benchmark",
        action="store_true",
        default=False,
        help="run the full suites: expensive approaches (features, fine-tuning) and their gates",
    )
    group.addoption("--report-dir", default="reports", help="where result files go (default: reports/)")
    group.addoption("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    group.addoption(
        "--data-dir",
        default=None,
        help="directory of local dataset mirrors, <dir>/<name>/ (default: $HARNESS_DATA_DIR)",
    )
    group.addoption(
        "--model-dir",
        default=None,
        help="directory of local checkpoints, <dir>/<id>/ (default: $HARNESS_MODEL_DIR)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "expensive: runs only with --benchmark")


def pytest_collection_modifyitems(config, items):
    if config.option.benchmark:
        return
    skip = pytest.mark.skip(reason="expensive: run with --benchmark")
    for item in items:
        if item.get_closest_marker("expensive"):
            item.add_marker(skip)


def _session(config) -> HarnessSession:
    if _SESSION not in config.stash:
        from .checkpoints import select_device
        from .session import HarnessSession, Settings

        option = config.option
        report_dir = Path(option.report_dir)
        config.stash[_SESSION] = HarnessSession(
            Settings(
                benchmark=option.benchmark,
                report_dir=report_dir
                if report_dir.is_absolute()
                else Path(config.invocation_params.dir) / report_dir,
                device=str(select_device(option.device)),
                data_dir=option.data_dir or os.environ.get("HARNESS_DATA_DIR") or None,
                model_dir=option.model_dir or os.environ.get("HARNESS_MODEL_DIR") or None,
                root=Path(config.rootpath),
            )
        )
    return config.stash[_SESSION]


def suite_name(module) -> str:
    return module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


class Harness:
    """The ``harness`` fixture: what a suite's own fixtures call."""

    def __init__(self, session):
        self._session = session

    def dataset(self, name: str, labels=None):
        """``DatasetDict`` for a known name, hub id or local directory."""
        return self._session.dataset(name, labels)

    def checkpoint(self, checkpoint_id: str):
        """The resolved checkpoint, or a skip whose reason says how to provide it."""
        from .checkpoints import CheckpointUnavailable

        try:
            return self._session.resolve(checkpoint_id)
        except CheckpointUnavailable as e:
            pytest.skip(str(e))


@pytest.fixture(scope="session")
def harness(request) -> Harness:
    return Harness(_session(request.config))


@pytest.fixture(scope="session")
def train_split() -> str:
    return "train"


@pytest.fixture(scope="session")
def eval_split() -> str:
    return "validation"


@pytest.fixture
def evaluation(request, harness, dataset, checkpoint, approach, train_split, eval_split):
    """The pair's fitted and scored :class:`~harness.evaluation.Evaluation`, computed once per run."""
    session = _session(request.config)
    if approach.expensive and not session.settings.benchmark:
        pytest.skip(f"{approach.id} is expensive: run with --benchmark")
    return session.evaluate(
        suite_name(request.module), dataset, checkpoint, approach, train_split, eval_split
    )


@pytest.fixture
def gate(request):
    """``gate(evaluation, accuracy=0.9, f1_weighted=0.9)``: fail with a readable reason, record the result."""
    from .gates import check, failure_message

    session = _session(request.config)

    def _gate(evaluation, **thresholds):
        results = check(evaluation.metrics, **thresholds)
        session.outcome(evaluation.suite, evaluation.checkpoint.id, evaluation.approach).gates.extend(results)
        message = failure_message(evaluation.label, results)
        if message:
            pytest.fail(message, pytrace=False)

    return _gate


def _pair(item):
    params = getattr(getattr(item, "callspec", None), "params", {})
    checkpoint, spec = params.get("checkpoint"), params.get("approach")
    if checkpoint is None or not hasattr(spec, "id"):
        return None
    return suite_name(item.module), str(checkpoint), spec


def _reason(report) -> str | None:
    if report.skipped and isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(report.longrepr)
        return text.removeprefix("Failed: ").strip().splitlines()[0] if text.strip() else "failed"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    pair = _pair(item)
    if pair is None or _SESSION not in item.config.stash:
        return
    if report.when == "call" or report.outcome in ("skipped", "failed"):
        status = report.outcome if report.outcome in STATUS_ORDER else "failed"
        _session(item.config).outcome(*pair).update(status, _reason(report))


def pytest_sessionfinish(session):
    if _SESSION in session.config.stash:
        _session(session.config).write_results()


def pytest_terminal_summary(terminalreporter, config):
    if _SESSION not in config.stash:
        return
    from .table import leaderboard

    harness_session = _session(config)
    if harness_session.outcomes:
        terminalreporter.write_sep("-", "harness results")
        terminalreporter.write_line(leaderboard(harness_session.outcomes.values()))
        terminalreporter.write_line(f"result files: {harness_session.settings.report_dir}")
