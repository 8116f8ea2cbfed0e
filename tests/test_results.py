"""The results model (harness.results): real files pass, each kind of damage is one line naming the file
and the field, record files never collide, and docs/results.md describes the model's fields."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import (
    BaselineDocument,
    Comparison,
    PairRecord,
    ResultsError,
    SuiteDocument,
    TimingRecord,
    read_json,
    validate,
    write_json,
)
from harness.results.bench import (
    BenchDocument,
    BenchPair,
    BenchRuntimesDocument,
    BenchRun,
    MethodFigures,
    RuntimeBenchSettings,
    RuntimeFigures,
    RuntimeNotMeasured,
    SweepRecord,
)
from harness.results.io import MAX_DEPTH, dumps, json_path
from harness.results.model import (
    ApproachInfo,
    BaselinePair,
    BaselineTiming,
    CacheSummary,
    DatasetOverview,
    FailedTest,
    LabelChecks,
    Leakage,
    Machine,
    Metrics,
    PairKey,
    NodeOutcome,
    PhaseRecord,
    Provenance,
    RuntimeSettings,
    Shard,
    TrainingThroughput,
    UnfinishedTest,
    Verdict,
)
from harness.results.runtimes import RuntimeGate, RuntimeRecord
from harness.results.suite import record_path

from .generated_suite import suite_source
from .report_fixture import suite_document

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results.md"

SUITE_BODY = """
@pytest.fixture(params=[approach_spec("most-frequent"), approach_spec("pretrained")], ids=str)
def approach(request):
    return request.param

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory, tiny_classifier_checkpoint, dataset_dir):
    """A suite results file and its pair records, written by the plugin (in process) on the tiny data."""
    out = tmp_path_factory.mktemp("run")
    suite = out / "test_results_suite.py"  # a module name no other test uses
    suite.write_text(suite_source([tiny_classifier_checkpoint], SUITE_BODY))
    code = pytest.main(
        [
            str(suite),
            "--import-mode=importlib",
            "--benchmark",
            f"--data-dir={dataset_dir.parent}",
            f"--report-dir={out / 'reports'}",
            "--device=cpu",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
    )
    assert code == 0
    return out / "reports"


@pytest.fixture
def suite_doc(written):
    return json.loads((written / "results_suite.json").read_text(encoding="utf-8"))


def test_files_the_plugin_writes_are_valid_and_read_back_unchanged(written):
    path = written / "results_suite.json"
    document = read_json(path, SuiteDocument)
    assert [p.approach.id for p in document.pairs] == ["most-frequent", "pretrained"]
    assert dumps(document) == path.read_text(encoding="utf-8")  # read and written again: the same bytes
    records = sorted((written / "results_suite").glob("*.json"))
    assert len(records) == 2
    for path in records:
        assert read_json(path, PairRecord).status == "passed"


_DELETE = object()  # a value meaning "remove the key"


def _set(document: dict, path: list, value) -> None:
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


@pytest.mark.parametrize(
    "path, value, message",
    [
        (["pairs", 1, "metrics", "accuracy"], "x", 'pairs[1].metrics.accuracy: expected a number, got "x"'),
        (
            ["pairs", 1, "metrics", "accuracy"],
            1.5,
            "pairs[1].metrics.accuracy: expected a number at most 1.0, got 1.5",
        ),
        (["pairs", 0, "status"], _DELETE, "pairs[0].status: missing key 'status'"),
        (
            ["pairs", 0, "status"],
            "ok",
            "pairs[0].status: expected 'passed', 'failed' or 'skipped', got \"ok\"",
        ),
        (
            ["pairs", 0, "approach", "variant"],
            3,
            "pairs[0].approach.variant: expected a string or null, got 3",
        ),
        (["pairs", 0, "n_examples"], -1, "pairs[0].n_examples: expected a number at least 0 or null, got -1"),
        (["pairs", 0, "n_examples"], True, "pairs[0].n_examples: expected an integer or null, got true"),
        (["pairs", 1, "timings"], [], "pairs[1].timings: expected an object or null, got []"),
        (
            ["schema_version"],
            2,
            "written by schema 2, this is 1; re-run the suite to write it again, or convert it",
        ),
        (["schema_version"], "1", 'schema_version: expected 1, got "1"'),
        (["schema_version"], True, "schema_version: expected 1, got true"),
        (["schema_version"], 1.0, "schema_version: expected 1, got 1.0"),
        (["kind"], "something.else", "kind: expected 'harness.suite', got \"something.else\""),
        (["run_id"], _DELETE, "run_id: missing key 'run_id'"),
        (["pairs"], {}, "pairs: expected a list, got {}"),
        (
            ["performance"],
            [{"checkpoint": "x", "task": "inference"}],
            "performance[0].texts_per_s: missing key 'texts_per_s'",
        ),
        (
            ["comparisons", 0, "winner"],
            "c",
            "comparisons[0].winner: expected 'a' or 'b' or null, got \"c\"",
        ),
        (
            ["datasets", "tiny-emotion", "splits", "train", "n"],
            "240",
            'datasets["tiny-emotion"].splits.train.n: expected an integer, got "240"',
        ),
        (
            ["pairs", 1, "predictions", "gold", 4],
            6,
            "pairs[1].predictions.gold[4]: expected a label id below 6 (labels), got 6",
        ),
        (
            ["pairs", 1, "n_examples"],
            59,
            "pairs[1].predictions.gold: expected 59 entries (n_examples), got 60",
        ),
        (
            ["pairs", 1, "labels"],
            _DELETE,
            "pairs[1].labels: expected the label names (predictions are present), got null",
        ),
        (
            ["pairs", 1, "predictions", "proba", 2],
            [0.5, 0.5],
            "pairs[1].predictions.proba[2]: expected 6 probabilities (labels), got 2",
        ),
    ],
)
def test_damaged_suite_file_names_the_first_problem(suite_doc, tmp_path, path, value, message):
    if path[0] == "comparisons":  # two different approaches give no comparison: add one to damage
        suite_doc["comparisons"] = [copy.deepcopy(suite_document()["comparisons"][0])]
    _set(suite_doc, path, value)
    target = tmp_path / "results_suite.json"
    target.write_text(json.dumps(suite_doc), encoding="utf-8")
    with pytest.raises(ResultsError) as error:
        read_json(target, SuiteDocument)
    assert str(error.value) == f"{target}: {message}"


def test_a_pair_twice_is_rejected(suite_doc):
    suite_doc["pairs"].append(suite_doc["pairs"][0])
    with pytest.raises(ResultsError) as error:
        validate(suite_doc, SuiteDocument, "s.json")
    key = (suite_doc["pairs"][0]["checkpoint"], "most-frequent")
    assert str(error.value) == (
        f"s.json: pairs[2]: {key} appears twice (also pairs[0]); expected one record each"
    )


def test_extra_keys_are_kept(suite_doc):
    suite_doc["added_later"] = {"anything": [1, 2]}
    suite_doc["pairs"][1]["metrics"]["new_metric"] = "text"
    document = validate(copy.deepcopy(suite_doc), SuiteDocument)
    assert document.added_later == {"anything": [1, 2]}
    assert document.pairs[1].metrics.new_metric == "text"
    assert document.to_json() == suite_doc


def test_counts_stay_integers_and_absent_statistics_stay_absent():
    data = suite_document()
    (lengths, *_) = data["datasets"]["emotion"]["token_lengths"].values()
    lengths["per_class"]["love"] = {"n": 0}  # a class without texts has no statistics
    document = validate(data, SuiteDocument).to_json()
    (written, *_) = document["datasets"]["emotion"]["token_lengths"].values()
    assert type(written["per_class"]["joy"]["n"]) is int and written["per_class"]["love"] == {"n": 0}
    lengths["per_class"]["joy"]["n"] = 2.5
    with pytest.raises(ResultsError) as error:
        validate(data, SuiteDocument)
    assert str(error.value).endswith(".per_class.joy.n: expected an integer, got 2.5")


def test_a_pair_record_is_checked_on_its_own(written, tmp_path):
    (path,) = (written / "results_suite").glob("*__pretrained.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    record["metrics"]["per_class"]["joy"]["support"] = 2.5
    target = tmp_path / "pair.json"
    target.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ResultsError) as error:
        read_json(target, PairRecord)
    assert str(error.value) == f"{target}: metrics.per_class.joy.support: expected an integer, got 2.5"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b'{"schema_version": 1,\n "kind": }', "2:10: invalid JSON (Expecting value)"),
        (b'{"suite": "\xff"}', "not UTF-8 (byte 11)"),
        (b"[1, 2]", "(top level): expected an object, got [1, 2]"),
        (b'"pairs"', '(top level): expected an object, got "pairs"'),
        (b"[" * 100_000, "nested too deeply; expected a results document"),
        (b'{"pairs": ' * 100_000, "nested too deeply; expected a results document"),
        (
            b'{"schema_version": 2, "pairs": "anything"}',
            "written by schema 2, this is 1; re-run the suite to write it again, or convert it",
        ),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path, content, message):
    target = tmp_path / "suite.json"
    if content is not None:
        target.write_bytes(content)
    with pytest.raises(ResultsError) as error:
        read_json(target, SuiteDocument)
    separator = "" if message[0].isdigit() else " "
    assert str(error.value) == f"{target}:{separator}{message}"


