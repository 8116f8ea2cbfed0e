import json

import pandas as pd
import pytest

from harness.engine.data import KNOWN_DATASETS, DatasetError, load_dataset, load_hub, load_local, resolve_source

from .conftest import LABELS, write_txt


def _labels(dataset, split):
    names = dataset[split].features["label"].names
    return [names[i] for i in dataset[split]["label"]]


def test_local_txt_keeps_declared_label_order_and_every_row(dataset_dir):
    dataset = load_local(dataset_dir, LABELS)
    assert sorted(dataset) == ["test", "train", "validation"]
    assert [len(dataset[s]) for s in ("train", "validation", "test")] == [240, 60, 60]
    assert dataset["train"].features["label"].names == LABELS
    first = (dataset_dir / "train.txt").read_text().splitlines()[0]
    assert dataset["train"][0]["text"] == first.rsplit(";", 1)[0]
    assert _labels(dataset, "train")[0] == first.rsplit(";", 1)[1]


def test_txt_splits_on_the_last_separator(tmp_path):
    (tmp_path / "train.txt").write_text("a;b;joy\nno sep here;sadness\n", encoding="utf-8")
    dataset = load_local(tmp_path, ["sadness", "joy"])
    assert dataset["train"]["text"] == ["a;b", "no sep here"]
    assert dataset["train"]["label"] == [1, 0]


def test_named_dataset_resolves_to_data_dir_mirror(dataset_dir):
    source = resolve_source("tiny-emotion", dataset_dir.parent)
    assert (source.kind, source.location) == ("local", str(dataset_dir))
    assert resolve_source("emotion", None) == type(source)("emotion", "hub", "dair-ai/emotion")
    assert resolve_source("emotion", dataset_dir.parent).kind == "hub"  # no emotion/ under it


def test_known_dataset_gets_its_hub_label_order(tmp_path):
    root = tmp_path / "emotion"
    root.mkdir()
    write_txt(root / "train.txt", [("x", "surprise"), ("y", "sadness")])
    dataset = load_dataset("emotion", data_dir=tmp_path)
    assert dataset["train"].features["label"].names == list(KNOWN_DATASETS["emotion"].labels)
    assert dataset["train"]["label"] == [5, 0]


def test_undeclared_labels_are_sorted_names(tmp_path):
    write_txt(tmp_path / "train.txt", [("x", "joy"), ("y", "anger"), ("z", "joy")])
    assert load_local(tmp_path)["train"].features["label"].names == ["anger", "joy"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_csv_jsonl_parquet_read_the_same_rows(tmp_path, fmt):
    rows = [
        ("plain", "joy"),
        ('with "quotes", commas; and semicolons', "love"),
        ("NA", "joy"),
        ("ünïcode ✓", "fear"),
    ]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    path = tmp_path / f"train.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text(
            "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows), encoding="utf-8"
        )
    else:
        frame.to_parquet(path)
    dataset = load_local(tmp_path, LABELS)
    assert dataset["train"]["text"] == [t for t, _ in rows]
    assert _labels(dataset, "train") == [lab for _, lab in rows]


def test_integer_label_ids_are_taken_as_ids(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": 2}\n{"text": "b", "label": 0}\n')
    dataset = load_local(tmp_path, ["x", "y", "z"])
    assert dataset["train"]["label"] == [2, 0]
    assert load_local(tmp_path)["train"].features["label"].names == ["0", "1", "2"]


@pytest.mark.parametrize(
    "filename, content, labels, expected",
    [
        (
            "train.txt",
            "fine;joy\nno separator\n",
            LABELS,
            r"train\.txt:2: expected 'text;label', got 'no separator'",
        ),
        (
            "train.txt",
            "fine;joy\nbad;boredom\n",
            LABELS,
            r"train\.txt:2: unknown label 'boredom'; expected one of",
        ),
        ("train.txt", b"ok;joy\n\xff\xfe;joy\n", LABELS, r"train\.txt:2: not UTF-8"),
        ("train.txt", "", LABELS, r"train\.txt: split is empty"),
        (
            "train.jsonl",
            '{"text": "a", "label": 7}\n',
            LABELS,
            r"train\.jsonl:1: label id 7 out of range 0\.\.5",
        ),
        ("train.jsonl", '{"text": "a"}\n', LABELS, r"train\.jsonl:1: missing field 'label'"),
        ("train.jsonl", "{not json\n", LABELS, r"train\.jsonl:1: invalid JSON"),
        ("train.csv", "sentence,label\nhi,joy\n", LABELS, r"train\.csv: missing column\(s\) \['text'\]"),
        ("train.txt", "a;joy\n", ["joy", "joy"], r"duplicate label names \['joy'\]"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_place(tmp_path, filename, content, labels, expected):
    path = tmp_path / filename
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(DatasetError, match=expected) as error:
        load_local(tmp_path, labels)
    assert "\n" not in str(error.value)


def test_directory_without_split_files(tmp_path):
    (tmp_path / "notes.md").write_text("hi")
    with pytest.raises(DatasetError, match="no split files; expected <split>"):
        load_local(tmp_path)


def test_two_files_for_one_split(tmp_path):
    write_txt(tmp_path / "train.txt", [("a", "joy")])
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": "joy"}\n')
    with pytest.raises(DatasetError, match="split 'train' has two files"):
        load_local(tmp_path)


def test_unreachable_hub_dataset_says_how_to_use_a_local_mirror():
    # the tests run with HF_DATASETS_OFFLINE=1 (conftest): the hub path fails at once
    with pytest.raises(
        DatasetError, match=r"dataset 'dair-ai/emotion' cannot be loaded from the hub .*HARNESS_DATA_DIR"
    ):
        load_dataset("emotion")


def test_hub_loader_class_encodes_string_labels(tmp_path, monkeypatch):
    # datasets.load_dataset takes a directory of data files the same way as a hub id
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    (tmp_path / "repo").mkdir()
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["joy", "anger", "joy"]}).to_csv(
        tmp_path / "repo" / "train.csv", index=False
    )
    dataset = load_hub(str(tmp_path / "repo"))
    assert dataset["train"].features["label"].names == ["anger", "joy"]
    assert dataset["train"]["label"] == [1, 0, 1]
    declared = load_hub(str(tmp_path / "repo"), labels=["joy", "anger"])
    assert declared["train"]["label"] == [0, 1, 0]
