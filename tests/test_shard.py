"""Several machines: ``--shard K/N`` runs, ``harness merge`` and the example CI workflow.

The emotion-like tiny suite runs once whole and as 3 shard processes on one cache folder (three
"hosts"); their merge must give the same leaderboard, gates and baseline verdicts, metric for metric.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engine.compare import compare_records
from harness.engine.shard import ShardError, ShardUnit, parse_shard, plan
from harness.results import SuiteDocument, read_json
from harness.results.baseline import Baseline, updated
from harness.results.shards import ShardsError, failures, merge_shards

from .generated_suite import FOUR_APPROACHES, cache_entries, suite_source

ROOT = Path(__file__).resolve().parent.parent

# Two checkpoints × four approaches, speed and runtime tests, a test of no pair, and a gate that fails.
SUITE = """
from harness import approach_spec

DATASET = {dataset!r}
CHECKPOINTS = {checkpoints!r}
APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="cls"),
    approach_spec("features-logreg", pooling="mean"),
    approach_spec("finetune", num_train_epochs=2, learning_rate=2e-3, batch_size=16, variant="tiny"),
]
GATES = {{"most-frequent": {{"accuracy": 0.1}}, "features-logreg-cls": {{"accuracy": 0.99}}}}
SPEED_SETTINGS = [("cpu", "fp32")]
SPEED_TASKS = ["inference"]
SPEED_TEXTS = 8
RUNTIMES = {{"finetune-tiny": ["torch-fp32", "torch-int8"]}}
RUNTIME_GATES = {{"torch-int8": {{"agreement": 0.5}}}}


def test_quality(evaluation, gate):
    gate(evaluation)


def test_six_labels(dataset):
    assert dataset["train"].features["label"].num_classes == 6
"""


def _baseline(checkpoints: list[str]) -> dict:
    """most-frequent far above what it scores (regressed), one pair far below (ok), the rest new."""
    top = {"accuracy": 0.95, "f1_weighted": 0.95, "f1_macro": 0.95}
    low = {"accuracy": 0.0, "f1_weighted": 0.0, "f1_macro": 0.0}
    entries = [(c, "most-frequent", top) for c in checkpoints]
    entries.append((checkpoints[0], "features-logreg-mean", low))
    pairs = [{"checkpoint": c, "approach": a, "n_examples": 60, "metrics": m} for c, a, m in entries]
    return {"kind": "harness.baseline", "schema_version": 1, "suite": "tiny", "pairs": pairs}


WORKFLOW = ROOT / "examples" / "github-actions" / "harness-shards.yml"
ACTIONS = {"actions/checkout", "actions/setup-python", "actions/upload-artifact", "actions/download-artifact"}


def _workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _step(job: dict, name: str) -> str:
    (step,) = [step for step in job["steps"] if step.get("name") == name]
    return step["run"]


class Runner:
    """Runs a workflow step's shell commands here: ``pytest`` and ``harness`` are this Python's."""

    def __init__(self, cwd: Path, options: str):
        self.cwd, self.bin = cwd, cwd / "bin"
        self.bin.mkdir()
        for name, module in (("pytest", "pytest"), ("harness", "harness")):
            (self.bin / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
            (self.bin / name).chmod(0o755)
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                    "PYTEST_ADDOPTS": options, "HOME": str(cwd)}

    def __call__(self, script: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", script], cwd=self.cwd, env={**self.env, **env},
                              capture_output=True, text=True, timeout=1800)


def _leaderboard(doc: SuiteDocument) -> list[list[str]]:
    """The report's leaderboard without the columns that time the run (fit s, texts/s)."""
    from harness.report import as_saved
    from harness.report.content import leaderboard

    table = leaderboard(as_saved(doc))
    keep = [i for i, h in enumerate(table.headers) if h not in ("fit s", "predict texts/s")]
    return [[row[i].text for i in keep] for row in table.rows]


