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


DECLARATIVE = '''
from harness import Approach, approach_spec, register_approach


@register_approach("tfidf-logreg", expensive=True)
class TfidfLogReg(Approach):
    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y, **context):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.model_ = make_pipeline(TfidfVectorizer(), LogisticRegression(C=self.C)).fit(X, y)
        return self

    def predict_proba(self, X, **context):
        return self.model_.predict_proba(X)


DATASET = "tiny-emotion"
CHECKPOINTS = [{checkpoint!r}]
APPROACHES = [approach_spec("most-frequent"), approach_spec("tfidf-logreg", C=10.0)]
GATES = {{"most-frequent": {{"accuracy": {threshold}}}, "tfidf-logreg-10.0": {{"accuracy": 0.5}}}}
SPEED_SETTINGS = [("cpu", "fp32")]
SPEED_TASKS = ["extraction"]
SPEED_TEXTS = 4
TIMING_TOLERANCE = 0.9  # the ratio gate runs, but this test is about pairs: no timing verdict under load


def test_quality(evaluation, gate):
    gate(evaluation)
'''


def test_declarative_suite_with_a_custom_approach_is_cached_reported_and_gated(
    pytester, tiny_checkpoint, dataset_dir, tmp_path
):
    """DATASET/CHECKPOINTS/APPROACHES/GATES parametrize the suite; a suite's own approach is a pair
    like the built-in ones: evaluated, cached (a second run reads it back), reported, baseline-gated."""
    pytester.makepyfile(test_declared=DECLARATIVE.format(checkpoint=str(tiny_checkpoint), threshold=0.1))
    args = ["--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu"]
    args += [f"--cache-dir={tmp_path / 'cache'}"]
    result = pytester.runpytest(*args, "--update-baseline")
    result.assert_outcomes(passed=3)  # two pairs and the harness's speed test of the checkpoint
    doc = json.loads((pytester.path / "out" / "declared.json").read_text())
    speed = [(r["task"], r["device"], r["dtype"], r["batch_size"]) for r in doc["performance"]]
    assert speed == [("extraction", "cpu", "fp32", 32)]
    record = doc["performance"][0]
    assert set(record["latency_per_text_ms"]) >= {"p50", "p90", "p99"} and record["ratio"] > 0
    assert "seen" in record["contention"] and record["remeasured"] is False
    tfidf = next(p for p in doc["pairs"] if p["approach"]["id"] == "tfidf-logreg-10.0")
    assert tfidf["approach"]["params"] == {"C": 10.0} and tfidf["metrics"]["accuracy"] > 0.9
    assert tfidf["gates"] == [{"metric": "accuracy", "threshold": 0.5, "value": tfidf["metrics"]["accuracy"],
                               "passed": True}]
    assert "tfidf-logreg-10.0" in (pytester.path / "out" / "declared.md").read_text()
    baseline = json.loads((pytester.path / "baselines" / "declared.json").read_text())
    assert {p["approach"] for p in baseline["pairs"]} == {"most-frequent", "tfidf-logreg-10.0"}

    again = pytester.runpytest(*args)  # checked against the baseline; predictions from the cache
    again.assert_outcomes(passed=3)
    doc = json.loads((pytester.path / "out" / "declared.json").read_text())
    tfidf = next(p for p in doc["pairs"] if p["approach"]["id"] == "tfidf-logreg-10.0")
    assert tfidf["cached"] is True and tfidf["baseline"]["status"] == "ok"

    pytester.makepyfile(test_declared=DECLARATIVE.format(checkpoint=str(tiny_checkpoint), threshold=0.5))
    failing = pytester.runpytest(*args)
    failing.assert_outcomes(passed=2, failed=1)
    failing.stdout.fnmatch_lines(["*most-frequent · tiny-bert* · accuracy 0.167 < 0.500*"])


SPEED_ONLY = '''
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = [{checkpoint!r}]
APPROACHES = [approach_spec("most-frequent")]
SPEED_SETTINGS = [("cpu", "fp32")]
SPEED_TASKS = ["extraction"]
SPEED_TEXTS = 4
TIMING_TOLERANCE = 0.9
'''


