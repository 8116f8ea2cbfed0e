"""Properties of the local-file readers, the label mapping and the results files (hypothesis).

What a standard writer writes (``csv``, ``pandas.to_csv``, ``json.dumps`` lines, pyarrow Parquet, and
``text;label`` lines for the texts that format can hold) reads back exactly: texts, labels, order and
count. Any other text is read back unchanged or rejected with a ``DatasetError`` naming the file and
the line/row: never altered, never dropped. Results files follow the same rule: what any JSON file
holds is kept (the model only adds its defaults) or the file is rejected with one ``ResultsError``
line naming it; what the harness writes reads back byte for byte; two checkpoints never share a
record file.
"""

import csv
import json
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.engine.data import DatasetError, load_local
from harness.results import PairRecord, ResultsError, SuiteDocument, read_json, validate, write_json
from harness.results.io import dumps
from harness.results.suite import record_path

from .report_fixture import suite_document

# Separators, quotes, line breaks, NUL, a byte-order mark and other Unicode line breaks, then anything.
TRICKY = st.sampled_from([";", ",", '"', "'", "\r", "\n", "\x00", "\ufeff", "\u2028", "\x85", " ", "\t"])
TEXT = st.text(alphabet=st.one_of(TRICKY, st.characters(codec="utf-8")), max_size=20)
NON_BLANK = TEXT.filter(lambda t: t.strip())
LABEL_NAME = st.text(alphabet=st.one_of(TRICKY, st.characters(codec="utf-8")), min_size=1, max_size=8).filter(
    str.strip
)

PROPERTY = settings(max_examples=30, deadline=None, database=None)  # writes nothing into the checkout


@st.composite
def labelled(draw, text=NON_BLANK, name=LABEL_NAME):
    """Distinct label names (declared order) and 1..8 (text, label name) rows."""
    names = draw(st.lists(name, min_size=1, max_size=4, unique=True))
    rows = draw(st.lists(st.tuples(text, st.sampled_from(names)), min_size=1, max_size=8))
    return names, rows


def read_back(filename: str, write, names=None):
    """Write one split with ``write(path)`` into a fresh directory and read it: (texts, label names)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / filename
        write(path)
        split = load_local(directory, names)["train"]
        declared = split.features["label"].names
        return list(split["text"]), [declared[i] for i in split["label"]]


def rejected(filename: str, write, names=None) -> str:
    """The error message for a file that must be rejected; it names the file."""
    with tempfile.TemporaryDirectory() as directory, pytest.raises(DatasetError) as error:
        path = Path(directory) / filename
        write(path)
        load_local(directory, names)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
    return str(error.value)


def _csv_module(rows):
    def write(path):
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)

    return write


def _jsonl(rows, ensure_ascii):
    def write(path):
        lines = (json.dumps({"text": t, "label": lab}, ensure_ascii=ensure_ascii) + "\n" for t, lab in rows)
        path.write_text("".join(lines), encoding="utf-8")

    return write


def _parquet(rows):
    def write(path):
        pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]}), path)

    return write


def _txt(rows):
    def write(path):
        path.write_text("".join(f"{t};{lab}\n" for t, lab in rows), encoding="utf-8")

    return write


@PROPERTY
@given(labelled())
def test_csv_module_round_trips(case):
    names, rows = case
    assert read_back("train.csv", _csv_module(rows), names) == (
        [t for t, _ in rows],
        [lab for _, lab in rows],
    )


@PROPERTY
@given(labelled(name=LABEL_NAME.filter(lambda name: "\r" not in name)))
def test_pandas_to_csv_round_trips_or_is_rejected(case):
    """pandas may leave a ``\\r`` unquoted (not valid CSV): such a file is rejected, never misread.

    (A label ending in ``\\r`` cannot be told from a CRLF line end; labels here have none.)
    """
    names, rows = case
    frame = pd.DataFrame(rows, columns=["text", "label"])

    def write(path):
        frame.to_csv(path, index=False)

    try:
        texts_and_labels = read_back("train.csv", write, names)
    except DatasetError as error:
        assert any("\r" in t for t, _ in rows), error
        rejected("train.csv", write, names)  # one line, naming the file
    else:
        assert texts_and_labels == ([t for t, _ in rows], [lab for _, lab in rows])


@PROPERTY
@given(labelled(), st.booleans())
def test_json_lines_round_trip(case, ensure_ascii):
    names, rows = case
    written = _jsonl(rows, ensure_ascii)
    assert read_back("train.jsonl", written, names) == ([t for t, _ in rows], [lab for _, lab in rows])


@PROPERTY
@given(labelled())
def test_parquet_round_trips(case):
    names, rows = case
    assert read_back("train.parquet", _parquet(rows), names) == (
        [t for t, _ in rows],
        [lab for _, lab in rows],
    )


TXT_TEXT = NON_BLANK.filter(lambda t: "\n" not in t and "\r" not in t)
TXT_LABEL = LABEL_NAME.filter(lambda t: not set(t) & {";", "\n", "\r"})


@PROPERTY
@given(labelled(TXT_TEXT, TXT_LABEL))
def test_txt_round_trips_the_texts_it_can_hold(case):
    """One ``text;label`` per line: texts hold no line break; a leading byte-order mark is not text."""
    names, rows = case
    rows = [(t.lstrip("\ufeff") or "x", lab) if i == 0 else (t, lab) for i, (t, lab) in enumerate(rows)]
    assert read_back("train.txt", _txt(rows), names) == ([t for t, _ in rows], [lab for _, lab in rows])


@PROPERTY
@given(TEXT.filter(lambda t: "\n" not in t and not t.startswith("\ufeff")))
def test_any_text_in_a_txt_line_is_kept_or_rejected_naming_the_line(text):
    write = _txt([(text, "joy")])
    if not text.strip() or "\r" in text:
        assert rejected("train.txt", write, ["joy"]).split(": ", 1)[0].endswith("train.txt:1")
    else:
        assert read_back("train.txt", write, ["joy"]) == ([text], ["joy"])


@PROPERTY
@given(TEXT, st.sampled_from(["csv", "jsonl", "parquet"]))
def test_any_text_is_kept_or_rejected_as_blank(text, fmt):
    write = {"csv": _csv_module, "jsonl": lambda rows: _jsonl(rows, False), "parquet": _parquet}[fmt](
        [(text, "joy")]
    )
    if text.strip():
        assert read_back(f"train.{fmt}", write, ["joy"]) == ([text], ["joy"])
    else:
        assert "empty text" in rejected(f"train.{fmt}", write, ["joy"])


@PROPERTY
@given(labelled(name=st.one_of(LABEL_NAME, st.integers(0, 10**6).map(str))))
def test_undeclared_label_names_are_sorted_and_map_back_to_the_written_labels(case):
    _, rows = case
    with tempfile.TemporaryDirectory() as directory:
        _jsonl(rows, True)(Path(directory) / "train.jsonl")
        split = load_local(directory)["train"]
    names = split.features["label"].names
    assert [names[i] for i in split["label"]] == [lab for _, lab in rows]
    used = sorted({lab for _, lab in rows})
    if all(n.isdecimal() and str(int(n)) == n for n in used):
        assert names == sorted(used, key=int)
    else:
        assert names == used


@PROPERTY
@given(
    st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), min_size=1)))
)
def test_integer_ids_are_kept(case):
    n_labels, ids = case
    names = [f"class {i}" for i in range(n_labels)]
    rows = [(f"text {i}", label_id) for i, label_id in enumerate(ids)]
    for filename, write in (("train.jsonl", _jsonl(rows, True)), ("train.parquet", _parquet(rows))):
        with tempfile.TemporaryDirectory() as directory:
            write(Path(directory) / filename)
            assert load_local(directory, names)["train"]["label"] == ids


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(),  # NaN and ±Infinity included: they must be rejected, never kept or nulled
    st.text(alphabet=st.one_of(TRICKY, st.characters(codec="utf-8")), max_size=10),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
PAIR = validate(suite_document()["pairs"][0], PairRecord).to_json()  # evaluated, with predictions


def read_back_results(data, model):
    """Write ``data`` as JSON (NaN and Infinity as Python writes them) and read it with ``model``:
    the document as JSON data, or the one-line error."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "results.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        try:
            return read_json(path, model).to_json()
        except ResultsError as error:
            assert str(error).startswith(f"{path}") and "\n" not in str(error), error
            return error