def _verdicts(doc: SuiteDocument) -> dict:
    return {
        pair.key: (pair.status, pair.reason, [g.to_json() for g in pair.gates],
                   pair.baseline.to_json() if pair.baseline else None)
        for pair in doc.pairs
    }


def _quality(doc: SuiteDocument) -> dict:
    """Everything a pair scored, without what timed it."""
    timed = dict.fromkeys(("timings", "environment", "cached", "training_history", "training_throughput"))
    return {pair.key: pair.to_json() | timed for pair in doc.pairs}


def _runtime_scores(doc: SuiteDocument) -> list:
    return sorted((r.checkpoint, r.approach, r.runtime, r.status, r.accuracy, r.agreement)
                  for r in doc.runtimes)


def test_the_workflow_is_valid_yaml_naming_only_real_actions():
    workflow = _workflow()
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert {use.split("@")[0] for use in uses} == ACTIONS
    assert all(re.fullmatch(r"v[0-9]+", use.split("@")[1]) for use in uses)
    assert "actions/upload-artifact@v4" in uses and "actions/download-artifact@v4" in uses
    shard, merge = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    assert shard["strategy"]["matrix"]["shard"] == [1, 2, 3] and merge["needs"] == "shard"
    assert "--shard ${{ matrix.shard }}/${{ strategy.job-total }}" in _step(shard, "Run the shard")
    assert "harness merge" in _step(merge, "Merge") and "GITHUB_STEP_SUMMARY" in _step(merge, "Merge")


