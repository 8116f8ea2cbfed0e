"""Shared test fixtures: tiny local checkpoints and small generated datasets; the hub stays offline."""

from __future__ import annotations

import os
import random

# No test may reach the hub: a forgotten hub call fails loudly instead of hanging.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest  # noqa: E402
from _pytest import pytester as _pytester  # noqa: E402

# pytester's in-process runs drop the modules they imported. Libraries that register process-wide state
# once per import (datasets: pyarrow extension types; torch: operators and compile-cache artifacts the ONNX
# exporter loads on first use; onnx: its extension module) then fail, or abort, when a later run imports
# them again. Kept across those runs, they are imported once per test process whatever the test order.
PROCESS_WIDE = {"datasets", "pyarrow", "torch", "onnx", "onnxruntime", "onnxscript"}
_Snapshot = _pytester.SysModulesSnapshot


class _KeepProcessWide(_Snapshot):
    def __init__(self, preserve=None):
        super().__init__(lambda name: name.split(".")[0] in PROCESS_WIDE or bool(preserve and preserve(name)))


_pytester.SysModulesSnapshot = _KeepProcessWide

# The module the simulated CPU profiles patch (tests/cpu_profiles.py), imported before any pytester snapshot so
# that no in-process run drops it: a run that imported it first used to leave the harness package pointing at
# its dropped copy, and a later test patched that copy while its pytester run imported an unpatched one.
import harness.engine.inference  # noqa: E402, F401

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
# Each label has its own words, so even a tiny model can learn the task from a few hundred texts.
WORDS = {
    "sadness": ["sad", "lonely", "gloomy", "tears", "miserable"],
    "joy": ["happy", "glad", "cheerful", "delighted", "great"],
    "love": ["love", "adore", "darling", "tender", "sweet"],
    "anger": ["angry", "furious", "mad", "annoyed", "rage"],
    "fear": ["afraid", "scared", "nervous", "terrified", "anxious"],
    "surprise": ["surprised", "amazed", "shocked", "astonished", "wow"],
}
FILLER = ["i", "feel", "so", "today", "really", "am", "quite", "the", "and", "it", "was"]


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Tests never read or write the user's cache: the test session gets an empty one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def session_cpu_profile():
    """``HARNESS_TEST_CPU_PROFILE=<name>`` runs the whole session as on that CPU (tests/cpu_profiles.py)."""
    from .cpu_profiles import PROFILES

    name = os.environ.get("HARNESS_TEST_CPU_PROFILE")
    if not name:
        yield None
        return
    if name not in PROFILES:
        raise pytest.UsageError(f"HARNESS_TEST_CPU_PROFILE={name!r}: expected one of {sorted(PROFILES)}")
    with pytest.MonkeyPatch.context() as patch:
        PROFILES[name].apply(patch)
        yield PROFILES[name]


@pytest.fixture(params=["avx2", "avx512-bf16", "amx-fp16"])
def cpu_profile(request, monkeypatch):
    """The test runs once per simulated CPU (tests/cpu_profiles.py); it gets the profile to expect from."""
    from .cpu_profiles import PROFILES

    profile = PROFILES[request.param]
    profile.apply(monkeypatch)
    return profile


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need CUDA: skipped, with the reason, on a machine without it."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (marked gpu); none on this machine")
        for item in gpu:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch):
    """In-process pytester runs must not append their leaderboards to CI's real job summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def make_examples(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs whose label word decides the class; lengths vary from 3 to 13 words."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 12))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS[label]))
        examples.append((" ".join(words), label))
    return examples


def write_txt(path, examples) -> None:
    path.write_text("".join(f"{text};{label}\n" for text, label in examples), encoding="utf-8")


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
    """An ``emotion``-shaped local dataset: train/validation/test ``.txt`` files."""
    root = tmp_path_factory.mktemp("data") / "tiny-emotion"
    root.mkdir()
    for split, n, seed in (("train", 240, 0), ("validation", 60, 1), ("test", 60, 2)):
        write_txt(root / f"{split}.txt", make_examples(n, seed))
    return root


@pytest.fixture(scope="module")
def data(dataset_dir):
    """``dataset_dir``'s splits as ``{split: (texts, label ids)}``."""
    import numpy as np

    from harness.engine.data import load_local

    dataset = load_local(dataset_dir, LABELS)
    return {s: (list(dataset[s]["text"]), np.asarray(dataset[s]["label"])) for s in dataset}


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    """The tiny checkpoint, resolved."""
    from harness.engine.checkpoints import resolve_checkpoint

    return resolve_checkpoint(str(tiny_checkpoint))


def _build_tokenizer(directory):
    """A BERT-style WordPiece tokenizer whose vocabulary is the generator's words, in sorted order.

    Built from the word list rather than trained, so token ids (and thus every tiny model) are the
    same on every run; letters and ``##`` letters cover any other text.
    """
    import string

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({*FILLER, *(w for ws in WORDS.values() for w in ws)})
    letters = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = specials + words + letters + [f"##{c}" for c in letters]
    tok = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    fast.save_pretrained(directory)
    return fast


def _tiny_config(tokenizer, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A random 2-layer BERT (hidden 32) with a WordPiece tokenizer trained here: a local directory."""
    import torch
    from transformers import BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = _build_tokenizer(directory)
    torch.manual_seed(0)
    BertModel(_tiny_config(tokenizer)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_classifier_checkpoint(tmp_path_factory):
    """A tiny BERT with a 6-way head whose ``id2label`` lists the labels in a shuffled order."""
    import torch
    from transformers import BertForSequenceClassification

    directory = tmp_path_factory.mktemp("tiny-bert-classifier")
    tokenizer = _build_tokenizer(directory)
    head_order = ["joy", "fear", "sadness", "surprise", "anger", "love"]
    torch.manual_seed(0)
    config = _tiny_config(
        tokenizer,
        num_labels=6,
        id2label=dict(enumerate(head_order)),
        label2id={name: i for i, name in enumerate(head_order)},
    )
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory


class NetworkBlocked(RuntimeError):
    """A test tried to open a network connection; tests run offline."""


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Every socket connection but a Unix-domain one fails loudly: no test reaches the network.

    An in-process patch: pytester's in-process runs are covered, subprocesses (a browser) are not.
    """
    import socket

    def guarded(original):
        def connect(sock, address, *args):
            if sock.family != getattr(socket, "AF_UNIX", None):
                raise NetworkBlocked(
                    f"a test tried to connect to {address!r}; tests run offline (tests/conftest.py "
                    "no_network): use local files and fixtures"
                )
            return original(sock, address, *args)

        return connect

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
        patch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
        yield
