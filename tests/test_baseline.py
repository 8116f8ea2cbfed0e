"""Baseline files: validation, tolerances, pair and timing checks, updates, and the gate end to end."""

import json

import datasets  # noqa: F401  imported once here: in-process pytester runs must not re-import it
import pytest

from harness.engine import gates
from harness.results import METRICS, Metrics, SuiteDocument, TimingRecord, baseline, validate
from harness.results.baseline import BaselineError
from harness.results.model import BaselinePair, BaselineTiming, Machine

from .generated_suite import suite_source

ENTRY = {
    "checkpoint": "org/model",
    "approach": "finetune",
    "n_examples": 2000,
    "metrics": {"accuracy": 0.93, "f1_weighted": 0.93, "f1_macro": 0.9},
}
MACHINE = {"cpu": "AMD EPYC", "gpu": None, "torch": "2.13.0", "cpu_capability": "AVX2"}
TIMING = {
    "checkpoint": "org/model",
    "task": "inference",
    "device": "cpu",
    "dtype": "fp32",
    "batch_size": 32,
    "texts_per_s": 100.0,
    "normalized_throughput": 2.0,
    "ratio": 1.0,
    "machine": MACHINE,
}


def document(pairs=(ENTRY,), performance=(TIMING,), **changes):
    return {
        "kind": "harness.baseline",
        "schema_version": 1,
        "suite": "emotion",
        "pairs": list(pairs),
        "performance": list(performance),
        **changes,
    }


def current_metrics(accuracy=0.93, ci_half_width=0.005) -> Metrics:
    return Metrics(
        accuracy=accuracy,
        f1_weighted=0.93,
        f1_macro=0.9,
        ci={
            "level": 0.95,
            "n_resamples": 1000,
            "accuracy": [accuracy - ci_half_width, accuracy + ci_half_width],
            "f1_weighted": [0.92, 0.94],
            "f1_macro": [0.85, 0.95],
        },
    )


def entry(**changes) -> BaselinePair:
    return BaselinePair.model_validate(ENTRY | changes)


def test_a_valid_file_loads_keyed_by_pair_and_timing(tmp_path):
    path = tmp_path / "emotion.json"
    path.write_text(json.dumps(document()))
    loaded = baseline.load(path, "emotion")
    assert {key: e.to_json() for key, e in loaded.pairs.items()} == {("org/model", "finetune"): ENTRY}
    timings = {key: e.to_json() for key, e in loaded.performance.items()}
    assert timings == {("org/model", "inference", "cpu", "fp32", 32): TIMING}


def test_a_missing_file_is_an_empty_baseline(tmp_path):
    loaded = baseline.load(tmp_path / "none.json", "emotion")
    assert loaded.pairs == {} and loaded.performance == {}