def test_a_directory_is_not_a_results_file(tmp_path):
    with pytest.raises(ResultsError, match=r": not a regular file$"):
        read_json(tmp_path, SuiteDocument)


def minimal_suite(**extra) -> str:
    return json.dumps({"suite": "s", "run_id": "r", "environment": {}, "pairs": [], **extra})


@pytest.mark.parametrize(
    "key, raw, problem",
    [
        ("accuracy", "NaN", "accuracy: expected a finite number, got NaN"),
        ("f1_weighted", "Infinity", "f1_weighted: expected a finite number, got Infinity"),
        ("ece", "-Infinity", "ece: expected a finite number or null, got -Infinity"),
        ("ece", "1e999", "ece: expected a finite number or null, got Infinity"),
        ("new_metric", "NaN", "new_metric: expected a finite number, got NaN"),
        ("extra", "[0.5, 1e999]", "extra[1]: expected a finite number, got Infinity"),
    ],
)
def test_metrics_that_are_not_finite_are_rejected_naming_the_field(tmp_path, key, raw, problem):
    """Also in keys the model does not type (they would be written back as null, or crash a writer)."""
    record = suite_document()["pairs"][0]
    record["metrics"][key] = "VALUE"
    text = json.dumps(record).replace('"VALUE"', raw)
    target = tmp_path / "pair.json"
    target.write_text(text, encoding="utf-8")
    with pytest.raises(ResultsError) as error:
        read_json(target, PairRecord)
    assert str(error.value) == f"{target}: metrics.{problem}"


