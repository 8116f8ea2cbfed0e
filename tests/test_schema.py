"""Results files are validated on load: real files pass, each kind of damage is one line naming the path."""

import copy
import json

import pytest

from harness.schema import ResultsFileError, json_path, load_json, validate

from .generated_suite import suite_source

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
    suite = out / "test_schema_suite.py"  # a module name no other test uses
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
    return json.loads((written / "schema_suite.json").read_text(encoding="utf-8"))


def test_files_the_plugin_writes_are_valid(written):
    document = load_json(written / "schema_suite.json", "suite")
    assert [p["approach"]["id"] for p in document["pairs"]] == ["most-frequent", "pretrained"]
    records = sorted((written / "schema_suite").glob("*.json"))
    assert len(records) == 2
    for path in records:
        assert load_json(path, "pair")["status"] == "passed"


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
            "pairs[1].metrics.accuracy: expected a number at most 1, got 1.5",
        ),
        (["pairs", 0, "status"], _DELETE, "pairs[0]: missing key 'status'"),
        (
            ["pairs", 0, "status"],
            "ok",
            'pairs[0].status: expected one of "passed", "failed", "skipped", got "ok"',
        ),
        (
            ["pairs", 0, "approach", "variant"],
            3,
            "pairs[0].approach.variant: expected a string or null, got 3",
        ),
        (["pairs", 0, "n_examples"], -1, "pairs[0].n_examples: expected a number at least 0, got -1"),
        (["pairs", 1, "timings"], [], "pairs[1].timings: expected an object or null, got []"),
        (["schema_version"], 2, "schema_version: expected 1, got 2"),
        (["kind"], "something.else", 'kind: expected "harness.suite", got "something.else"'),
        (["run_id"], _DELETE, "(top level): missing key 'run_id'"),
        (["pairs"], {}, "pairs: expected a list, got {}"),
        (
            ["performance"],
            [{"checkpoint": "x", "task": "inference"}],
            "performance[0]: missing key 'texts_per_s'",
        ),
        (["comparisons", 0, "winner"], "c", 'comparisons[0].winner: expected one of "a", "b", null, got "c"'),
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
        (["pairs", 1, "labels"], _DELETE, "pairs[1]: missing key 'labels' (needed with 'predictions')"),
        (
            ["pairs", 1, "predictions", "proba", 2],
            [0.5, 0.5],
            "pairs[1].predictions.proba[2]: expected 6 probabilities (labels), got 2",
        ),
    ],
)
def test_damaged_suite_file_names_the_first_problem(suite_doc, tmp_path, path, value, message):
    _set(suite_doc, path, value)
    target = tmp_path / "schema_suite.json"
    target.write_text(json.dumps(suite_doc), encoding="utf-8")
    with pytest.raises(ResultsFileError) as error:
        load_json(target, "suite")
    assert str(error.value) == f"{target}: {message}"


def test_extra_keys_are_allowed(suite_doc):
    suite_doc["added_later"] = {"anything": [1, 2]}
    suite_doc["pairs"][1]["metrics"]["new_metric"] = "text"
    assert validate(copy.deepcopy(suite_doc), "suite") == suite_doc


def test_a_pair_record_is_checked_on_its_own(written, tmp_path):
    record = json.loads(next((written / "schema_suite").glob("*pretrained.json")).read_text(encoding="utf-8"))
    record["metrics"]["per_class"]["joy"]["support"] = 2.5
    target = tmp_path / "pair.json"
    target.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(
        ResultsFileError, match=r"pair\.json: metrics\.per_class\.joy\.support: expected an integer"
    ):
        load_json(target, "pair")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot be read (No such file or directory)"),
        (b'{"schema_version": 1,\n "kind": }', "2:10: invalid JSON (Expecting value)"),
        (b'{"suite": "\xff"}', "not UTF-8 (byte 11)"),
        (b"[1, 2]", "(top level): expected an object, got [1, 2]"),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path, content, message):
    target = tmp_path / "suite.json"
    if content is not None:
        target.write_bytes(content)
    with pytest.raises(ResultsFileError) as error:
        load_json(target, "suite")
    separator = "" if message[0].isdigit() else " "
    assert str(error.value) == f"{target}:{separator}{message}"


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match=r"kind 'report': expected one of \['pair', 'suite'\]"):
        validate({}, "report")


def test_json_path_quotes_keys_that_are_not_identifiers():
    assert json_path(["pairs", 3, "metrics", "accuracy"]) == "pairs[3].metrics.accuracy"
    assert json_path(["token_lengths", "org/model", "split"]) == 'token_lengths["org/model"].split'
    assert json_path([]) == "(top level)"