def with_metric(name, value):
    return {**ENTRY, "metrics": {**ENTRY["metrics"], name: value}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "(top level): expected an object, got []"),
        (document(kind="harness.suite"), "kind: expected 'harness.baseline', got \"harness.suite\""),
        (document(schema_version=2), "written by schema 2, this is 1; re-run the suite to write it again"),
        (document(schema_version=True), "schema_version: expected 1, got true"),
        (document(suite="other"), "suite: expected 'emotion', got 'other'"),
        ({**document(), "pairs": {}}, "pairs: expected a list, got {}"),
        (
            document(pairs=[ENTRY, ENTRY]),
            "pairs[1]: expected one entry per key, got ('org/model', 'finetune') twice",
        ),
        (
            document(pairs=[{**ENTRY, "approach": ""}]),
            'pairs[0].approach: expected a non-empty string, got ""',
        ),
        (
            document(pairs=[{**ENTRY, "n_examples": 0}]),
            "pairs[0].n_examples: expected a number at least 1, got 0",
        ),
        (
            document(pairs=[{**ENTRY, "n_examples": 10**400}]),
            "pairs[0].n_examples: expected a number at most 9007199254740992, got 1000000",
        ),
        (
            document(pairs=[{**ENTRY, "n_examples": 2000.0}]),
            "pairs[0].n_examples: expected an integer, got 2000.0",
        ),
        (
            document(pairs=[with_metric("accuracy", "0.9")]),
            'pairs[0].metrics.accuracy: expected a number, got "0.9"',
        ),
        (
            document(pairs=[with_metric("accuracy", 93)]),
            "pairs[0].metrics.accuracy: expected a number at most 1.0, got 93",
        ),
        (
            document(pairs=[with_metric("accuracy", float("nan"))]),
            "pairs[0].metrics.accuracy: expected a finite number, got NaN",
        ),
        (
            document(pairs=[with_metric("acc", 0.9)]),
            "pairs[0].metrics: key \"acc\" is not allowed; expected 'accuracy', 'f1_weighted' or 'f1_macro'",
        ),
        (
            document(pairs=[{**ENTRY, "metrics": {}}]),
            "pairs[0].metrics: expected at least 1 item, got {}",
        ),
        (
            document(performance=[{**TIMING, "texts_per_s": -1}]),
            "performance[0].texts_per_s: expected a number above 0.0, got -1",
        ),
        (
            document(performance=[{**TIMING, "texts_per_s": float("inf")}]),
            "performance[0].texts_per_s: expected a finite number, got Infinity",
        ),
        (
            document(performance=[{**TIMING, "machine": "x"}]),
            'performance[0].machine: expected an object, got "x"',
        ),
        (
            document(performance=[TIMING, TIMING]),
            "performance[1]: expected one entry per key, got ('org/model', 'inference', 'cpu', 'fp32', 32)",
        ),
    ],
)
def test_a_bad_file_is_a_one_line_error_naming_the_file_and_field(tmp_path, doc, message):
    path = tmp_path / "emotion.json"
    path.write_text(json.dumps(doc))  # json.dumps writes NaN and Infinity as such
    with pytest.raises(BaselineError) as raised:
        baseline.load(path, "emotion")
    assert str(raised.value).startswith(f"{path}: {message}") and "\n" not in str(raised.value)
    assert len(str(raised.value)) < len(str(path)) + 200


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "emotion.json"
    path.write_text('{\n  "kind": "harness.baseline",\n}')
    with pytest.raises(BaselineError) as raised:
        baseline.load(path, "emotion")
    assert str(raised.value) == (
        f"{path}:3:1: invalid JSON (Expecting property name enclosed in double quotes)"
    )


def test_default_tolerance_is_one_point_or_the_ci_half_width_whichever_is_larger():
    allowed = gates.tolerances(None, current_metrics(ci_half_width=0.005))
    assert allowed == {"accuracy": 0.01, "f1_weighted": pytest.approx(0.01), "f1_macro": pytest.approx(0.05)}
    without_ci = Metrics(accuracy=0.9, f1_weighted=0.9, f1_macro=0.9)
    assert gates.tolerances(None, without_ci) == dict.fromkeys(METRICS, 0.01)


def test_configured_tolerance_replaces_the_default_per_metric_or_for_all():
    metrics = current_metrics()
    assert gates.tolerances({"accuracy": 0.02}, metrics)["accuracy"] == 0.02
    assert gates.tolerances({"accuracy": 0.02}, metrics)["f1_macro"] == pytest.approx(0.05)
    assert gates.tolerances(0.0, metrics) == dict.fromkeys(METRICS, 0.0)


@pytest.mark.parametrize(
    ("configured", "message"),
    [
        ({"acc": 0.02}, r"baseline tolerance: unknown metric\(s\) \['acc'\]"),
        ({"accuracy": -0.1}, "baseline tolerance: accuracy must be a number ≥ 0, got -0.1"),
        ({"accuracy": float("nan")}, "baseline tolerance: accuracy must be a number ≥ 0, got nan"),
        ({"accuracy": True}, "baseline tolerance: accuracy must be a number ≥ 0, got True"),
        ("2%", "baseline tolerance: expected a number or {metric: number}, got '2%'"),
    ],
)
def test_a_bad_tolerance_is_a_clear_error(configured, message):
    with pytest.raises(BaselineError, match=message):
        gates.tolerances(configured, current_metrics())
    with pytest.raises(BaselineError, match=message):  # even for a pair the baseline does not have yet
        gates.check_pair(None, 2000, current_metrics(), configured)


def test_a_pair_without_baseline_is_new_and_passes():
    check = gates.check_pair(None, 2000, current_metrics())
    assert check.status == "new" and check.to_json() == {"status": "new", "checks": []}
    assert gates.baseline_failure_message(check, "finetune · model", "b.json") is None


