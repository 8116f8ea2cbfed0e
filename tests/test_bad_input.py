"""Bad input: datasets, checkpoints, untrusted code and the network. Each case is one clear error (it
names the file, line, field or checkpoint and says what was expected) or a documented behaviour.

Where each row of the bad-input matrix is tested (here unless another module is named):

=============================  ===========================================================================
bad input                      test
=============================  ===========================================================================
missing file                   dataset path: ``test_dataset_path_that_does_not_exist``; named dataset not
                               under the data dir: ``test_named_dataset_missing_from_the_data_dir``; no
                               split files: test_data ``test_directory_without_split_files``; checkpoint
                               files: ``test_checkpoint_without_*``; results file: test_schema
not UTF-8                      .txt: test_data ``test_bad_files_give_one_line_errors_naming_the_place``;
                               .csv/.jsonl: ``test_bad_dataset_files``; results: test_schema
line without separator         test_data ``test_bad_files_give_one_line_errors_naming_the_place``
empty text                     ``test_bad_dataset_files`` (error naming the line/row), hub data:
                               ``test_hub_dataset_with_a_blank_text``
unknown label name             test_data (.txt); ``test_bad_dataset_files`` (ids in .csv, empty, null)
label id out of range          test_data (.jsonl); ``test_bad_dataset_files`` (negative id in .parquet)
missing split                  ``test_missing_split``
empty split                    test_data (.txt); ``test_bad_dataset_files`` (.csv, .jsonl);
                               in-memory/hub: ``test_empty_split``
train split with one class     ``test_single_class_train_split_*`` (an error for approaches that learn to
                               separate classes; most-frequent predicts the class; pretrained trains nothing)
duplicate label names          test_data (declared, local); ``test_duplicate_label_names_for_a_hub_dataset``
unresolvable checkpoint        test_checkpoints ``test_unresolvable_checkpoint_gives_one_line_reason``,
                               ``test_missing_mirror_package_says_how_to_install_it``
head labels ≠ dataset labels   test_approaches ``test_pretrained_head_with_other_labels_is_a_clear_error``
tokenizer without pad token    ``test_tokenizer_without_pad_token_*`` (falls back to eos, then unk)
texts over the model maximum   test_inference ``test_encode_truncates_long_texts_and_counts_them``;
                               ``test_long_texts_are_truncated_and_counted_in_the_record``
NaN/inf features               ``test_non_finite_features_*``, ``test_non_finite_probabilities_*``
malformed .csv/.parquet/JSON   ``test_bad_dataset_files``; checkpoint config: ``test_checkpoint_with_*``
remote code                    config.json: test_checkpoints ``test_remote_code_checkpoint_is_refused``;
                               tokenizer_config.json: ``test_remote_code_tokenizer_is_refused_and_not_run``
pickled weights                ``test_pickled_weights_*`` (weights_only: a payload never runs)
network                        ``test_tests_cannot_open_network_connections``
rows silently dropped/changed  test_properties (round trips); ``test_documented_reading_rules``;
                               blank lines are errors: ``test_bad_dataset_files``
=============================  ===========================================================================
"""

import json
import shutil
import socket

import datasets
import numpy as np
import pandas as pd
import pytest
import torch

from harness.engine.approaches import approach_spec
from harness.engine.approaches.features import HiddenStateExtractor
from harness.engine.approaches.pretrained import Pretrained
from harness.engine.checkpoints import CheckpointError, CheckpointUnavailable, resolve_checkpoint
from harness.engine.data import DatasetError, load_dataset, load_hub, load_local
from harness.engine.evaluation import SplitMissing, evaluate
from harness.errors import HarnessError
from harness.engine.runtime import Runtime
from harness.engine.run import PairOutcome

from .conftest import LABELS, NetworkBlocked, make_examples

CPU = Runtime(device="cpu")