@pytest.mark.slow  # a single run, three shard processes and a merge: minutes
def test_the_workflow_run_here_merges_three_shards_into_the_single_run(
    pytester, tiny_checkpoint, dataset_dir, tmp_path
):
    """The workflow's shard and merge steps as written, on the tiny suite: 3 shard processes on one
    cache folder (three hosts on a shared file system), the artifacts copied as download-artifact
    lays them out, then the merge; against one process running the whole suite."""
    workflow = _workflow()
    other = pytester.path / "other-bert"
    shutil.copytree(tiny_checkpoint, other)
    checkpoints = [str(tiny_checkpoint), str(other)]
    suites = pytester.path / "suites"
    (suites / "baselines").mkdir(parents=True)
    (suites / "test_tiny.py").write_text(SUITE.format(dataset=str(dataset_dir), checkpoints=checkpoints))
    (suites / "baselines" / "tiny.json").write_text(json.dumps(_baseline(checkpoints)))
    run = Runner(pytester.path, f"--device=cpu -p no:cacheprovider --cache-dir={tmp_path / 'shared'}")

    single = run(f"pytest suites/ --benchmark --report-dir single --cache-dir={tmp_path / 'one'}")
    assert single.returncode == 1, single.stdout[-3000:]  # features-logreg-cls's gate and the baseline fail
    matrix = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    command = _step(workflow["jobs"]["shard"], "Run the shard")
    command = command.replace("${{ strategy.job-total }}", str(len(matrix)))
    for k in matrix:
        shard = run(command.replace("${{ matrix.shard }}", str(k)))
        assert shard.returncode in (0, 1), shard.stdout[-3000:]
        shutil.copytree(pytester.path / f"shard-{k}", pytester.path / "shards" / f"shard-{k}")  # the artifact

    summary = tmp_path / "summary.md"
    merged = run(_step(workflow["jobs"]["merge"], "Merge"), GITHUB_STEP_SUMMARY=str(summary))
    assert merged.returncode == 1, merged.stderr  # the merged run fails like the single one
    one = read_json(pytester.path / "single" / "tiny.json", SuiteDocument)
    whole = read_json(pytester.path / "reports" / "tiny.json", SuiteDocument)
    shards = [read_json(pytester.path / f"shard-{k}" / "tiny.json", SuiteDocument) for k in matrix]

    # each shard ran a share: together every test once, no test twice, each pair on one shard
    ran = [t.nodeid for doc in shards for t in doc.tests]
    assert sorted(ran) == sorted(t.nodeid for t in one.tests) and len(set(ran)) == len(ran)
    assert all(doc.tests and doc.shard.count == 3 for doc in shards)
    assert [doc.shard.index for doc in shards] == [1, 2, 3] and len({doc.shard.plan for doc in shards}) == 1
    for doc in shards:  # the speed test of a checkpoint runs on a shard that holds one of its pairs
        assert {r.checkpoint for r in doc.performance} <= {p.checkpoint for p in doc.pairs}
    assert len(one.pairs) == 8 and len(one.performance) == 2 and one.runtimes

    assert _leaderboard(whole) == _leaderboard(one)
    assert _verdicts(whole) == _verdicts(one)
    assert {v[3]["status"] for v in _verdicts(one).values() if v[3]} == {"new", "ok", "regressed"}
    assert _quality(whole) == _quality(one)  # every metric, CI, prediction and per-class score
    assert [c.to_json() for c in whole.comparisons] == [c.to_json() for c in one.comparisons]
    assert _runtime_scores(whole) == _runtime_scores(one)
    assert {t.nodeid: t.outcome for t in whole.tests} == {t.nodeid: t.outcome for t in one.tests}
    assert sorted(failures(whole)) == sorted(failures(one))
    assert [s.index for s in whole.shards] == [1, 2, 3] and whole.shard is None
    assert (pytester.path / "reports" / "tiny.html").is_file()
    report = (pytester.path / "reports" / "tiny.md").read_text()
    assert summary.read_text() == report  # the step summary is the merged report
    # the merged verdict is the single run's: same status and counts, the report opens with it
    assert whole.verdict.status == one.verdict.status == "failed"
    assert whole.verdict.tests == one.verdict.tests
    assert sorted(f.test for f in whole.verdict.failures) == sorted(f.test for f in one.verdict.failures)
    assert f"**Failed: {one.verdict.tests['failed']} of {sum(one.verdict.tests.values())} tests failed" in report

    # --update-baseline writes the merged run into the baselines folder as one process would
    rebased = run("harness merge shards/shard-1 shards/shard-2 shards/shard-3 --out again "
                  "--update-baseline suites/baselines")
    assert rebased.returncode == 1 and "suites/baselines/tiny.json" in rebased.stdout
    written = json.loads((suites / "baselines" / "tiny.json").read_text())
    expected = updated(Baseline(Path("x"), "tiny", {}, {}), one).to_json()
    assert written["pairs"] == expected["pairs"]
    assert [t["checkpoint"] for t in written["performance"]] == [t["checkpoint"] for t in expected["performance"]]

    missing = run("harness merge shards/shard-1 shards/shard-3 --out partial")
    assert missing.returncode == 2
    assert missing.stderr == "harness merge: tiny: shard 2 of 3 missing (given: 1/3, 3/3)\n"
    assert not (pytester.path / "partial").exists()
    twice = run("harness merge shards/shard-1 shards/shard-2 shard-2/tiny.json shards/shard-3 --out partial")
    assert twice.returncode == 2 and "shard 2/3 given twice" in twice.stderr and twice.stderr.count("\n") == 1