def test_a_drop_within_tolerance_passes_and_a_rise_always_does():
    exactly_one_point = current_metrics(accuracy=0.92)
    assert gates.check_pair(entry(), 2000, exactly_one_point).status == "ok"
    assert gates.check_pair(entry(), 2000, current_metrics(accuracy=0.99)).status == "ok"


def test_a_drop_beyond_tolerance_regresses_with_a_readable_message():
    check = gates.check_pair(entry(), 2000, current_metrics(accuracy=0.915, ci_half_width=0.012))
    assert check.status == "regressed"
    assert check.to_json()["checks"][0] == {
        "metric": "accuracy",
        "baseline": 0.93,
        "value": 0.915,
        "tolerance": pytest.approx(0.012),
        "passed": False,
    }
    assert [c.passed for c in check.checks] == [False, True, True]
    assert gates.baseline_failure_message(check, "finetune · model", "suites/baselines/emotion.json") == (
        "finetune · model · accuracy 0.9150 < baseline 0.9300 − tolerance 0.0120 "
        "(suites/baselines/emotion.json)"
    )


def test_a_configured_tolerance_decides():
    metrics = current_metrics(accuracy=0.915)
    assert gates.check_pair(entry(), 2000, metrics, {"accuracy": 0.02}).status == "ok"
    assert gates.check_pair(entry(), 2000, metrics, {"accuracy": 0.01}).status == "regressed"


def test_a_baseline_with_some_metrics_checks_only_those():
    check = gates.check_pair(entry(metrics={"f1_macro": 0.9}), 2000, current_metrics(accuracy=0.5))
    assert check.status == "ok" and [c.metric for c in check.checks] == ["f1_macro"]


def test_other_evaluation_examples_fail_the_baseline_check():
    check = gates.check_pair(entry(), 1000, current_metrics())
    assert check.status == "regressed"
    assert gates.baseline_failure_message(check, "p", "b.json") == (
        "p · n_examples 1000 ≠ baseline 2000 "
        "(the evaluation examples changed; run with --update-baseline) (b.json)"
    )


def timing_entry(**changes) -> BaselineTiming:
    return BaselineTiming.model_validate(TIMING | changes)


def timing_record(**changes) -> TimingRecord:
    fields = {key: TIMING[key] for key in ("checkpoint", "task", "device", "dtype", "batch_size")}
    return TimingRecord.model_validate(
        fields | {"texts_per_s": 100.0, "normalized_throughput": 2.0, **changes}
    )


def machine(**changes) -> Machine:
    return Machine.model_validate(MACHINE | changes)


def test_the_ratio_is_gated_on_the_baseline_machine_and_a_drop_needs_a_remeasurement():
    entry = timing_entry()
    first = timing_record(texts_per_s=20.0, ratio=0.6)
    calls = []

    def remeasure(ratio):
        def fresh():
            calls.append(ratio)
            return timing_record(texts_per_s=25.0, ratio=ratio, remeasured=True)

        return fresh

    kept, result = gates.gate_timing(entry, first, machine(), remeasure(0.65))
    assert kept.remeasured and calls == [0.65]
    assert result == {
        "status": "regressed",
        "mode": "ratio",
        "metric": "ratio",
        "baseline": 1.0,
        "value": 0.65,
        "values": [0.6, 0.65],
        "tolerance": 0.3,
        "passed": False,
        "texts_per_s": {"baseline": 100.0, "value": 25.0},
    }
    assert gates.timing_failure_message(kept, result, "b.json") == (
        "timing org/model inference cpu fp32 batch 32 · ratio 0.6 and 0.65 < 70% of baseline 1 "
        "(measured twice; raw texts/s 25, baseline 100; b.json)"
    )
    kept, result = gates.gate_timing(entry, first, machine(), remeasure(0.9))
    assert result["status"] == "ok" and result["values"] == [0.6, 0.9] and kept.ratio == 0.9
    # a busy neighbour cuts the raw throughput: not gated; a ratio at the floor passes unmeasured
    calls.clear()
    kept, result = gates.gate_timing(entry, timing_record(texts_per_s=1.0, ratio=0.7), machine(), remeasure(0))
    assert result["passed"] and result["status"] == "ok" and calls == [] and kept.ratio == 0.7


