"""Hostile and broken dataset folders and texts (issue 14, round two).

A split file is read only when it is a regular file inside its dataset folder, within a size cap; a
bare dataset name never reads a folder of the working directory; a file's labels are all names or
all integer ids; a huge text is tokenized through a bounded prefix. Each case is one line naming the
file (and line or row); nothing outside the folder is read or quoted.
"""

import errno
import json
import os
import socket
import stat
import threading
from pathlib import Path

import datasets
import pandas as pd
import pytest
from transformers import AutoTokenizer

from harness.engine.approaches.finetune import FineTune
from harness.engine.data import DatasetError, DataSource, load_dataset, load_local, resolve_source
from harness.engine.inference import encode
from harness.engine.overview import token_lengths

from .conftest import LABELS, make_examples, write_txt

SECRET = "HARNESS_TEST_SECRET=hunter2"


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(DatasetError) as error:
        call(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.fixture
def folder(tmp_path):
    """A dataset folder with a good train split."""
    root = tmp_path / "data"
    root.mkdir()
    write_txt(root / "train.txt", make_examples(12, 0))
    return root


# --- what a dataset folder may hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    "outside",
    [f"{SECRET};joy\n", f"{SECRET}\n", "/proc/self/environ", "/dev/null"],
    ids=["readable row", "bad first line", "proc environ", "device"],
)
def test_split_linked_outside_the_folder_is_refused_unread(tmp_path, folder, monkeypatch, outside):
    monkeypatch.setenv("HARNESS_TEST_SECRET", "hunter2")
    (folder / "sub").mkdir()
    write_txt(folder / "sub" / "val.txt", make_examples(6, 1))
    (folder / "validation.txt").symlink_to(folder / "sub" / "val.txt")  # inside: fine
    assert len(load_local(folder, LABELS)["validation"]) == 6

    if outside.startswith("/"):  # /dev/zero is the same case as /dev/null; unfixed code read it forever
        if not os.path.exists(outside):
            pytest.skip(f"no {outside} here")
        target = outside
    else:
        target = tmp_path / "secret.txt"
        target.write_text(outside, encoding="utf-8")
    (folder / "test.txt").symlink_to(target)
    message = one_line_error(load_local, folder, LABELS)
    assert message == (
        f"{folder / 'test.txt'}: a link to a file outside the dataset folder {folder}; "
        "expected a regular file inside it"
    )
    assert "hunter2" not in message


@pytest.fixture
def unblock_fifo():
    """Opens a FIFO's writing end whenever a reader waits on it, then closes it: a reader gets end of
    file instead of hanging (unfixed code opened FIFOs for reading)."""
    stop = threading.Event()
    paths = []

    def writer():
        while not stop.wait(0.05):
            for path in paths:
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError as e:
                    if e.errno not in (errno.ENXIO, errno.ENOENT):
                        raise

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    yield paths.append
    stop.set()
    thread.join()


def _make_special(path, kind, unblock_fifo):
    if kind == "fifo":
        os.mkfifo(path)
        unblock_fifo(str(path))
    elif kind == "character device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
        except PermissionError:
            pytest.skip("creating a device node needs privileges")
    elif kind == "directory":
        path.mkdir()
        (path / "x.txt").write_text("a;joy\n")
    else:
        if len(str(path)) >= 100:
            pytest.skip("socket path too long")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        return server
    return None


@pytest.mark.parametrize(
    "kind, described",
    [
        ("fifo", "a named pipe (FIFO)"),
        ("character device", "a character device"),
        ("directory", "a directory"),
        ("socket", "a socket"),
    ],
)
def test_special_files_are_refused_without_reading(folder, unblock_fifo, kind, described):
    path = folder / "validation.txt"
    server = _make_special(path, kind, unblock_fifo)
    try:
        message = one_line_error(load_local, folder, LABELS)
    finally:
        if server is not None:
            server.close()
    assert message == (
        f"{path}: {described}, not a regular file; expected a regular file inside the dataset folder"
    )


def test_file_over_the_size_cap(folder, monkeypatch):
    monkeypatch.setenv("HARNESS_MAX_FILE_MB", "1")
    path = folder / "validation.txt"
    write_txt(path, [("x" * 1000, "joy")] * 1100)
    size = path.stat().st_size
    assert one_line_error(load_local, folder, LABELS) == (
        f"{path}: {size} bytes, over the cap of 1 MiB per dataset file (HARNESS_MAX_FILE_MB)"
    )
    monkeypatch.setenv("HARNESS_MAX_FILE_MB", "2")
    assert len(load_local(folder, LABELS)["validation"]) == 1100


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_size_cap_setting_must_be_a_positive_number(folder, monkeypatch, value):
    monkeypatch.setenv("HARNESS_MAX_FILE_MB", value)
    assert one_line_error(load_local, folder, LABELS) == (
        f"HARNESS_MAX_FILE_MB={value!r}: expected a positive whole number of MiB"
    )


# --- where a named dataset comes from ------------------------------------------------------------


def _one_split(root, text):
    root.mkdir(parents=True)
    write_txt(root / "train.txt", [(text, "joy"), ("other", "sadness")])