def test_two_suites_timing_the_same_work_share_one_measurement(pytester, tiny_checkpoint, dataset_dir, tmp_path):
    """The same checkpoint, task, setting and texts in two suites of a run: measured once, the second
    suite's record says where, and each suite keeps (and gates) its own copy."""
    for name in ("test_first", "test_second"):
        pytester.makepyfile(**{name: SPEED_ONLY.format(checkpoint=str(tiny_checkpoint))})
    args = ["--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu"]
    result = pytester.runpytest(*args, f"--cache-dir={tmp_path / 'cache'}")
    result.assert_outcomes(passed=2)  # each suite's speed test
    first, second = (json.loads((pytester.path / "out" / f"{n}.json").read_text()) for n in ("first", "second"))
    (one,), (other,) = first["performance"], second["performance"]
    assert one.get("measured_in") is None and other["measured_in"] == "first"
    assert other["ratio"] == one["ratio"] and other["ratio_rounds"] == one["ratio_rounds"]
    assert [p["phase"] for p in first["phases"]].count("speed rounds") == 1
    assert "speed rounds" not in [p["phase"] for p in second["phases"]]
    assert "Rows also in first: measured once in this run" in (pytester.path / "out" / "second.md").read_text()


def test_importing_the_plugin_imports_no_heavy_library():
    """The plugin loads in every pytest run where harness is installed: it must cost nothing."""
    import subprocess
    import sys

    code = (
        "import sys, harness.pytest.plugin, harness\n"
        "heavy = ('torch', 'transformers', 'datasets', 'sklearn', 'matplotlib', 'pydantic', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


UNSUPPORTED_DTYPE = '''
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = [{checkpoint!r}]
APPROACHES = [approach_spec("most-frequent"), approach_spec("features-logreg", pooling="mean")]
SPEED_SETTINGS = []

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
'''


def test_a_dtype_the_cpu_cannot_run_fails_a_model_pair_with_one_line(
    pytester, tiny_checkpoint, dataset_dir, tmp_path, monkeypatch
):
    """As ``harness predict`` says it (tests/test_commands.py): the dtype and what to use instead."""
    from .cpu_profiles import PROFILES

    PROFILES["avx2"].apply(monkeypatch)  # no native bf16 or fp16
    pytester.makepyfile(test_declared=UNSUPPORTED_DTYPE.format(checkpoint=str(tiny_checkpoint)))
    result = pytester.runpytest(
        "--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu", "--dtype=bf16",
        f"--cache-dir={tmp_path / 'cache'}",
    )
    result.assert_outcomes(passed=1, errors=1)  # most-frequent runs no model: the dtype does not matter
    result.stdout.fnmatch_lines(["*ERROR at setup of test_quality*features-logreg-mean*",
                                 "dtype 'bf16' is not supported on cpu here; use fp32"])
    assert "Traceback" not in result.stdout.str() and "ValueError" not in result.stdout.str()


SHARED_PAIR = """
SPECS = [approach_spec("most-frequent")]

@pytest.fixture(params=SPECS, ids=str)
def approach(request):
    return request.param

GATES = {{"most-frequent": {{"accuracy": {threshold}}}}}

def test_quality(evaluation, gate):
    gate(evaluation)
"""


def test_two_suites_sharing_a_pair_each_gate_it_against_their_own_gates_and_baseline(
    pytester, tiny_checkpoint, dataset_dir
):
    """The pair is evaluated once for both suites; each suite's record holds its own gate and its own
    baseline check (the evaluation carries the first suite's name, which must not decide where they go)."""
    pytester.makepyfile(
        test_first=suite_source([tiny_checkpoint], SHARED_PAIR.format(threshold=0.01)),
        test_second=suite_source([tiny_checkpoint], SHARED_PAIR.format(threshold=0.02)),
    )
    (pytester.path / "baselines").mkdir()
    for suite, accuracy in (("first", 0.0), ("second", 0.99)):  # ok / regressed
        entry = {"checkpoint": str(tiny_checkpoint), "approach": "most-frequent", "n_examples": 60,
                 "metrics": {"accuracy": accuracy, "f1_weighted": accuracy, "f1_macro": accuracy}}
        (pytester.path / "baselines" / f"{suite}.json").write_text(json.dumps(
            {"kind": "harness.baseline", "schema_version": 1, "suite": suite, "pairs": [entry]}))
    result = pytester.runpytest_subprocess(
        "test_first.py", "test_second.py", "--benchmark", f"--data-dir={dataset_dir.parent}",
        "--report-dir=reports", "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_second.py::test_quality*"])
    for suite, threshold, status in (("first", 0.01, "ok"), ("second", 0.02, "regressed")):
        (pair,) = json.loads((pytester.path / "reports" / f"{suite}.json").read_text())["pairs"]
        assert [(g["metric"], g["threshold"]) for g in pair["gates"]] == [("accuracy", threshold)]
        assert pair["baseline"]["status"] == status