def test_one_measurement_decides_when_it_cannot_be_remeasured():
    kept, result = gates.gate_timing(timing_entry(), timing_record(ratio=0.5), machine())
    assert result["status"] == "regressed" and result["values"] == [0.5]
    assert "(measured once;" in gates.timing_failure_message(kept, result, "b.json")


@pytest.mark.parametrize(
    ("ratios", "status"),
    [([0.7], "ok"), ([0.6999], "unconfirmed"), ([0.5, 0.8], "ok"), ([0.5, 0.69], "regressed")],
)
def test_decide_fails_only_a_confirmed_drop(ratios, status):
    verdict = gates.decide(ratios, baseline_ratio=1.0, tolerance=0.3)
    assert verdict["status"] == status
    assert verdict["passed"] == (status != "regressed")
    assert verdict["value"] == max(ratios) and verdict["baseline"] == 1.0


@pytest.mark.parametrize(
    ("tolerance", "baseline_ratio", "message"),
    [
        (1.0, 1.0, "timing tolerance: expected a number in [0, 1), got 1.0"),
        (0.25, 0.0, "baseline ratio: expected a positive number, got 0.0"),
    ],
)
def test_unusable_tolerance_or_baseline_ratio_is_one_line(tolerance, baseline_ratio, message):
    with pytest.raises(BaselineError) as error:
        gates.decide([1.0], baseline_ratio, tolerance)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("entry", "record", "where", "reason"),
    [
        ({}, {"ratio": 0.1}, {"gpu": "H100"}, "the baseline was measured on another machine"),
        ({"ratio": None}, {"ratio": 0.1}, {}, "the baseline has no timing-protocol ratio"),
        ({}, {}, {}, "this record has no timing-protocol ratio"),
    ],
)
def test_timing_is_reported_not_gated_elsewhere_or_without_ratios(entry, record, where, reason):
    result = gates.check_timing(timing_entry(**entry), timing_record(texts_per_s=1.0, **record), machine(**where))
    assert result == {
        "status": "not-gated",
        "mode": None,
        "passed": True,
        "reason": reason,
        "texts_per_s": {"baseline": 100.0, "value": 1.0},
    }
    assert gates.check_timing(None, timing_record(), machine())["status"] == "new"


def pair_result(checkpoint, approach, accuracy, n=2000):
    """A pair record (JSON data); ``accuracy=None``: a pair that was skipped."""
    record = {
        "suite": "emotion",
        "checkpoint": checkpoint,
        "approach": {"name": approach, "variant": None, "id": approach, "params": {}},
        "status": "skipped",
        "reason": None,
        "split": None,
        "n_examples": None,
        "metrics": None,
        "timings": None,
    }
    if accuracy is None:
        return record
    metrics = {"accuracy": accuracy, "f1_weighted": 0.5, "f1_macro": 0.4}
    return record | {"status": "passed", "split": "validation", "n_examples": n, "metrics": metrics}


def run_document(pairs, performance, **environment) -> SuiteDocument:
    env = {"cpu": MACHINE["cpu"], "gpu": MACHINE["gpu"], "versions": {"torch": MACHINE["torch"]}}
    env |= environment
    data = {"suite": "emotion", "run_id": "r", "environment": env, "pairs": pairs, "performance": performance}
    return validate(data, SuiteDocument)


def test_an_update_replaces_the_pairs_of_this_run_and_keeps_the_others(tmp_path):
    path = tmp_path / "emotion.json"
    path.write_text(json.dumps(document()))
    new_timing = timing_record(checkpoint="other", texts_per_s=50.0)
    pairs = [pair_result("org/model", "finetune", 0.9412345678), pair_result("a", "b", 0.5)]
    run = run_document([*pairs, pair_result("x", "y", None)], [new_timing.to_json()], cpu="Intel Xeon")
    updated = baseline.updated(baseline.load(path, "emotion"), run).to_json()
    assert [(p["checkpoint"], p["approach"]) for p in updated["pairs"]] == [
        ("a", "b"),
        ("org/model", "finetune"),
    ]
    assert updated["pairs"][1]["metrics"] == {"accuracy": 0.941235, "f1_weighted": 0.5, "f1_macro": 0.4}
    assert len(updated["performance"]) == 2 and TIMING in updated["performance"]
    assert baseline.update_file(path, run) == path
    reloaded = baseline.load(path, "emotion")  # what an update writes is a valid baseline
    assert json.loads(path.read_text()) == updated
    assert reloaded.performance[new_timing.key].machine.cpu == "Intel Xeon"
    assert reloaded.pairs["a", "b"].n_examples == 2000


