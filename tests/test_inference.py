import numpy as np
import torch

from harness.engine.inference import collect, encode, length_sorted_batches, model_max_length, pad


class _Tokenizer:
    """Whitespace tokenizer with [CLS]=1 and [SEP]=2, enough to test batching logic."""

    model_max_length = 10**30

    def __call__(self, texts, truncation=False, max_length=None, verbose=True):
        ids = [[1, *(3 + len(w) for w in t.split()), 2] for t in texts]
        if truncation:
            ids = [x if len(x) <= max_length else x[: max_length - 1] + [2] for x in ids]
        return {"input_ids": ids}


def test_encode_truncates_long_texts_and_counts_them():
    encoded = encode(_Tokenizer(), ["a b", "a b c d e f g h", "x"], max_length=5)
    assert encoded.n_truncated == 1
    assert encoded.input_ids[1] == [1, 4, 4, 4, 2]
    assert encoded.lengths.tolist() == [4, 5, 3]


def test_max_length_ignores_unbounded_tokenizers():
    assert model_max_length(_Tokenizer(), 512) == 512
    bounded = _Tokenizer()
    bounded.model_max_length = 128
    assert model_max_length(bounded, 512) == 128


def test_batches_go_longest_first_and_collect_restores_order():
    lengths = np.array([3, 9, 1, 9, 5])
    batches = length_sorted_batches(lengths, 2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0], [2]]
    restored = collect(((b, {"x": lengths[b][:, None].astype(float)}) for b in batches), len(lengths))
    assert restored["x"][:, 0].tolist() == lengths.tolist()


def test_pad_right_pads_with_a_mask():
    ids, mask = pad([[5, 6, 7], [8]], pad_id=0)
    assert torch.equal(ids, torch.tensor([[5, 6, 7], [8, 0, 0]]))
    assert torch.equal(mask, torch.tensor([[1, 1, 1], [1, 0, 0]]))