def one_line_error(error_type, call, *args, **kwargs) -> str:
    with pytest.raises(error_type) as error:
        call(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    assert isinstance(error.value, HarnessError), f"{type(error.value).__name__} is not a HarnessError"
    return message


def _write(path, content) -> None:
    if isinstance(content, pd.DataFrame):
        content.to_parquet(path)
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


# --- datasets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("train.txt", "fine;joy\n;joy\n", ":2: empty text ''; expected a text that is not blank"),
        ("train.txt", "fine;joy\n  \t;joy\n", ":2: empty text '  \\t'; expected a text that is not blank"),
        ("train.txt", "fine;\n", ":1: empty label ''; expected a label name"),
        (
            "train.txt",
            "one;joy\rtwo;sadness\r",
            ":1: carriage return (\\r) inside the line; expected one 'text;label' per line "
            "(texts with line breaks need .jsonl or .csv)",
        ),
        ("train.csv", "text,label\nfine,joy\n,joy\n", ":3: empty text ''; expected a text that is not blank"),
        ("train.csv", "text,label\nfine,\n", ":2: empty label ''; expected a label name"),
        ("train.csv", "text,label\nfine\n", ":2: expected 2 fields (text,label), got 1"),
        ("train.csv", "text,label\nfine,joy\n\n", ":3: expected 2 fields (text,label), got 0"),
        ("train.csv", "text,label\na,joy,extra\n", ":2: expected 2 fields (text,label), got 3"),
        ("train.csv", 'text,label\n"quoted"then more,joy\n', ":2: not valid CSV (',' expected after '\"')"),
        (
            "train.csv",
            "text,label,text\na,joy,b\n",
            ": column(s) ['text'] appear more than once in the header",
        ),
        (
            "train.csv",
            "text,label\nfine,1\n",
            ":2: unknown label '1'; expected one of ['sadness', 'joy', 'love', 'anger', 'fear', "
            "'surprise'] (in .txt/.csv files a label is a name; integer ids need .jsonl or .parquet)",
        ),
        ("train.csv", b"text,label\nok,joy\n\xe9t\xe9,joy\n", ":3: not UTF-8 (byte 18)"),
        ("train.csv", "text,label\n", ": split is empty"),
        (
            "train.jsonl",
            '{"text": "", "label": "joy"}\n',
            ":1: empty text ''; expected a text that is not blank",
        ),
        (
            "train.jsonl",
            '{"text": "a", "label": null}\n',
            ":1: field 'label' is null; expected a label name or an integer id",
        ),
        (
            "train.jsonl",
            '{"text": "a", "label": 1.0}\n',
            ":1: field 'label' must be a label name or an integer id, got 1.0",
        ),
        ("train.jsonl", '{"text": 5, "label": "joy"}\n', ":1: field 'text' must be a string, got 5"),
        ("train.jsonl", b'{"text": "ok", "label": "joy"}\n{"text": "\xff"}\n', ":2: not UTF-8 (byte 41)"),
        ("train.jsonl", "", ": split is empty"),
        ("train.jsonl", '{"text": "a", "label": "joy"}\n\n', ":2: empty line; expected a JSON object"),
        (
            "train.parquet",
            pd.DataFrame({"text": ["a", "b"], "label": [1, -1]}),
            " row 2: label id -1 out of range 0..5",
        ),
        (
            "train.parquet",
            pd.DataFrame({"text": ["a", None], "label": ["joy", "joy"]}),
            " row 2: field 'text' is null; expected a string",
        ),
        ("train.parquet", b"PAR1 but not really", ": not a readable Parquet file ("),
    ],
)
def test_bad_dataset_files(tmp_path, filename, content, message):
    path = tmp_path / filename
    _write(path, content)
    got = one_line_error(DatasetError, load_local, tmp_path, LABELS)
    if message.endswith("("):  # the reason in parentheses is the library's own words
        assert got.startswith(f"{path}{message}")
    else:
        assert got == f"{path}{message}"


def test_documented_reading_rules(tmp_path):
    """A UTF-8 byte-order mark is not text; CRLF line ends are; integer names sort by value."""
    (tmp_path / "train.txt").write_text("\ufefffirst;10\r\nsecond;2\r\n", encoding="utf-8")
    (tmp_path / "validation.csv").write_text("\ufefftext,label\r\nx,2\r\ny,10\r\n", encoding="utf-8")
    dataset = load_local(tmp_path)
    assert dataset["train"]["text"] == ["first", "second"]
    assert dataset["train"].features["label"].names == ["2", "10"]
    assert dataset["train"]["label"] == [1, 0]
    assert dataset["validation"]["text"] == ["x", "y"] and dataset["validation"]["label"] == [0, 1]


def test_dataset_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere"
    assert one_line_error(DatasetError, load_dataset, str(missing)) == (
        f"{missing}: no such directory; expected a directory holding <split>.txt|.csv|..."
    )


