"""pytest plugin: options, fixtures and hooks that turn a suite into evaluations and result files.

A suite declares, at module level, ``DATASET`` (a name, hub id or ``./folder``), ``CHECKPOINTS``
(ids), ``APPROACHES`` (:func:`harness.approach_spec` declarations) and optionally ``GATES``; the
plugin parametrizes ``checkpoint`` and ``approach`` from them. ``RUNTIMES`` (and ``RUNTIME_GATES``)
adds the harness's deployment-runtime test of each pair that runs a transformer (harness/deploy/).
A suite may instead define the ``dataset``, ``checkpoint`` and ``approach`` fixtures itself. Tests
take ``evaluation`` and ``gate``.

Importing this module imports none of torch, transformers, datasets, scikit-learn or matplotlib:
the plugin loads in every pytest run of an environment where the harness is installed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import HarnessError
from . import verdict

STATUSES = ("skipped", "passed", "failed")
pytest_plugins = ["harness.pytest.curves", "harness.pytest.shard"]  # learning curves; --shard K/N

if TYPE_CHECKING:
    from ..engine.run import SuiteRun

_RUN = pytest.StashKey["SuiteRun"]()
_FRAGMENTS = pytest.StashKey[list]()  # xdist controller: results sent by the workers
_DOCS = pytest.StashKey[list]()  # the suite results documents written at the end of the run
_BASELINES = pytest.StashKey[list]()  # baseline files written by --update-baseline
_PROBLEMS = pytest.StashKey[list]()  # one-line reasons why result files could not be written
_SHOWN = pytest.StashKey[list]()  # every suite document of the run, written or not (the terminal shows them)
_LOG = pytest.StashKey[verdict.RunLog]()  # every test's outcome, for the run's verdict
_SIGTERM = pytest.StashKey[object]()  # the SIGTERM handler before this run's
_USAGE_ERROR = "harness-usage-error"  # an xdist worker's workeroutput: the lines of its collection's usage error


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
    group.addoption(
        "--dtype",
        default="fp32",
        choices=("fp32", "bf16", "fp16"),
        help="compute dtype of extraction and inference (bf16/fp16 autocast; default fp32)",
    )
    group.addoption(
        "--cache-dir",
        default=None,
        help="on-disk cache of features, fine-tuned models and predictions "
        "(default: $HARNESS_CACHE_DIR, else ~/.cache/harness)",
    )
    group.addoption("--no-cache", action="store_true", default=False, help="neither read nor write the cache")
    group.addoption(
        "--refresh-cache", action="store_true", default=False, help="recompute and overwrite cache entries"
    )
    group.addoption(
        "--strict-data",
        action="store_true",
        default=False,
        help="fail a pair whose evaluation texts appear verbatim in its training split (leakage); "
        "without it the run warns (pytest's --strict implies it)",
    )
    group.addoption(
        "--update-baseline",
        action="store_true",
        default=False,
        help="write this run's metrics and timings into each suite's baselines/<suite>.json instead of "
        "checking them",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "expensive: runs only with --benchmark")
    config.stash[_LOG] = verdict.RunLog(worker=hasattr(config, "workerinput"))
    config.pluginmanager.register(config.stash[_LOG], "harness-verdict")
    config.stash[_SIGTERM] = verdict.install_sigterm_handler()  # SIGTERM ends the run like Ctrl-C
    if config.option.device != "auto":  # a device that does not exist is one line, before any test
        from ..engine.checkpoints import DeviceUnavailable, select_device

        try:
            select_device(config.option.device)
        except DeviceUnavailable as e:
            raise pytest.UsageError(str(e)) from None


def pytest_unconfigure(config):
    verdict.restore_sigterm_handler(config.stash.get(_SIGTERM, None))


def pytest_collection_modifyitems(config, items):
    if config.option.benchmark:
        return
    skip = pytest.mark.skip(reason="expensive: run with --benchmark")
    for item in items:
        if item.get_closest_marker("expensive"):
            item.add_marker(skip)


def _suite_run(config) -> SuiteRun:
    if _RUN not in config.stash:
        from ..engine.run import Settings, SuiteRun

        option = config.option
        config.stash[_RUN] = SuiteRun(
            Settings(
                benchmark=option.benchmark,
                report_dir=_report_dir(config),
                device=option.device,
                dtype=option.dtype,
                data_dir=option.data_dir or os.environ.get("HARNESS_DATA_DIR") or None,
                model_dir=option.model_dir or os.environ.get("HARNESS_MODEL_DIR") or None,
                root=Path(config.rootpath),
                cache_dir=Path(option.cache_dir) if option.cache_dir else None,
                cache_mode="off" if option.no_cache else "refresh" if option.refresh_cache else "use",
                update_baseline=option.update_baseline,
            )
        )
    return config.stash[_RUN]


def _report_dir(config) -> Path:
    report_dir = Path(config.option.report_dir)
    return report_dir if report_dir.is_absolute() else Path(config.invocation_params.dir) / report_dir


def suite_name(module) -> str:
    return module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


def suite_of(module):
    """The module's :class:`~harness.engine.suite.Suite` (its declarations, read and checked once); a
    declaration that cannot be used is a one-line usage error."""
    from ..engine.suite import Suite

    try:
        return Suite.of(module)
    except HarnessError as e:
        raise pytest.UsageError(str(e)) from None


@contextlib.contextmanager
def _one_line_errors():
    """Bad data, checkpoints or files fail the test with their one-line message, not a traceback."""
    from ..errors import NotApplicable

    skip = message = None
    try:
        yield
    except NotApplicable as e:  # a pair that cannot run by its nature (e.g. no entailment head)
        skip = str(e)
    except HarnessError as e:
        message = str(e)
    try:
        if skip is not None:
            pytest.skip(skip)
        if message is not None:
            pytest.fail(message, pytrace=False)
    except (pytest.skip.Exception, pytest.fail.Exception) as outcome:
        # raised while the with statement handles the error: without "from None" pytest would print the
        # message twice, joined by "During handling of the above exception"
        raise outcome from None


class Harness:
    """The ``harness`` fixture: what a suite's own fixtures call."""

    def __init__(self, run):
        self._run = run

    def dataset(self, name: str, labels=None):
        """``DatasetDict`` for a known name, hub id or local directory."""
        with _one_line_errors():
            return self._run.dataset(name, labels)

    def checkpoint(self, checkpoint_id: str, allow_missing: bool = False):
        """The resolved checkpoint, or a skip whose reason says how to provide it (an id the hub cannot
        give offline). A local path that is not a checkpoint directory fails, unless ``allow_missing``
        (the suite's ``ALLOW_MISSING_CHECKPOINTS``) makes it a skip too."""
        from ..engine.checkpoints import CheckpointUnavailable, MissingLocalCheckpoint

        with _one_line_errors():
            try:
                return self._run.resolve(checkpoint_id)
            except CheckpointUnavailable as e:
                pytest.skip(str(e))
            except MissingLocalCheckpoint as e:
                if not allow_missing:
                    raise
                pytest.skip(f"{e} (ALLOW_MISSING_CHECKPOINTS)")