def test_a_timing_without_throughput_is_not_written_into_the_baseline(tmp_path):
    run = run_document([], [timing_record(checkpoint="other", texts_per_s=0.0).to_json()])
    updated = baseline.updated(baseline.load(tmp_path / "none.json", "emotion"), run)
    assert updated.performance == []


SUITE_BODY = """
SPECS = [approach_spec("most-frequent"), approach_spec("features-logreg", pooling="cls")]

@pytest.fixture(params=SPECS, ids=str)
def approach(request):
    return request.param

def test_quality(evaluation, gate):
    gate(evaluation)
"""


@pytest.fixture
def run_suite(pytester, tiny_checkpoint, dataset_dir):
    """Write the tiny suite (with module-level ``settings``) and return a function that runs it."""

    def run(*args, settings=""):
        pytester.makepyfile(test_tiny=suite_source([tiny_checkpoint], settings + SUITE_BODY))
        return pytester.runpytest(
            f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu", *args
        )

    return run


def records(directory) -> dict:
    """The run's pair records by approach id."""
    suite = json.loads((directory / "out" / "tiny.json").read_text())
    return {r["approach"]["id"]: r for r in suite["pairs"]}


def edit_baseline(path, **accuracy_changes):
    """Raise some approaches' baseline accuracy; ``None`` removes the approach from the baseline."""
    document = json.loads(path.read_text())
    kept = []
    for entry in document["pairs"]:
        change = accuracy_changes.get(entry["approach"].replace("-", "_"), 0.0)
        if change is not None:
            entry["metrics"]["accuracy"] = round(entry["metrics"]["accuracy"] + change, 6)
            kept.append(entry)
    path.write_text(json.dumps({**document, "pairs": kept}))


def test_update_then_a_raised_baseline_fails_the_gate_and_a_missing_pair_passes_as_new(pytester, run_suite):
    path = pytester.path / "baselines" / "tiny.json"
    result = run_suite("--benchmark", "--update-baseline")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"baseline updated: {path}"])
    written = {entry["approach"]: entry for entry in json.loads(path.read_text())["pairs"]}
    run = records(pytester.path)
    assert set(written) == {"most-frequent", "features-logreg-cls"}
    assert written["most-frequent"]["n_examples"] == 60
    assert written["most-frequent"]["metrics"]["accuracy"] == pytest.approx(10 / 60, abs=1e-6)
    assert run["most-frequent"]["metrics"]["accuracy"] == pytest.approx(10 / 60)

    edit_baseline(path, most_frequent=0.3, features_logreg_cls=None)
    result = run_suite("--benchmark")
    result.assert_outcomes(passed=1, failed=1)
    run = records(pytester.path)
    low, high = run["most-frequent"]["metrics"]["ci"]["accuracy"]
    tolerance = (high - low) / 2  # 60 examples: the CI's half-width is more than 1 point
    result.stdout.fnmatch_lines(
        [
            "most-frequent · tiny-bert* · accuracy 0.1667 < "
            f"baseline 0.4667 − tolerance {tolerance:.4f} (baselines/tiny.json)"
        ]
    )
    regressed = run["most-frequent"]["baseline"]
    assert regressed["status"] == "regressed" and run["most-frequent"]["status"] == "failed"
    assert regressed["checks"][0] == {
        "metric": "accuracy",
        "baseline": 0.466667,
        "value": pytest.approx(10 / 60),
        "tolerance": pytest.approx(tolerance),
        "passed": False,
    }
    assert run["features-logreg-cls"]["baseline"] == {"status": "new", "checks": []}
    assert run["features-logreg-cls"]["status"] == "passed"

    run_suite("--benchmark", "--update-baseline").assert_outcomes(passed=2)
    accuracy = json.loads(path.read_text())["pairs"][1]["metrics"]["accuracy"]
    assert accuracy == pytest.approx(10 / 60, abs=1e-6)
    run_suite("--benchmark").assert_outcomes(passed=2)
    assert {r["baseline"]["status"] for r in records(pytester.path).values()} == {"ok"}