def test_named_dataset_missing_from_the_data_dir(tmp_path):
    message = one_line_error(DatasetError, load_dataset, "emotion", data_dir=tmp_path)
    assert message.startswith("dataset 'dair-ai/emotion' cannot be loaded from the hub (")
    assert message.endswith(f"); no local mirror at {tmp_path / 'emotion'}")


@pytest.fixture
def hub_like(tmp_path, monkeypatch):
    """A directory ``datasets.load_dataset`` reads like a hub repository (see test_data)."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    repo = tmp_path / "repo"
    repo.mkdir()
    return repo


def test_hub_dataset_with_a_blank_text(hub_like):
    pd.DataFrame({"text": ["fine", " "], "label": ["joy", "anger"]}).to_csv(
        hub_like / "train.csv", index=False
    )
    assert one_line_error(DatasetError, load_hub, str(hub_like)) == (
        f"{hub_like} split 'train' row 2: empty text ' '; expected a text that is not blank"
    )


def test_duplicate_label_names_for_a_hub_dataset(hub_like):
    assert one_line_error(DatasetError, load_hub, str(hub_like), labels=["joy", "anger", "joy"]) == (
        f"labels of {hub_like}: duplicate label names ['joy']"
    )


def _dataset(**splits) -> datasets.DatasetDict:
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)}
    )
    return datasets.DatasetDict(
        {
            name: datasets.Dataset.from_dict(
                {"text": [t for t, _ in rows], "label": [LABELS.index(lab) for _, lab in rows]},
                features=features,
            )
            for name, rows in splits.items()
        }
    )


@pytest.fixture(scope="module")
def classifier(tiny_classifier_checkpoint):
    return resolve_checkpoint(str(tiny_classifier_checkpoint))


def test_missing_split(classifier):
    dataset = _dataset(train=make_examples(12, 0), test=make_examples(6, 1))
    message = one_line_error(
        SplitMissing, evaluate, "s", "tiny", dataset, classifier, approach_spec("most-frequent"), CPU
    )
    assert message == "dataset 'tiny' has no split 'validation'; it has ['test', 'train']"


def test_empty_split(classifier):
    dataset = _dataset(train=make_examples(12, 0), validation=[])
    message = one_line_error(
        DatasetError, evaluate, "s", "tiny", dataset, classifier, approach_spec("most-frequent"), CPU
    )
    assert message == "dataset 'tiny' split 'validation' is empty; expected at least one example"


def test_single_class_train_split_is_an_error_for_a_learned_classifier(classifier):
    dataset = _dataset(train=[("i feel glad", "joy")] * 8, validation=make_examples(6, 1))
    spec = approach_spec("features-logreg", pooling="cls")
    message = one_line_error(DatasetError, evaluate, "s", "tiny", dataset, classifier, spec, CPU)
    assert message == (
        "dataset 'tiny' split 'train' has only the class 'joy'; "
        "features-logreg needs at least 2 classes to train"
    )


def test_single_class_train_split_for_most_frequent_and_pretrained(classifier):
    dataset = _dataset(train=[("i feel glad", "joy")] * 8, validation=make_examples(6, 1))
    baseline = evaluate("s", "tiny", dataset, classifier, approach_spec("most-frequent"), CPU)
    assert baseline.scored["y_pred"].tolist() == [LABELS.index("joy")] * 6
    pretrained = evaluate("s", "tiny", dataset, classifier, approach_spec("pretrained"), CPU)
    assert pretrained.proba.shape == (6, 6)


def test_long_texts_are_truncated_and_counted_in_the_record(classifier):
    long_text = " ".join(["happy"] * 100)  # 102 tokens with [CLS]/[SEP]; the tiny model takes 64
    dataset = _dataset(train=make_examples(12, 0), validation=[*make_examples(5, 1), (long_text, "joy")])
    spec = approach_spec("pretrained")
    evaluation = evaluate("s", "tiny", dataset, classifier, spec, CPU)
    outcome = PairOutcome("s", classifier.id, spec, evaluation=evaluation)
    record = outcome.record({})
    assert (record["n_truncated"], record["n_examples"]) == (1, 6)
    assert len(record["predictions"]["proba"]) == 6


# --- checkpoints ----------------------------------------------------------------------------------


def _copy(checkpoint, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(checkpoint, target)
    return target


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def test_checkpoint_without_tokenizer_files(tiny_checkpoint, tmp_path):
    directory = _copy(tiny_checkpoint, tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (directory / name).unlink()
    message = one_line_error(CheckpointError, resolve_checkpoint(str(directory)).load_tokenizer)
    assert message == (
        f"checkpoint '{directory}': its tokenizer has no vocabulary besides 5 special tokens; "
        f"expected tokenizer files (tokenizer.json, vocab.txt, ...) in {directory}"
    )


def test_checkpoint_without_weights(tiny_checkpoint, tmp_path):
    """A CheckpointError naming the checkpoint, with transformers' own reason naming the directory."""
    directory = _copy(tiny_checkpoint, tmp_path)
    (directory / "model.safetensors").unlink()
    message = one_line_error(CheckpointError, resolve_checkpoint(str(directory)).load_model)
    assert message.startswith(f"checkpoint '{directory}': its model cannot be loaded from {directory} (")
    assert (
        f"Error no file named model.safetensors, or pytorch_model.bin, found in directory {directory}."
        in message
    )


