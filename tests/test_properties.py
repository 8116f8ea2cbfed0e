"""Properties of the local-file readers and the label mapping (hypothesis).

What a standard writer writes (``csv``, ``pandas.to_csv``, ``json.dumps`` lines, pyarrow Parquet, and
``text;label`` lines for the texts that format can hold) reads back exactly: texts, labels, order and
count. Any other text is read back unchanged or rejected with a ``DatasetError`` naming the file and
the line/row: never altered, never dropped.
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

from harness.data import DatasetError, load_local

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