@pytest.mark.parametrize("key", ["environment", "extra_key"])
def test_nesting_the_model_accepts_but_no_writer_could_write_back_is_rejected(tmp_path, key):
    deep = 1
    for _ in range(300):
        deep = {"a": deep}
    target = tmp_path / "suite.json"
    target.write_text(minimal_suite(**{key: deep}), encoding="utf-8")
    with pytest.raises(ResultsError) as error:
        read_json(target, SuiteDocument)
    assert str(error.value) == (
        f"{target}: {key}.a.a: nested more than {MAX_DEPTH} levels deep; expected a results document"
    )


@pytest.mark.parametrize(
    "environment, message",
    [
        ('{"cpu": "x\\ud800"}', 'environment.cpu: expected text, got an unpaired surrogate in "x\\ud800"'),
        ('{"x\\udfff": 1}', 'environment["x\\udfff"]: expected text, got an unpaired surrogate in "x\\udf'),
    ],
)
def test_text_utf8_cannot_write_back_is_rejected_in_a_printable_line(tmp_path, environment, message):
    target = tmp_path / "suite.json"
    target.write_text(minimal_suite().replace('"environment": {}', f'"environment": {environment}'))
    with pytest.raises(ResultsError) as error:
        read_json(target, SuiteDocument)
    assert str(error.value).startswith(f"{target}: {message}")
    str(error.value).encode("utf-8")  # the message itself can be printed


def test_what_is_read_can_be_written_back(tmp_path):
    target = tmp_path / "suite.json"
    write_json(target, validate(suite_document(), SuiteDocument))
    again = write_json(tmp_path / "again.json", read_json(target, SuiteDocument))
    assert again.read_bytes() == target.read_bytes()


def test_an_integer_too_long_for_python_is_one_line(tmp_path):
    target = tmp_path / "suite.json"
    target.write_text(minimal_suite().replace('"pairs"', '"n": 1' + "0" * 5000 + ', "pairs"'))
    with pytest.raises(ResultsError) as error:
        read_json(target, SuiteDocument)
    limit = sys.get_int_max_str_digits()
    assert str(error.value) == (
        f"{target}: an integer of more than {limit} digits; expected a results document"
    )


def test_json_path_quotes_keys_that_are_not_identifiers():
    assert json_path(["pairs", 3, "metrics", "accuracy"]) == "pairs[3].metrics.accuracy"
    assert json_path(["token_lengths", "org/model", "split"]) == 'token_lengths["org/model"].split'
    assert json_path([]) == "(top level)"


def pair(checkpoint: str, approach: str = "finetune") -> PairRecord:
    record = copy.deepcopy(suite_document()["pairs"][1])  # a skipped record: no predictions to keep in step
    record["checkpoint"], record["approach"]["id"] = checkpoint, approach
    return validate(record, PairRecord)


def test_record_files_keep_readable_names_for_plain_checkpoint_ids(tmp_path):
    path = record_path(tmp_path, pair("sentence-transformers/all-MiniLM-L6-v2"))
    assert path == tmp_path / "emotion" / "sentence-transformers--all-MiniLM-L6-v2__finetune.json"
    assert record_path(tmp_path, pair("distilbert-base-uncased", "features-logreg-cls")).name == (
        "distilbert-base-uncased__features-logreg-cls.json"
    )


