"""The sharding part of the pytest plugin: ``--shard K/N`` runs the K-th of N balanced shares of the
tests (plan: :mod:`harness.engine.shard`), and every run records its tests and their provenance.

Each shard writes its own results (``--report-dir``), marked ``shard: {index, count, plan}``;
``harness merge`` combines the N shards into one document and report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..errors import HarnessError

_PLAN = pytest.StashKey[tuple]()  # (index, Plan, suite names of the plan)
_TESTS = pytest.StashKey[dict]()  # node id → [outcome, seconds] of the tests this process ran
_SUITES = pytest.StashKey[dict]()  # suite name → its file, for every suite collected here


def pytest_addoption(parser):
    group = parser.getgroup("harness")
    group.addoption(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only the K-th of N balanced shares of the tests (1 <= K <= N); combine the N "
        "results with 'harness merge'",
    )
    group.addoption(
        "--shard-costs",
        action="append",
        default=[],
        metavar="FILE",
        help="suite results file of an earlier run (repeatable): balance --shard by its measured test "
        "durations instead of by test count",
    )


def pytest_configure(config):
    from ..engine.shard import parse_shard

    if config.option.shard is None:
        if config.option.shard_costs:
            raise pytest.UsageError("--shard-costs balances --shard K/N: give --shard as well")
        return
    try:
        parse_shard(config.option.shard)
    except HarnessError as e:
        raise pytest.UsageError(str(e)) from None


def _costs(paths: list[str]) -> dict[str, float]:
    """Seconds per node id from earlier suite results files."""
    from ..results import ResultsError, SuiteDocument, read_json

    costs: dict[str, float] = {}
    for path in paths:
        try:
            document = read_json(path, SuiteDocument)
        except ResultsError as e:
            raise pytest.UsageError(f"--shard-costs {e}") from None
        costs.update({test.nodeid: test.duration for test in document.tests})
    return costs


def _unit(item):
    """The item as a :class:`~harness.engine.shard.ShardUnit`: grouped with its pair, or its
    checkpoint's speed tests."""
    from ..engine.shard import ShardUnit

    params = getattr(getattr(item, "callspec", None), "params", {})
    file = item.nodeid.split("::", 1)[0]
    checkpoint = params.get("checkpoint")
    spec = params.get("approach", params.get("curve_approach"))
    if checkpoint is not None and "speed_case" in params:
        return ShardUnit(item.nodeid, ("speed", file, str(checkpoint)))
    if checkpoint is not None and hasattr(spec, "id"):
        return ShardUnit(item.nodeid, ("pair", file, str(checkpoint), spec.id))
    return ShardUnit(item.nodeid, ("test", item.nodeid))


def _is_suite_test(item) -> bool:
    return "harness" in getattr(item, "fixturenames", ()) and getattr(item, "module", None) is not None


@pytest.hookimpl(trylast=True)  # after -k and -m deselected theirs: every shard plans the same tests
def pytest_collection_modifyitems(config, items):
    suites = config.stash.setdefault(_SUITES, {})
    for item in items:
        if _is_suite_test(item):
            suites[_suite_name(item.module)] = Path(item.module.__file__)
    if config.option.shard is None:
        return
    from ..engine.shard import parse_shard, plan

    index, count = parse_shard(config.option.shard)
    units = {item.nodeid: _unit(item) for item in items}
    found = plan(list(units.values()), count, _costs(config.option.shard_costs))
    kept = [item for item in items if found.shard_of(units[item.nodeid]) == index]
    config.stash[_PLAN] = (index, found, sorted(suites), [item.nodeid for item in kept])
    deselected = [item for item in items if found.shard_of(units[item.nodeid]) != index]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep every test's worst outcome and its seconds over setup, call and teardown."""
    outcome = yield
    report = outcome.get_result()
    entry = item.config.stash.setdefault(_TESTS, {}).setdefault(item.nodeid, ["passed", 0.0])
    entry[1] += report.duration
    if report.failed:
        entry[0] = "failed"
    elif report.skipped and entry[0] != "failed":
        entry[0] = "skipped"


def planned(config) -> bool:
    """Whether this process ran a ``--shard`` run's tests (it writes a document per suite of the plan)."""
    return _PLAN in config.stash and not config.option.collectonly


def annotate(config, run, fragment: dict) -> None:
    """Add to ``fragment`` (:meth:`SuiteRun.fragment`) each suite's tests and provenance, and the
    shard this process ran."""
    from ..engine.provenance import code_digest, file_digest
    from ..results.baseline import baseline_path

    suites = config.stash.get(_SUITES, {})
    root = Path(config.rootpath)
    shown = {str(path.relative_to(root)) if path.is_relative_to(root) else path.name: path
             for path in suites.values()}
    files = {str(path.relative_to(root)) if path.is_relative_to(root) else path.name: name
             for name, path in suites.items()}
    parts = fragment["suites"]
    if planned(config):
        index, found, names, kept = config.stash[_PLAN]
        for name in names:
            parts.setdefault(name, {"pairs": [], "datasets": {}, "performance": [], "runtimes": []})
            assigned = sum(files.get(nodeid.split("::", 1)[0]) == name for nodeid in kept)
            parts[name]["shard"] = {"index": index, "count": found.count, "plan": found.digest,
                                    "balanced_by": found.balanced_by, "suites": names, "assigned": assigned}
    code, data = code_digest(shown), run.data_digests()
    for name, part in parts.items():
        baseline = file_digest(baseline_path(suites[name], name)) if name in suites else None
        part["provenance"] = {"commit": fragment["environment"].get("git_commit"), "code": code,
                              "data": data, "baseline": baseline}
        part["tests"] = [
            {"nodeid": nodeid, "outcome": outcome, "duration": duration}
            for nodeid, (outcome, duration) in config.stash.get(_TESTS, {}).items()
            if files.get(nodeid.split("::", 1)[0]) == name
        ]


def _suite_name(module) -> str:
    """The suite a test module declares, named as the plugin names it (``test_emotion`` → ``emotion``)."""
    return module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