@pytest.fixture(scope="session")
def harness(request) -> Harness:
    return Harness(_suite_run(request.config))


@pytest.fixture(scope="module")
def dataset(request, harness):
    """The suite's ``DATASET`` (loaded once per run: the suite run keeps it by name)."""
    name = suite_of(request.module).dataset
    if name is None:
        raise pytest.UsageError(f"{request.module.__name__}: declare DATASET = ... or a dataset fixture")
    from ..engine.budget import for_pair

    with for_pair(suite_name(request.module), None, None):
        return harness.dataset(name)


@pytest.fixture
def checkpoint(request, harness):
    """One of the suite's ``CHECKPOINTS``, resolved (a skip whose reason says how to provide it)."""
    return harness.checkpoint(request.param, suite_of(request.module).allow_missing_checkpoints)


@pytest.fixture
def approach(request):
    """One of the suite's ``APPROACHES``."""
    return request.param


def collected_suite(collector):
    """The suite a collected test module declares (its declarations checked: a misspelt or unusable one
    stops collection with one line); None for what is not a test module."""
    if not (isinstance(collector, pytest.Module) and collector.path.name.startswith("test_")):
        return None
    try:
        module = collector.obj
    except Exception:  # noqa: BLE001 - pytest reports the import error itself
        return None
    return suite_of(module)


@pytest.hookimpl(tryfirst=True)
def pytest_collectstart(collector):
    """A suite that declares ``CHECKPOINTS`` gets the harness's speed test (``test_harness_speed``), and
    with ``RUNTIMES`` its deployment-runtime test (``test_harness_runtime``)."""
    suite = collected_suite(collector)
    if suite is None or suite.checkpoints is None:
        return
    # SPEED_SETTINGS = [] opts out of the speed test
    if not suite.defines("test_harness_speed") and suite.speed_settings().cases():
        suite.module.test_harness_speed = test_harness_speed
    if "RUNTIMES" in suite.declared and not suite.defines("test_harness_runtime"):
        suite.module.test_harness_runtime = test_harness_runtime