def kept(data, result) -> bool:
    """Every key and value of ``data`` is in ``result`` (which may add the model's defaults)."""
    if isinstance(data, dict):
        return isinstance(result, dict) and all(k in result and kept(v, result[k]) for k, v in data.items())
    if isinstance(data, list):
        return isinstance(result, list) and len(data) == len(result) and all(map(kept, data, result))
    return data == result and (type(data) is type(result) or isinstance(result, float))


def finite(value) -> bool:
    """No NaN or infinity anywhere in ``value``."""
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, list):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    return True


@PROPERTY
@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in PAIR), JSON_VALUE, max_size=3))
def test_extra_keys_in_a_pair_record_are_kept_exactly_or_rejected_in_one_line(extra):
    result = read_back_results(PAIR | extra, PairRecord)
    if finite(extra):
        assert result == PAIR | extra
    else:
        assert isinstance(result, ResultsError) and "expected a finite number" in str(result)


@PROPERTY
@given(st.sampled_from(sorted(PAIR)), JSON_VALUE)
def test_any_value_for_a_known_key_is_kept_or_rejected_in_one_line(key, value):
    result = read_back_results(PAIR | {key: value}, PairRecord)
    if not isinstance(result, ResultsError):
        assert kept(PAIR | {key: value}, result)


@PROPERTY
@given(JSON_VALUE)
def test_any_json_document_is_a_suite_file_or_one_line(data):
    result = read_back_results(data, SuiteDocument)
    assert isinstance(result, ResultsError) or kept(data, result)


CHECKPOINT_ID = st.text(st.one_of(st.sampled_from("/-_. +a"), st.characters(codec="utf-8")), max_size=130)


@PROPERTY
@given(st.lists(CHECKPOINT_ID, min_size=2, max_size=6, unique=True))
def test_different_checkpoints_get_different_record_files(ids):
    record = validate(suite_document()["pairs"][1], PairRecord)  # skipped: nothing to keep in step
    report_dir = Path("reports")
    paths = [record_path(report_dir, record.model_copy(update={"checkpoint": c})) for c in ids]
    assert len(set(paths)) == len(ids)
    for path in paths:
        assert path.parent == report_dir / "emotion" and len(path.name) < 255
        assert path.name.isascii() and not path.name.startswith(".") and "/" not in path.name


@PROPERTY
@given(st.lists(CHECKPOINT_ID.filter(str.strip), min_size=1, max_size=3, unique=True))
def test_a_suite_document_written_is_read_back_unchanged(ids):
    pairs = [PAIR | {"checkpoint": c} for c in ids]
    document = validate(suite_document() | {"pairs": pairs, "comparisons": []}, SuiteDocument)
    with tempfile.TemporaryDirectory() as directory:
        path = write_json(Path(directory) / "suite.json", document)
        assert dumps(read_json(path, SuiteDocument)) == path.read_text(encoding="utf-8")
