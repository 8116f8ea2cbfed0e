"""The learning-curve part of the pytest plugin (engine: :mod:`harness.engine.curves`).

A suite that declares ``SHOTS`` (training sizes: examples per class, or ``"all"``) gets the harness's
``test_learning_curve``: each of its ``APPROACHES`` on each of its ``CHECKPOINTS`` is fitted on
class-stratified samples of the train split, once per seed of ``SEEDS`` (default ``[0]``), and scored
on the evaluation split; an approach that does not learn from examples is scored once, as a reference.
``CURVE_GATES = {approach name, id or (checkpoint, id): {shots: {metric: minimum}}}`` gates the mean
over seeds (``shots`` None for a reference). A suite's own tests read any point with the ``curve``
fixture: ``curve("setfit", 32)``.
"""

from __future__ import annotations

import pytest

from .plugin import _DOCS, _one_line_errors, _suite_run, collected_suite, suite_name, suite_of


@pytest.hookimpl(tryfirst=True)
def pytest_collectstart(collector):
    """A suite that declares ``SHOTS`` gets the harness's learning-curve test."""
    suite = collected_suite(collector)
    if suite is not None and suite.shots is not None and not suite.defines("test_learning_curve"):
        suite.module.test_learning_curve = test_learning_curve


def test_learning_curve(learning_curve, curve_gate):
    """The approach at every training size and seed of the suite; gated by ``CURVE_GATES``."""
    curve_gate(learning_curve)


def pytest_generate_tests(metafunc):
    """Parametrize ``curve_approach`` from the suite's ``APPROACHES``."""
    if "curve_approach" in metafunc.fixturenames:
        approaches = suite_of(metafunc.module).approaches
        if approaches is None:
            raise pytest.UsageError(f"{metafunc.module.__name__}: SHOTS needs APPROACHES = [...] as well")
        metafunc.parametrize("curve_approach", list(approaches), indirect=True, ids=str)


@pytest.fixture
def curve_approach(request):
    """One of the suite's ``APPROACHES``, for its learning curve."""
    return request.param


def _points(request, dataset, checkpoint, spec, train_split, eval_split) -> list:
    run = _suite_run(request.config)
    if spec.expensive and not run.settings.benchmark:
        pytest.skip(f"{spec.id} is expensive: run with --benchmark")
    suite = suite_of(request.module)
    if suite.shots is None:
        raise pytest.UsageError(f"{request.module.__name__}: learning curves need SHOTS = [...]")
    shots, seeds = suite.shots, suite.seeds
    with _one_line_errors():
        return run.learning_curve(
            suite_name(request.module), dataset, checkpoint, spec, shots, seeds, train_split, eval_split
        )


@pytest.fixture
def learning_curve(request, harness, dataset, checkpoint, curve_approach, train_split, eval_split) -> list:
    """The approach's :class:`~harness.results.curves.CurvePoint` list, computed once per run."""
    return _points(request, dataset, checkpoint, curve_approach, train_split, eval_split)


@pytest.fixture
def curve(request, harness, dataset, train_split, eval_split):
    """``curve(approach_id, shots, checkpoint_id=None)``: one learning-curve point (the mean over seeds
    is ``point.mean["accuracy"]``); the checkpoint defaults to the suite's only one."""

    def _curve(approach_id: str, shots, checkpoint_id: str | None = None):
        suite = suite_of(request.module)
        specs = {spec.id: spec for spec in suite.approaches or ()}
        if approach_id not in specs:
            raise pytest.UsageError(
                f"curve({approach_id!r}): expected one of the suite's APPROACHES {sorted(specs)}"
            )
        if checkpoint_id is None:
            checkpoints = list(suite.checkpoints or ())
            if len(checkpoints) != 1:
                raise pytest.UsageError(
                    f"curve({approach_id!r}, {shots!r}): name the checkpoint, the suite has {checkpoints}"
                )
            checkpoint_id = checkpoints[0]
        checkpoint = harness.checkpoint(checkpoint_id)
        points = _points(request, dataset, checkpoint, specs[approach_id], train_split, eval_split)
        found = [p for p in points if p.shots == shots or p.shots is None]
        if not found:
            raise pytest.UsageError(
                f"curve({approach_id!r}, {shots!r}): expected a size of SHOTS {[p.shots for p in points]}"
            )
        return found[0]

    return _curve


@pytest.fixture
def curve_gate(request):
    """``curve_gate(points)``: check each point's mean over seeds against the suite's ``CURVE_GATES``."""
    from ..engine.gates import check_curve_point

    suite = suite_of(request.module)
    specs = {spec.id: spec for spec in suite.approaches or ()}

    def _gate(points):
        messages = []
        for point in points:
            spec = specs.get(point.approach)
            gates = suite.curve_gates_for(point.checkpoint, spec) if spec is not None else {}
            thresholds = gates.get(point.shots, {})
            if not thresholds:
                continue
            with _one_line_errors():
                message = check_curve_point(point, thresholds)
            if message:
                messages.append(message)
        if messages:
            pytest.fail("; ".join(messages), pytrace=False)

    return _gate


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    """The learning curves of the run, after the harness leaderboard."""
    docs = [doc for doc in config.stash.get(_DOCS, []) if doc.learning_curves]
    if not docs:
        return
    from ..report.curves import curve_table_text

    terminalreporter.write_sep("-", "harness learning curves")
    for doc in docs:
        terminalreporter.write_line(curve_table_text(doc.learning_curves))
