"""Hostile and broken dataset folders and texts (issue 14, round two).

A huge text is tokenized through a bounded prefix, and still counted as truncated.
"""

import datasets
import pytest
from transformers import AutoTokenizer

from harness.approaches.finetune import FineTune
from harness.inference import encode
from harness.overview import token_lengths

from .conftest import LABELS

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
    estimator = FineTune(labels=LABELS)
    estimator.tokenizer_, estimator.max_length_ = counting, 64
    tokenized = estimator._tokenized(["i feel sad", HUGE], [0, 1])
    assert tokenized["input_ids"][0] == tokenizer("i feel sad")["input_ids"]
    assert tokenized["input_ids"][1] == tokenizer(HUGE[:2000], truncation=True, max_length=64)["input_ids"]
    assert counting.chars < 50_000