@pytest.mark.parametrize(
    "ids",
    [
        ("ckpt/a b", "ckpt/a+b", "ckpt/a--b", "ckpt/a_b"),
        ("a/b", "a--b", "a-/b", "a/-b"),
        ("ckpt/a", "ckpt/a ", " ckpt/a", "ckpt/a.", "ckpt/a-"),
        ("ckpt/é", "ckpt/e", "ckpt/..", "ckpt/."),
        ("/models/" + "x" * 150 + "/a", "/models/" + "x" * 150 + "/b", "models/" + "x" * 150 + "/a"),
    ],
)
def test_different_checkpoints_never_share_a_record_file(tmp_path, ids):
    paths = {record_path(tmp_path, pair(checkpoint)) for checkpoint in ids}
    assert len(paths) == len(ids)
    for path in paths:
        assert path.parent == tmp_path / "emotion" and path.name.endswith("__finetune.json")
        assert re.fullmatch(r"[A-Za-z0-9._-]+", path.name) and not path.name.startswith(".")
        assert len(path.name) < 255


def test_different_approach_ids_never_share_a_record_file(tmp_path):
    ids = ("features-logreg-cls", "features logreg cls", "features/logreg-cls", "features--logreg-cls")
    assert len({record_path(tmp_path, pair("m", approach)) for approach in ids}) == len(ids)


# docs/results.md describes the model: every field in its section, and every stable key exists.

STABLE_PAIR_KEYS = [
    "suite", "checkpoint", "approach", "status", "reason", "split", "n_examples", "metrics", "timings",
]  # fmt: skip
STABLE_METRICS = ["accuracy", "f1_weighted", "f1_macro"]
SECTIONS = {
    "Pair record": [PairRecord, ApproachInfo, RuntimeSettings, Metrics, TrainingThroughput],
    "Suite results file": [
        SuiteDocument,
        CacheSummary,
        DatasetOverview,
        LabelChecks,
        Leakage,
        Verdict,
        FailedTest,
        UnfinishedTest,
        PhaseRecord,
    ],
    "Shards": [NodeOutcome, Provenance, Shard],
    "Timing record": [TimingRecord, SweepRecord],
    "Comparison": [Comparison, PairKey],
    "Runtime record": [RuntimeRecord, RuntimeGate],
    "Baseline file": [BaselineDocument, BaselinePair, BaselineTiming, Machine],
    "Bench file": [
        BenchRun,
        BenchDocument,
        MethodFigures,
        BenchRuntimesDocument,
        RuntimeBenchSettings,
        BenchPair,
        RuntimeFigures,
        RuntimeNotMeasured,
    ],
}


def documented_names(section: str) -> set[str]:
    """Every name in backticks under the heading ``section`` of docs/results.md (also ``{a, b}`` lists)."""
    parts = re.split(r"^#+ (.+)$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    text = dict(zip(parts[1::2], parts[2::2], strict=True))[section]
    names = set()
    for code in re.findall(r"`([^`]+)`", text):
        names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    return names


@pytest.mark.parametrize("section, models", SECTIONS.items(), ids=list(SECTIONS))
def test_every_field_of_the_model_is_documented_in_its_section(section, models):
    for model in models:
        missing = sorted(set(model.model_fields) - documented_names(section))
        assert not missing, f"docs/results.md, {section}: {model.__name__} field(s) {missing} not described"


def test_the_stable_keys_are_unchanged_and_exist_in_the_model():
    text = DOCS.read_text(encoding="utf-8")
    stable = re.findall(r"^\| `([a-z_]+)` \*\*stable\*\* \|", text, flags=re.MULTILINE)
    assert stable == STABLE_PAIR_KEYS
    (metrics_row,) = [line for line in text.splitlines() if line.startswith("| `metrics` **stable**")]
    stable_metrics = re.findall(r"`([a-z_0-9]+)`", metrics_row.split("(stable)")[0])[1:]
    assert stable_metrics == STABLE_METRICS
    for key in STABLE_PAIR_KEYS:
        assert PairRecord.model_fields[key].is_required(), key  # a stable key is in every record
    for key in STABLE_METRICS:
        assert Metrics.model_fields[key].is_required(), key


@pytest.mark.parametrize(
    "which, model",
    [
        ("suite", SuiteDocument),
        ("pair", PairRecord),
        ("baseline", BaselineDocument),
        ("bench", BenchDocument),
        ("bench-runtimes", BenchRuntimesDocument),
    ],
)
def test_the_json_schema_is_printed_as_documented(which, model):
    assert f"python -m harness.results {which}" in DOCS.read_text(encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "harness.results", which], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == model.model_json_schema()


def test_the_json_schema_command_rejects_an_unknown_document_in_one_line():
    done = subprocess.run([sys.executable, "-m", "harness.results", "report"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'report'" in done.stderr