def test_checkpoint_with_invalid_config_json(tiny_checkpoint, tmp_path):
    directory = _copy(tiny_checkpoint, tmp_path)
    (directory / "config.json").write_text('{"model_type": "bert",}')
    message = one_line_error(CheckpointError, resolve_checkpoint(str(directory)).load_model)
    assert message.startswith(f"checkpoint '{directory}': {directory / 'config.json'} is not valid JSON (")


@pytest.fixture(scope="module")
def tokenizer_without_pad(tiny_classifier_checkpoint, tmp_path_factory):
    """The tiny classifier whose tokenizer declares no pad token (nor eos: it pads with [UNK])."""
    directory = _copy(tiny_classifier_checkpoint, tmp_path_factory.mktemp("no-pad"))
    _edit_json(directory / "tokenizer_config.json", pad_token=None)
    return directory


def test_tokenizer_without_pad_token_pads_with_unk_and_changes_no_output(tokenizer_without_pad):
    checkpoint = resolve_checkpoint(str(tokenizer_without_pad))
    tokenizer = checkpoint.load_tokenizer()
    assert (tokenizer.pad_token, tokenizer.eos_token) == ("[UNK]", None)
    texts = ["i feel happy", "so scared and nervous today really", "wow"]
    extractor = HiddenStateExtractor(checkpoint, Runtime(device="cpu", batch_size=3))
    batched = extractor.transform(texts, "mean")
    alone = np.vstack([HiddenStateExtractor(checkpoint, CPU).transform([t], "mean") for t in texts])
    assert np.allclose(batched, alone, atol=1e-5)


def test_tokenizer_without_pad_token_prefers_its_eos_token(tokenizer_without_pad, tmp_path):
    directory = _copy(tokenizer_without_pad, tmp_path)
    _edit_json(directory / "tokenizer_config.json", eos_token="[SEP]")
    tokenizer = resolve_checkpoint(str(directory)).load_tokenizer()
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("[SEP]", tokenizer.eos_token_id)


def test_tokenizer_without_pad_token_serves_a_last_token_head(tokenizer_without_pad, tmp_path):
    """A GPT-2 style head finds each text's last token by the pad id: the config gets the fallback's."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    directory = _copy(tokenizer_without_pad, tmp_path, "gpt2-style")
    (directory / "model.safetensors").unlink()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=200,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=None,
        eos_token_id=None,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    assert config.pad_token_id is None
    GPT2ForSequenceClassification(config).save_pretrained(directory)
    model = Pretrained(resolve_checkpoint(str(directory))).fit(runtime=CPU, labels=LABELS)
    assert model.model_.config.pad_token_id == model.tokenizer_.pad_token_id
    texts = ["i feel happy", "so scared and nervous today really"]
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(model.predict_proba(texts), alone, atol=1e-5)


def test_tokenizer_without_pad_eos_or_unk_token(tokenizer_without_pad, tmp_path):
    directory = _copy(tokenizer_without_pad, tmp_path)
    _edit_json(directory / "tokenizer_config.json", unk_token=None)
    assert one_line_error(CheckpointError, resolve_checkpoint(str(directory)).load_tokenizer) == (
        f"checkpoint '{directory}': its tokenizer has no pad, eos or unk token to pad batches with; "
        "expected a pad_token in tokenizer_config.json"
    )


@pytest.fixture
def nan_for_happy(tiny_classifier_checkpoint, tmp_path):
    """The tiny classifier with a NaN embedding for the word "happy"."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    directory = _copy(tiny_classifier_checkpoint, tmp_path, "nan")
    model = BertForSequenceClassification.from_pretrained(directory)
    happy = AutoTokenizer.from_pretrained(directory).convert_tokens_to_ids("happy")
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight[happy] = float("nan")
    model.save_pretrained(directory)
    return resolve_checkpoint(str(directory))