@pytest.mark.expensive
def test_harness_speed(checkpoint, speed_case, speed):
    """Throughput and latency of the checkpoint for one (task, device, dtype); measured by the harness."""
    speed(checkpoint, *speed_case)


@pytest.mark.expensive
def test_harness_runtime(evaluation, deploy_runtime, runtime_check):
    """The pair executed by one deployment runtime, against torch-fp32 in the same process; measured by
    the harness."""
    runtime_check(evaluation, deploy_runtime)


def pytest_generate_tests(metafunc):
    """Parametrize ``checkpoint`` and ``approach`` from the suite's declarations, unless the suite
    defines those fixtures itself or the test parametrizes them explicitly; ``deploy_runtime`` (with
    ``approach``, one case per declared runtime of each approach) from ``RUNTIMES``."""
    module = metafunc.module
    suite = suite_of(module)
    explicit = {
        name.strip()
        for marker in metafunc.definition.iter_markers("parametrize")
        for name in (marker.args[0].split(",") if isinstance(marker.args[0], str) else marker.args[0])
    }
    joint = "deploy_runtime" in metafunc.fixturenames and _parametrize_runtimes(metafunc, suite, explicit)
    for fixture, values in (("checkpoint", suite.checkpoints), ("approach", suite.approaches)):
        if values is None or fixture not in metafunc.fixturenames or fixture in explicit:
            continue
        if suite.defines(fixture) or (fixture == "approach" and joint):  # the suite's own fixture wins
            continue
        metafunc.parametrize(fixture, list(values), indirect=True, ids=str)
    if "speed_case" in metafunc.fixturenames:
        cases = suite.speed_settings().cases()
        metafunc.parametrize("speed_case", cases, ids=["-".join(case) for case in cases])


def _parametrize_runtimes(metafunc, suite, explicit: set) -> bool:
    """Parametrize ``deploy_runtime``: jointly with ``approach`` when the suite declares ``APPROACHES``
    (True), else over a ``RUNTIMES`` list alone."""
    try:
        suite.check_runtimes()
        if suite.approaches is not None and "approach" not in explicit and not suite.defines("approach"):
            cases = suite.runtime_cases()
            metafunc.parametrize(["approach", "deploy_runtime"], cases, indirect=["approach"],
                                 ids=[f"{spec.id}-{name}" for spec, name in cases])
            return True
        metafunc.parametrize("deploy_runtime", list(suite.declared.get("RUNTIMES") or []))
        return False
    except HarnessError as e:
        raise pytest.UsageError(str(e)) from None


@pytest.fixture
def deploy_runtime(request) -> str:
    """One deployment runtime of the suite's ``RUNTIMES`` (``torch-int8``, ``onnx-fp32``, …)."""
    return request.param


@pytest.fixture
def runtime_check(request, dataset, train_split):
    """``runtime_check(evaluation, runtime)``: measure every declared runtime of the pair once (with the
    torch-fp32 reference, in this process), then skip with the reason where ``runtime`` cannot run here,
    or fail on its gates (the suite's ``RUNTIME_GATES`` over the defaults)."""
    from ..engine.gates import runtime_failure_message

    run = _suite_run(request.config)
    suite = suite_of(request.module)

    def _check(evaluation, name: str):
        with _one_line_errors():
            checkpoint_id = evaluation.checkpoint.id if evaluation.checkpoint else None
            names = suite.runtimes_for(checkpoint_id, evaluation.approach)
            if name not in names:
                pytest.skip(
                    f"{evaluation.label}: no {name} runtime (RUNTIMES declares none for this approach, or it "
                    "runs no transformer)"
                )
            train = dataset[train_split]
            records = run.runtimes(
                suite.name, evaluation, names, (list(train["text"]), list(train["label"])),
                suite.runtime_gates_for(checkpoint_id, evaluation.approach), suite.measure_settings(),
            )
        record = next(r for r in records if r.runtime == name)
        if record.status == "skipped":
            pytest.skip(record.reason)
        if record.status == "failed":
            message = runtime_failure_message(evaluation.label, record)
            pytest.fail(message or f"{evaluation.label} · {record.reason}", pytrace=False)

    return _check