def test_suite_tolerance_and_cheap_runs(pytester, run_suite):
    run_suite("--update-baseline", "-k", "most-frequent").assert_outcomes(passed=1, deselected=1)
    path = pytester.path / "baselines" / "tiny.json"
    edit_baseline(path, most_frequent=0.3)
    run_suite(
        "--benchmark", "-k", "most-frequent", settings='BASELINE_TOLERANCE = {"accuracy": 0.31}'
    ).assert_outcomes(passed=1, deselected=1)
    run_suite("-k", "most-frequent").assert_outcomes(
        passed=1, deselected=1
    )  # without --benchmark: not checked


HUGE = json.dumps(document(suite="tiny", pairs=[{**ENTRY, "n_examples": 10**400}]))
TOO_LONG = HUGE.replace("0" * 400, "0" * 5000)  # more digits than Python converts


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kind": "harness.baseline", "schema_version": 1}', "suite: missing key 'suite'"),
        (HUGE, "pairs[[]0[]].n_examples: expected a number at most 9007199254740992, got 1000*..."),
        (TOO_LONG, "an integer of more than * digits; expected a results document"),
    ],
)
def test_an_unusable_baseline_file_fails_the_gate_with_its_one_line_error(
    pytester, run_suite, content, message
):
    (pytester.path / "baselines").mkdir()
    (pytester.path / "baselines" / "tiny.json").write_text(content)
    result = run_suite("--benchmark", "-k", "most-frequent")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines([f"*baselines/tiny.json: {message}"])
    assert "INTERNALERROR" not in result.stdout.str() and result.ret == pytest.ExitCode.TESTS_FAILED


TIMING_SUITE = """
import json, os

def test_speed(record_performance):
    ratios = iter(json.loads(os.environ["RATIOS"]))

    def measured():
        return {
            "checkpoint": "tiny", "task": "inference", "device": "cpu", "dtype": "fp32", "batch_size": 8,
            "n_texts": 60, "texts_per_s": float(os.environ["TEXTS_PER_S"]), "ratio": next(ratios),
        }

    record_performance(measured(), remeasure=lambda: measured() | {"remeasured": True})
"""


def test_timing_gate_on_this_machine_and_report_only_elsewhere(pytester, monkeypatch):
    pytester.makepyfile(test_tiny=TIMING_SUITE)
    path = pytester.path / "baselines" / "tiny.json"
    monkeypatch.setenv("TEXTS_PER_S", "100")
    monkeypatch.setenv("RATIOS", "[2.0]")
    pytester.runpytest("--benchmark", "--update-baseline", "--report-dir=out").assert_outcomes(passed=1)
    (timing,) = json.loads(path.read_text())["performance"]
    assert timing["texts_per_s"] == 100.0 and timing["ratio"] == 2.0
    assert set(timing["machine"]) == {"cpu", "gpu", "torch", "cpu_capability"}

    monkeypatch.setenv("TEXTS_PER_S", "30")  # a busy neighbour: raw throughput alone never fails
    monkeypatch.setenv("RATIOS", "[1.0, 1.8]")  # a dip the re-measurement clears
    pytester.runpytest("--benchmark", "--report-dir=out").assert_outcomes(passed=1)
    suite = json.loads((pytester.path / "out" / "tiny.json").read_text())
    (kept,) = suite["performance"]
    assert kept["remeasured"] and kept["baseline"]["status"] == "ok" and kept["baseline"]["values"] == [1.0, 1.8]

    monkeypatch.setenv("RATIOS", "[1.0, 1.2]")  # confirmed
    result = pytester.runpytest("--benchmark", "--report-dir=out")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "timing tiny inference cpu fp32 batch 8 · ratio 1 and 1.2 < 70% of baseline 2 "
            "(measured twice; raw texts/s 30, baseline 100; baselines/tiny.json)"
        ]
    )
    suite = json.loads((pytester.path / "out" / "tiny.json").read_text())
    assert suite["performance"][0]["baseline"]["status"] == "regressed"

    document = json.loads(path.read_text())
    document["performance"][0]["machine"]["cpu"] = "another CPU"
    path.write_text(json.dumps(document))
    pytester.runpytest("--benchmark", "--report-dir=out").assert_outcomes(passed=1)
    suite = json.loads((pytester.path / "out" / "tiny.json").read_text())
    assert suite["performance"][0]["baseline"]["reason"] == "the baseline was measured on another machine"
