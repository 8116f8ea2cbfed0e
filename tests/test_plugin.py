"""The pytest plugin end to end, on a generated suite: fixtures, skips, gates and result files."""

import json

import datasets  # noqa: F401  imported once here: in-process pytester runs must not re-import it
import pytest

from .generated_suite import suite_source

MISSING = "org/not-available-here"
SUITE_BODY = """
GATES = {"most-frequent": {"accuracy": 0.1}, "features-logreg-cls": {"accuracy": 0.99}}

SPECS = [approach_spec("most-frequent"), approach_spec("features-logreg", pooling="cls")]

@pytest.fixture(params=SPECS, ids=str)
def approach(request):
    return request.param

SEEN = {}

def test_quality(evaluation, gate):
    SEEN[evaluation.checkpoint.id, evaluation.approach.id] = evaluation
    gate(evaluation, **GATES[evaluation.approach.id])

def test_reuses_the_evaluation(evaluation):
    assert SEEN[evaluation.checkpoint.id, evaluation.approach.id] is evaluation

@pytest.mark.expensive
def test_marked_expensive():
    pass
"""


@pytest.fixture
def suite(pytester, tiny_checkpoint, dataset_dir):
    pytester.makepyfile(test_tiny=suite_source([tiny_checkpoint, MISSING], SUITE_BODY))
    return pytester


def _records(directory):
    return {
        (r["checkpoint"].split("/")[-1], r["approach"]["id"]): r
        for r in (json.loads(p.read_text()) for p in sorted((directory / "tiny").glob("*.json")))
    }


def test_benchmark_run_writes_one_record_per_pair(suite, tiny_checkpoint, dataset_dir):
    result = suite.runpytest(
        "--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu", "-rs"
    )
    result.assert_outcomes(passed=4, failed=1, skipped=4)
    result.stdout.fnmatch_lines(
        [
            "*features-logreg-cls · tiny-bert* · accuracy 0.* < 0.990*",
            "*checkpoint 'org/not-available-here' cannot be resolved (*",
        ]
    )
    records = _records(suite.path / "out")
    assert len(records) == 4
    local = tiny_checkpoint.name
    baseline = records[local, "most-frequent"]
    assert baseline["status"] == "passed" and baseline["split"] == "validation"
    assert baseline["n_examples"] == 60 and baseline["metrics"]["accuracy"] == pytest.approx(10 / 60)
    assert baseline["gates"] == [
        {"metric": "accuracy", "threshold": 0.1, "value": pytest.approx(10 / 60), "passed": True}
    ]
    features = records[local, "features-logreg-cls"]
    assert features["status"] == "failed"
    assert features["reason"].startswith("features-logreg-cls · ")
    assert features["approach"]["variant"] == "cls" and features["approach"]["params"]["pooling"] == "cls"
    assert {"labels", "checkpoint", "extractors"}.isdisjoint(features["approach"]["params"])
    assert set(features["timings"]) == {"fit", "predict", "score"}
    assert len(features["predictions"]["gold"]) == 60 and len(features["examples"]["worst_loss"]) == 10
    assert features["environment"]["device"] == "cpu"
    assert features["environment"]["versions"]["transformers"].startswith("5.")
    missing = records["not-available-here", "most-frequent"]
    assert missing["status"] == "skipped" and missing["metrics"] is None
    assert missing["reason"].startswith("checkpoint 'org/not-available-here' cannot be resolved (")


def test_without_benchmark_only_cheap_approaches_run(suite, tiny_checkpoint, dataset_dir):
    result = suite.runpytest(f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu", "-rs")
    result.assert_outcomes(passed=2, skipped=7)
    result.stdout.fnmatch_lines(["*features-logreg-cls is expensive: run with --benchmark*"])
    result.stdout.fnmatch_lines(["SKIPPED *test_tiny.py:*: expensive: run with --benchmark"])
    records = _records(suite.path / "out")
    assert records[tiny_checkpoint.name, "features-logreg-cls"]["status"] == "skipped"


def test_data_dir_comes_from_the_environment(suite, dataset_dir, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(dataset_dir.parent))
    result = suite.runpytest("--report-dir=out", "--device=cpu", "-k", "most-frequent")
    result.assert_outcomes(passed=2, skipped=2)