@pytest.fixture(scope="session")
def train_split() -> str:
    return "train"


@pytest.fixture(scope="session")
def eval_split() -> str:
    return "validation"


@pytest.fixture
def evaluation(request, harness, dataset, checkpoint, approach, train_split, eval_split):
    """The pair's fitted and scored :class:`~harness.engine.evaluation.Evaluation`, computed once per run."""
    run = _suite_run(request.config)
    if approach.expensive and not run.settings.benchmark:
        pytest.skip(f"{approach.id} is expensive: run with --benchmark")
    with _one_line_errors():
        evaluation = run.evaluate(
            suite_name(request.module), dataset, checkpoint, approach, train_split, eval_split
        )
    if _strict_data(request.config):
        _fail_on_leakage(run.overviews.get(evaluation.dataset))
    return evaluation


def _strict_data(config) -> bool:
    try:
        strict = bool(config.getini("strict"))  # pytest's --strict (pytest 9) implies --strict-data
    except ValueError:  # an older pytest without the strict setting
        strict = False
    return config.option.strict_data or strict


def _fail_on_leakage(overview: dict | None) -> None:
    from ..report.content import leakage_warnings
    from ..results.model import DatasetOverview

    lines = leakage_warnings(DatasetOverview.model_validate(overview)) if overview else []
    if lines:
        pytest.fail("; ".join(lines) + " (--strict-data)", pytrace=False)


@pytest.fixture
def gate(request):
    """``gate(evaluation, accuracy=0.9, f1_weighted=0.9)``: fail with a readable reason, record the result.

    Without thresholds the suite's ``GATES`` apply: keyed by approach name (every spec of it), by
    approach id, or by ``(checkpoint id, approach id)`` for one pair; the most specific entry wins.

    With --benchmark the pair is also checked against the suite's baseline (--update-baseline: its
    results become the baseline instead); ``baseline_tolerance`` (a number or ``{metric: number}``)
    overrides the suite's ``BASELINE_TOLERANCE`` and the default (``harness.engine.gates.tolerances``).
    """
    from ..engine.gates import check, failure_message
    from ..results.baseline import BaselineError

    run = _suite_run(request.config)
    suite = suite_of(request.module)
    suite_file, suite_tolerance = str(suite.path), suite.baseline_tolerance

    def _gate(evaluation, baseline_tolerance=None, **thresholds):
        if not thresholds:
            checkpoint_id = evaluation.checkpoint.id if evaluation.checkpoint else None
            thresholds = suite.gates_for(checkpoint_id, evaluation.approach)
        with _one_line_errors():
            results = check(evaluation.gate_metrics, **thresholds)
        # this suite's record: an evaluation shared with another suite of the run carries that one's name
        run.outcome(suite.name, evaluation.checkpoint.id, evaluation.approach).gates.extend(results)
        messages = [failure_message(evaluation.gate_label, results)]
        if run.settings.benchmark or run.settings.update_baseline:
            tolerance = suite_tolerance if baseline_tolerance is None else baseline_tolerance
            try:
                messages.append(run.check_baseline(evaluation, suite.name, suite_file, tolerance))
            except BaselineError as e:
                messages.append(str(e))
        message = "; ".join(m for m in messages if m)
        if message:
            pytest.fail(message, pytrace=False)

    return _gate


@pytest.fixture
def record_performance(request):
    """``record_performance(record, remeasure=None)``: add a timing record (docs/results.md) to the
    suite's results.

    With --benchmark its timing-protocol ``ratio`` is gated against the suite's baseline
    (``harness.engine.gates.gate_timing``): below ``1 - TIMING_TOLERANCE`` (suite module
    attribute, default 0.3) of the baseline's ratio, ``remeasure()`` (a fresh record) must confirm
    the drop for the test to fail; without it one measurement decides. With --update-baseline the
    record becomes the baseline instead.
    """
    from ..engine.gates import TIMING_TOLERANCE

    run = _suite_run(request.config)
    suite = suite_name(request.module)
    gated = run.settings.benchmark or run.settings.update_baseline
    declared = suite_of(request.module).timing_tolerance
    tolerance = TIMING_TOLERANCE if declared is None else declared

    def _record(record: dict, remeasure=None):
        suite_file = request.module.__file__ if gated else None
        record, message = run.record_performance(suite, record, suite_file, remeasure, tolerance)
        if message:
            pytest.fail(message, pytrace=False)
        return record

    return _record