def test_two_hosts_share_one_cache_folder(pytester, tiny_checkpoint, dataset_dir, tmp_path):
    """Two shard processes at once on one cache folder, each with its own home and temporary folder
    (two machines mounting one network file system): every entry is computed once, by one of them."""
    pytester.makepyfile(test_tiny=suite_source([tiny_checkpoint], FOUR_APPROACHES))
    cache = tmp_path / "nfs-cache"

    def both(name: str) -> list[SuiteDocument]:
        hosts = []
        for k in (1, 2):
            home = tmp_path / f"{name}-host{k}"
            (home / "tmp").mkdir(parents=True)
            env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HOME": str(home),
                   "TMPDIR": str(home / "tmp")}
            command = [sys.executable, "-m", "pytest", "--benchmark", f"--shard={k}/2",
                       f"--cache-dir={cache}", f"--data-dir={dataset_dir.parent}", f"--report-dir={home / 'reports'}",
                       "-p", "no:cacheprovider"]
            hosts.append(subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
        outputs = [host.communicate(timeout=900)[0] for host in hosts]
        assert [host.returncode for host in hosts] == [0, 0], "\n".join(o[-2000:] for o in outputs)
        reports = [tmp_path / f"{name}-host{k}" / "reports" / "tiny.json" for k in (1, 2)]
        return [read_json(path, SuiteDocument) for path in reports]

    cold = both("cold")
    assert sorted(p.approach.id for doc in cold for p in doc.pairs) == [
        "features-logreg-cls", "features-logreg-mean", "features-logreg-mean-c0.1", "most-frequent"]
    assert all(doc.pairs and {p.approach.name for p in doc.pairs} & {"features-logreg"} for doc in cold)
    entries = cache_entries(cache)
    assert len(entries) == 2 + 3  # features of two text lists (both hosts need them), predictions of 3 pairs
    assert sum(doc.cache.stores for doc in cold) == len(entries)  # each computed once, by one host

    warm = both("warm")
    assert sum(doc.cache.stores for doc in warm) == 0 and cache_entries(cache) == entries
    (merged,) = merge_shards([(Path(f"host{k}.json"), doc) for k, doc in enumerate(warm)], compare_records)
    assert {p.key: p.metrics for p in merged.pairs} == {p.key: p.metrics for doc in cold for p in doc.pairs}


# The plan: deterministic, balanced, speed with its checkpoint.


def _units() -> list[ShardUnit]:
    units = [ShardUnit(f"s.py::q[{c}-{a}]", ("pair", "s.py", c, a)) for c in "ab" for a in ("mf", "lr", "ft")]
    units += [ShardUnit(f"s.py::speed[{c}]", ("speed", "s.py", c)) for c in "ab"]
    return units + [ShardUnit("s.py::other", ("test", "s.py::other"))]


def test_a_plan_is_deterministic_and_covers_every_group_once():
    units = _units()
    first, again = plan(units, 3), plan(list(reversed(units)), 3)
    assert first.assignment == again.assignment and first.digest == again.digest
    assert set(first.assignment.values()) == {1, 2, 3} and first.balanced_by == "count"
    assert plan(units, 2).digest != first.digest
    many = units + [ShardUnit(f"s.py::speed[a-{i}]", ("speed", "s.py", "a")) for i in range(10)]
    found = plan(many, 3)  # the largest unit by count, and still on a shard that holds a pair of "a"
    holders = {shard for group, shard in found.assignment.items() if group[0] == "pair" and group[2] == "a"}
    assert found.assignment[("speed", "s.py", "a")] in holders


def test_costs_balance_the_shards_longest_first():
    units = _units()
    costs = {u.nodeid: 1.0 for u in units} | {"s.py::q[a-ft]": 100.0, "s.py::q[b-ft]": 90.0}
    found = plan(units, 3, costs)
    assert found.balanced_by == "cost"
    ft = {found.assignment[("pair", "s.py", c, "ft")] for c in "ab"}
    assert len(ft) == 2  # the two fine-tunes on different shards
    rest = ({1, 2, 3} - ft).pop()
    cheap = [g for g, shard in found.assignment.items() if shard == rest]
    assert len(cheap) >= 4  # the third shard takes the cheap work
    for c in "ab":  # a checkpoint's speed tests go to a shard holding one of its pairs
        holders = {shard for g, shard in found.assignment.items() if g[0] == "pair" and g[2] == c}
        assert found.assignment[("speed", "s.py", c)] in holders


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", " "])
def test_a_bad_shard_is_one_line(text):
    with pytest.raises(ShardError, match=r"^--shard .*: expected K/N with 1 <= K <= N"):
        parse_shard(text)
    assert parse_shard("2/3") == (2, 3)


def test_shards_of_other_data_or_code_do_not_merge(tmp_path):
    from harness.results.model import Provenance, Shard

    def shard(index: int, assigned: int = 0, **provenance) -> tuple[Path, SuiteDocument]:
        doc = SuiteDocument(
            suite="tiny", run_id=f"r{index}", environment={}, pairs=[],
            shard=Shard(index=index, count=2, plan="p", balanced_by="count", suites=["tiny"], assigned=assigned),
            provenance=Provenance(**{"commit": "c1", "code": "x", "data": {"tiny": "d1"}} | provenance),
        )
        return tmp_path / f"shard-{index}.json", doc

    (whole,) = merge_shards([shard(2), shard(1)], compare_records)
    assert [s.index for s in whole.shards] == [1, 2] and failures(whole) == []
    (stopped,) = merge_shards([shard(1), shard(2, assigned=3)], compare_records)  # killed before its tests ran
    assert failures(stopped) == ["shard 2/2 ran 0 of its 3 tests: it stopped early"]
    cases = [
        ({"data": {"tiny": "d2"}}, "shard-2.json: shard 2/2 read other data than .*shard-1.json: dataset"),
        ({"commit": "c2"}, "shard 2/2 ran other code than .*shard-1.json \\(commit c2 vs c1\\)"),
        ({"code": "y"}, "ran other code .*\\(code y vs x\\)"),
        ({"baseline": "b"}, "read another baseline"),
    ]
    for provenance, message in cases:
        with pytest.raises(ShardsError, match=message):
            merge_shards([shard(1), shard(2, **provenance)], compare_records)
    unsharded = shard(1)[1].model_copy(update={"shard": None})
    with pytest.raises(ShardsError, match="not a shard's results"):
        merge_shards([(tmp_path / "x.json", unsharded)], compare_records)


def test_merge_of_unusable_input_is_one_line_exit_2(tmp_path, capsys):
    from harness.commands import main

    (tmp_path / "empty").mkdir()
    cases = {
        "nothere.json": "nothere.json: no such file",
        str(tmp_path / "empty"): "empty: no <suite>.json in this folder",
        str(ROOT / "suites" / "baselines" / "emotion.json"): "kind: expected 'harness.suite'",
    }
    for given, message in cases.items():
        assert main(["merge", given, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("harness merge: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_merged_verdict_counts_every_shard_and_an_incomplete_one_makes_it_incomplete():
    from harness.results.model import Shard, Verdict
    from harness.results.shards import merged_verdict

    def shard(index, verdict, ran=0, assigned=0):
        doc = SuiteDocument.model_construct(verdict=verdict, tests=[object()] * ran)
        doc.shard = Shard.model_construct(index=index, count=3, assigned=assigned)
        return doc

    passed = Verdict(status="passed", tests={"passed": 4, "skipped": 1})
    failed = Verdict(status="failed", tests={"passed": 2, "failed": 1},
                     failures=[{"test": "t::a", "message": "accuracy 0.1 < 0.5"}])
    stopped = Verdict(status="incomplete", reason="interrupted", tests={"passed": 1, "unfinished": 2})
    both = merged_verdict([shard(1, passed), shard(2, failed)])
    assert both.status == "failed" and both.tests == {"passed": 6, "skipped": 1, "failed": 1}
    assert [f.test for f in both.failures] == ["t::a"]
    three = merged_verdict([shard(1, passed), shard(2, failed), shard(3, stopped)])
    assert three.status == "incomplete" and three.reason == "shard 3/3: interrupted"
    assert three.tests["unfinished"] == 2
    assert merged_verdict([shard(1, passed), shard(2, None)]) is None
    short = merged_verdict([shard(1, passed, ran=5, assigned=5), shard(2, passed, ran=3, assigned=5)])
    assert short.status == "incomplete" and short.reason == "shard 2/3: ran 3 of its 5 tests"