def test_bare_name_reads_the_data_dir_not_the_working_directory(tmp_path, monkeypatch):
    _one_split(tmp_path / "work" / "emotion", "from the working directory")
    _one_split(tmp_path / "mirrors" / "emotion", "from the data dir")
    monkeypatch.chdir(tmp_path / "work")
    dataset = load_dataset("emotion", "../mirrors")
    assert dataset["train"]["text"][0] == "from the data dir"
    source = resolve_source("emotion", "../mirrors")
    assert (source.kind, source.location) == ("local", str(tmp_path / "mirrors" / "emotion"))


def test_bare_name_never_reads_a_folder_of_the_working_directory(tmp_path, monkeypatch):
    _one_split(tmp_path / "mydata", "local")
    _one_split(tmp_path / "dair-ai" / "emotion", "a fake emotion")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    message = one_line_error(load_dataset, "mydata")
    assert message.startswith("dataset 'mydata' cannot be loaded from the hub (")
    assert one_line_error(load_dataset, "emotion").startswith(
        "dataset 'dair-ai/emotion' cannot be loaded from the hub ("
    )
    for explicit in ("./mydata", f"../{tmp_path.name}/mydata", tmp_path / "mydata", Path("mydata")):
        assert load_dataset(explicit)["train"]["text"][0] == "local"
        assert resolve_source(explicit) == DataSource("mydata", "local", str(tmp_path / "mydata"))


# --- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [None, ["joy", "sadness"]])
def test_names_and_ids_mixed_in_one_file(folder, declared):
    path = folder / "validation.jsonl"
    rows = [{"text": "a", "label": "joy"}, {"text": "b", "label": "sadness"}, {"text": "c", "label": 1}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "train.txt").unlink()
    assert one_line_error(load_local, folder, declared) == (
        f"{path}:3: label 1 is an integer id, but {path}:1 has the label name 'joy'; "
        "expected all label names or all integer ids in one file"
    )


def test_names_and_ids_mixed_across_files_without_declared_labels(folder):
    path = folder / "validation.jsonl"
    path.write_text('{"text": "a", "label": 0}\n', encoding="utf-8")
    assert one_line_error(load_local, folder) == (
        f"{path}:1: label 0 is an integer id, but {folder / 'train.txt'}:1 has the label name 'sadness'; "
        "expected all label names or all integer ids in a dataset without declared label names"
    )
    assert load_local(folder, LABELS)["validation"]["label"] == [0]  # declared: the id has a name


def test_parquet_null_label_names_its_row(folder):
    """pandas writes an integer column with a missing value as floats: 1.0, null, 2.0."""
    path = folder / "validation.parquet"
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [1, None, 2]})
    frame.to_parquet(path)
    assert one_line_error(load_local, folder, LABELS) == (
        f"{path} row 2: field 'label' is null; expected a label name or an integer id"
    )


# --- huge texts ---------------------------------------------------------------------------------


class CountingTokenizer:
    """A tokenizer that adds up the characters it is given."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.chars = 0

    def __call__(self, texts, **kwargs):
        self.chars += sum(map(len, texts))
        return self.tokenizer(texts, **kwargs)


HUGE = "i feel happy today " * 300_000  # 5.7 MB on one line


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint):
    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def test_huge_text_is_truncated_through_a_prefix(tokenizer):
    counting = CountingTokenizer(tokenizer)
    short = "i feel sad"
    encoded = encode(counting, [short, HUGE], 64)
    assert encoded.n_truncated == 1
    assert encoded.input_ids[0] == tokenizer(short)["input_ids"]
    assert encoded.input_ids[1] == tokenizer(HUGE[:2000], truncation=True, max_length=64)["input_ids"]
    assert counting.chars < 50_000  # a few bounded prefixes, not the 5.7 MB

    sparse = " " * 200_000 + "happy"  # long in characters, three tokens: tokenized whole, exact
    encoded = encode(tokenizer, [sparse], 64)
    assert encoded.n_truncated == 0
    assert encoded.input_ids[0] == tokenizer("happy")["input_ids"]


def test_huge_text_in_the_token_length_overview(tokenizer):
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)}
    )
    train = datasets.Dataset.from_dict({"text": ["i feel sad", HUGE], "label": [0, 1]}, features=features)
    dataset = datasets.DatasetDict({"train": train})
    counting = CountingTokenizer(tokenizer)
    overview = token_lengths(dataset, counting, 64)
    assert overview["n_exceeding"] == {"train": 1}
    assert overview["per_class"]["sadness"]["max"] == 5
    assert overview["per_class"]["joy"]["min"] > 64
    assert counting.chars < 50_000


def test_huge_text_in_fine_tuning_data(tokenizer):
    counting = CountingTokenizer(tokenizer)
    estimator = FineTune()
    estimator.tokenizer_, estimator.max_length_ = counting, 64
    tokenized = estimator._tokenized(["i feel sad", HUGE], [0, 1])
    assert tokenized["input_ids"][0] == tokenizer("i feel sad")["input_ids"]
    assert tokenized["input_ids"][1] == tokenizer(HUGE[:2000], truncation=True, max_length=64)["input_ids"]
    assert counting.chars < 50_000