def test_non_finite_features_name_the_checkpoint_and_the_text(nan_for_happy):
    extractor = HiddenStateExtractor(nan_for_happy, CPU)
    message = one_line_error(ValueError, extractor.transform, ["so sad", "i feel happy", "happy"], "cls")
    assert message == (
        f"checkpoint '{nan_for_happy.id}': 2 of 3 texts got non-finite cls features (first: text 1); "
        "expected finite hidden states"
    )


def test_non_finite_probabilities_name_the_pair_and_the_example(nan_for_happy):
    dataset = _dataset(train=make_examples(12, 0), validation=[("so sad", "sadness"), ("happy", "joy")])
    spec = approach_spec("pretrained")
    message = one_line_error(ValueError, evaluate, "s", "tiny", dataset, nan_for_happy, spec, CPU)
    assert message == (
        "pretrained · nan: 1 of 2 examples got non-finite class probabilities (first: example 1); "
        "expected finite numbers"
    )


# --- untrusted code -------------------------------------------------------------------------------

EVIL_MODULE = """
from pathlib import Path
Path(__file__).with_name("REMOTE_CODE_RAN").touch()
"""


def test_remote_code_tokenizer_is_refused_and_not_run(tiny_checkpoint, tmp_path):
    directory = _copy(tiny_checkpoint, tmp_path)
    (directory / "tokenization_evil.py").write_text(EVIL_MODULE)
    _edit_json(
        directory / "tokenizer_config.json", auto_map={"AutoTokenizer": ["tokenization_evil.Evil", None]}
    )
    checkpoint = resolve_checkpoint(str(directory))
    expected = (
        f"checkpoint '{directory}': its tokenizer_config.json asks for remote code (auto_map); "
        "the harness never runs remote code"
    )
    assert one_line_error(CheckpointUnavailable, checkpoint.load_tokenizer) == expected
    assert one_line_error(CheckpointUnavailable, checkpoint.load_model) == expected
    assert not (directory / "REMOTE_CODE_RAN").exists()


class _Payload:
    """Unpickling it calls ``open(marker, "w")``: a harmless stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def pickled_checkpoint(tiny_checkpoint, tmp_path):
    """The tiny checkpoint with its weights in ``pytorch_model.bin`` instead of safetensors."""
    from transformers import BertModel

    directory = _copy(tiny_checkpoint, tmp_path, "pickled")
    state = BertModel.from_pretrained(directory).state_dict()
    (directory / "model.safetensors").unlink()
    return directory, state


def test_pickled_weights_load_with_weights_only(pickled_checkpoint):
    directory, state = pickled_checkpoint
    torch.save(state, directory / "pytorch_model.bin")
    model = resolve_checkpoint(str(directory)).load_model()
    assert torch.equal(
        model.state_dict()["embeddings.word_embeddings.weight"], state["embeddings.word_embeddings.weight"]
    )


def test_pickled_weights_with_a_code_payload_are_refused_and_never_run(pickled_checkpoint, tmp_path):
    directory, state = pickled_checkpoint
    marker = tmp_path / "PAYLOAD_RAN"
    torch.save({**state, "extra": _Payload(marker)}, directory / "pytorch_model.bin")
    torch.load(
        directory / "pytorch_model.bin", weights_only=False
    )  # the payload is live: plain pickle runs it
    assert marker.exists()
    marker.unlink()
    message = one_line_error(CheckpointError, resolve_checkpoint(str(directory)).load_model)
    assert message == (
        f"checkpoint '{directory}': its pickled weights (pytorch_model.bin) hold more than tensors and were "
        "refused, not run (Unsupported global: GLOBAL io.open); "
        "expected model.safetensors or a plain state dict"
    )
    assert not marker.exists()


# --- network --------------------------------------------------------------------------------------


def test_tests_cannot_open_network_connections(tmp_path):
    with pytest.raises(
        NetworkBlocked, match=r"a test tried to connect to \('192\.0\.2\.1', 443\); tests run offline"
    ):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with socket.socket(socket.AF_INET) as sock, pytest.raises(NetworkBlocked):
        sock.connect_ex(("127.0.0.1", 9))
    path = str(tmp_path / "s")  # Unix-domain sockets stay usable
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)