@pytest.fixture
def speed(request, dataset, eval_split, record_performance):
    """``speed(checkpoint, task, device="cpu", dtype="fp32")``: time the checkpoint on the suite's
    evaluation texts (``SPEED_TEXTS`` of them in batches of ``SPEED_BATCH_SIZE``; per-text latency at
    batch 1; the timing protocol's ratio) with pytest-benchmark, record it with the suite's results
    and gate the ratio against the baseline (re-measured once before failing).

    A measurement is made once per run: a second suite asking for the same one (checkpoint, task,
    device, dtype, texts, batch size, labels) gets that record, marked ``measured_in`` the first suite,
    and gates it against its own baseline."""
    from ..engine.budget import for_pair, phase
    from ..engine.timing.speed import measure, resolved_dtype, unsupported

    run = _suite_run(request.config)
    settings = suite_of(request.module).speed_settings()

    def _speed(checkpoint, task: str, device: str = "cpu", dtype: str = "fp32"):
        dtype = resolved_dtype(device, dtype)  # a suite's own call may ask for auto too
        reason = unsupported(device, dtype)
        if reason:
            pytest.skip(reason)
        texts = list(dataset[eval_split]["text"][: settings.texts])
        num_labels = len(dataset[eval_split].features["label"].names)
        models = run.runtime.shared.setdefault("speed-models", {})
        baseline_run = run.settings.update_baseline

        def timed(benchmark=None) -> dict:
            suite = suite_name(request.module)
            where = for_pair(suite, checkpoint.id, None, detail=f"{task} {device} {dtype}")
            with _one_line_errors(), where, phase("speed rounds"):
                return measure(benchmark, checkpoint, texts, task, device, dtype, settings.batch_size,
                               models, num_labels, for_baseline=baseline_run, time_limit=settings.time_limit)

        key = (checkpoint.id, task, device, dtype, settings.batch_size, settings.time_limit,
               tuple(texts), num_labels, baseline_run)
        measured = run.runtime.shared.setdefault("speed-records", {})
        if key not in measured:
            measured[key] = suite_name(request.module), timed(request.getfixturevalue("benchmark"))
        measured_in, record = measured[key]
        if measured_in != suite_name(request.module):
            record = {**record, "measured_in": measured_in}
        return record_performance(record, remeasure=lambda: timed() | {"remeasured": True})

    return _speed


def _pair(item):
    """(suite, checkpoint, approach) of a test of one pair; None for other tests, and for runtime tests
    (a runtime's outcome is its own record, not the pair's)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    checkpoint, spec = params.get("checkpoint"), params.get("approach")
    if checkpoint is None or not hasattr(spec, "id") or "deploy_runtime" in params:
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
    if pair is None or _RUN not in item.config.stash:
        return
    if report.when == "call" or report.outcome in ("skipped", "failed"):
        status = report.outcome if report.outcome in STATUSES else "failed"
        _suite_run(item.config).outcome(*pair).update(status, _reason(report))


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """An xdist worker hands a usage error of its collection (a misspelt declaration) to the controller,
    which stops the run with it (:func:`pytest_testnodedown`): one line, as without workers."""
    try:
        return (yield)
    except pytest.UsageError as e:
        if hasattr(session.config, "workerinput"):
            session.config.workeroutput[_USAGE_ERROR] = [str(arg) for arg in e.args]
        raise


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: keep what a finished worker produced; stop on a usage error of its collection."""
    output = getattr(node, "workeroutput", {})
    if output.get(_USAGE_ERROR):
        raise pytest.UsageError(*output[_USAGE_ERROR])
    fragment = output.get("harness")
    if fragment is not None:
        node.config.stash.setdefault(_FRAGMENTS, []).append(fragment)


def pytest_sessionfinish(session):
    """Workers hand their results to the controller; the controller (or a plain run) writes them. A run
    whose verdict is not "passed", or whose results could not be written, never exits 0."""
    config = session.config
    fragments = list(config.stash.get(_FRAGMENTS, []))
    from . import shard

    if _RUN in config.stash or shard.planned(config):  # a shard writes its results even when it ran nothing
        fragment = _suite_run(config).fragment()
        shard.annotate(config, _suite_run(config), fragment)
        if hasattr(config, "workerinput"):
            config.workeroutput["harness"] = fragment
            return
        fragments.append(fragment)
    elif not fragments and config.stash[_LOG].tests and not hasattr(config, "workerinput"):
        # an xdist controller whose workers all stopped before handing anything over (Ctrl-C, crashes):
        # its own empty part, so that the results still say which tests finished and which did not
        with contextlib.suppress(HarnessError):
            fragments.append(_suite_run(config).fragment())
    if fragments and int(os.environ.get("RANK", "0")) == 0:  # under torchrun rank 0 alone writes the files
        config.stash[_DOCS], config.stash[_BASELINES], config.stash[_PROBLEMS] = _write_results(config, fragments)
        verdicts = [doc.verdict.status for doc in config.stash.get(_SHOWN, [])]
        if session.exitstatus == 0 and (config.stash[_PROBLEMS] or any(v != "passed" for v in verdicts)):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _write_results(config, fragments: list[dict]) -> tuple[list, list, list[str]]:
    """Each suite's results (with the run's verdict), report and (with --update-baseline) baseline; a
    file that cannot be written is a one-line problem naming it for the terminal summary, and the other
    suites are still written. The documents returned are those whose results and report were written."""
    from ..report import append_step_summary
    from ..results.baseline import update_file
    from ..engine.compare import compare_records
    from ..results.suite import suite_documents, write_suite

    report_dir, problems, baselines, written = _report_dir(config), [], [], []
    log = config.stash[_LOG]
    try:
        every_suite = verdict.with_unfinished_suites(fragments, log)
        docs = suite_documents(every_suite, run_id=uuid.uuid4().hex[:12], compare=compare_records)
    except HarnessError as e:
        return [], [], [f"results not written: {e}"]
    docs = [verdict.apply(doc, log) for doc in docs]
    config.stash[_SHOWN] = docs
    files = {suite: path for fragment in fragments for suite, path in fragment["baseline_files"].items()}
    for doc in docs:
        for what, write in (  # the report first: the results file keeps the time it took to render
            ("report", lambda: timed_rendering(doc, report_dir)),
            ("results", lambda: write_suite(report_dir, doc)),
            ("job summary", lambda: append_step_summary(doc)),
        ):
            try:
                write()
            except (HarnessError, OSError) as e:
                problems.append(f"{doc.suite}: {what} not written to {report_dir}: {_why(e)}")
                break
        else:
            written.append(doc)
        if config.option.update_baseline and doc.suite in files:
            try:
                baselines.append(update_file(files[doc.suite], doc))
            except (HarnessError, OSError) as e:
                problems.append(f"{doc.suite}: baseline not updated: {_why(e)}")
    return written, baselines, problems


def _why(error: Exception) -> str:
    """An OSError's reason and file (``Not a directory: reports/x``); other errors' one line."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return str(error)


def timed_rendering(doc, report_dir: Path) -> None:
    """Render the suite's report and add the time it took to the document's phases."""
    import time

    from ..report import render_suite
    from ..results.model import PhaseRecord

    started = time.perf_counter()
    render_suite(doc, report_dir)
    seconds = round(time.perf_counter() - started, 4)
    doc.phases.append(PhaseRecord(phase="report rendering", seconds=seconds, suite=doc.suite))


def pytest_terminal_summary(terminalreporter, config):
    for problem in config.stash.get(_PROBLEMS, []):
        terminalreporter.write_line(f"harness: {problem}", red=True)
    shown = config.stash.get(_SHOWN, [])
    if not shown:
        return
    from ..report import report_paths
    from ..report.content import data_warnings, verdict_line
    from ..report.table import costliest_phases, leaderboard

    terminalreporter.write_sep("-", "harness results")
    for line in dict.fromkeys(w for doc in shown for o in doc.datasets.values() for w in data_warnings(o)):
        terminalreporter.write_line(f"harness: WARNING: {line}", yellow=True, bold=True)
    for doc in shown:
        terminalreporter.write_line(f"{doc.suite}: {verdict_line(doc)}", red=doc.verdict.status != "passed")
        for test in doc.verdict.unfinished:
            terminalreporter.write_line(f"  not finished ({test.reason}): {test.test}", red=True)
    terminalreporter.write_line(leaderboard([record for doc in shown for record in doc.pairs]))
    terminalreporter.write_line(costliest_phases([phase for doc in shown for phase in doc.phases]))
    docs = config.stash.get(_DOCS, [])
    if docs:
        terminalreporter.write_line(f"results: {_report_dir(config)}")
    for path in config.stash.get(_BASELINES, []):
        terminalreporter.write_line(f"baseline updated: {path}")
    for doc in docs:
        terminalreporter.write_line("report: " + ", ".join(map(str, report_paths(doc, _report_dir(config)))))
